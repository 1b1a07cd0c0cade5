//! Digest authentication of inbound INVITEs (RFC 3261 §22.2, RFC 8760): with
//! [`UserAgent::set_invite_auth`] an INVITE outside a dialog must carry an `Authorization`
//! that [`DigestServer`] accepts, else it gets `401 Unauthorized` with one
//! `WWW-Authenticate` challenge per configured algorithm (`stale=true` when the nonce
//! expired but the password was right).

use super::ua::{UserAgent, TOKEN_HEX};
use crate::digest::{DigestServer, Verdict};
use crate::sip::{Header, Message};
use crate::transaction::TxId;

impl UserAgent {
    /// Requires digest credentials on inbound INVITEs (users and realm from config);
    /// `None` accepts every INVITE (the default).
    pub fn set_invite_auth(&mut self, auth: Option<DigestServer>) {
        self.invite_auth = auth;
    }

    /// Checks the INVITE's credentials: `Some(Some(username))` when accepted,
    /// `Some(None)` when no authentication is configured; otherwise the 401 is sent and
    /// `None` returned.
    pub(super) fn authorize_invite(
        &mut self,
        tx: TxId,
        m: &Message,
        now_ms: u64,
    ) -> Option<Option<String>> {
        let Some(auth) = self.invite_auth.as_mut() else {
            return Some(None);
        };
        let uri = m.request().expect("a request").uri.to_string();
        let mut stale = false;
        for value in m.header_values("Authorization") {
            match auth.verify(value, "INVITE", &uri, now_ms) {
                Verdict::Accepted { username } => return Some(Some(username)),
                Verdict::Stale => stale = true,
                Verdict::Rejected(_) => {}
            }
        }
        let mut r = Message::response_to(m, 401, "Unauthorized");
        r.to.set_tag(&self.rng.hex(TOKEN_HEX));
        for c in auth.challenge(&mut *self.rng, now_ms, stale) {
            r.other.push(Header {
                name: "WWW-Authenticate".into(),
                value: c.to_string(),
            });
        }
        let _ = self.tl.send_response(tx, r, now_ms);
        None
    }
}
