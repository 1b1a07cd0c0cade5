//! A registrar for clients registering to Tympan (RFC 3261 §10.3), authenticated with
//! digest against configured credentials ([`DigestServer`]).

use std::collections::HashMap;

use super::ua::{UserAgent, ALLOW};
use crate::digest::{DigestServer, Verdict};
use crate::sip::{Header, Message, NameAddr, Param, Uri};
use crate::transaction::TxId;

/// Longest binding we grant (s); longer requests are shortened.
pub const MAX_REGISTER_EXPIRES_S: u32 = 3600;
/// Expiry when the request names none (s).
pub const DEFAULT_REGISTER_EXPIRES_S: u32 = 3600;
/// Most contacts one address of record may bind.
pub const MAX_BINDINGS_PER_AOR: usize = 16;

/// One registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The contact URI.
    pub contact: Uri,
    /// When it lapses (ms, the caller's clock).
    pub expires_at_ms: u64,
}

/// The registrar: digest server and bindings by user.
#[derive(Debug, Clone)]
pub struct Registrar {
    auth: DigestServer,
    bindings: HashMap<String, Vec<Binding>>,
}

fn aor_user(u: &Uri) -> Option<String> {
    u.as_sip().and_then(|s| s.user.clone())
}

impl UserAgent {
    /// Accepts REGISTER from clients authenticating against `auth` (users and realm from
    /// config). Without a registrar, REGISTER gets 405.
    pub fn set_registrar(&mut self, auth: DigestServer) {
        self.registrar = Some(Registrar {
            auth,
            bindings: HashMap::new(),
        });
    }

    /// The live contacts registered for `user` at `now_ms`.
    pub fn lookup(&self, user: &str, now_ms: u64) -> Vec<Uri> {
        self.registrar
            .as_ref()
            .and_then(|r| r.bindings.get(user))
            .map(|b| {
                b.iter()
                    .filter(|b| b.expires_at_ms > now_ms)
                    .map(|b| b.contact.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn incoming_register(&mut self, tx: TxId, m: &Message, now_ms: u64) {
        let uri = m.request().expect("a request").uri.to_string();
        let reg = self.registrar.as_mut().expect("checked by the caller");
        let verdict = m
            .header_values("Authorization")
            .next()
            .map(|a| reg.auth.verify(a, "REGISTER", &uri, now_ms));
        let user = match verdict {
            Some(Verdict::Accepted { username }) => username,
            other => {
                let stale = other == Some(Verdict::Stale);
                let mut r = Message::response_to(m, 401, "Unauthorized");
                r.to.set_tag(&self.rng.hex(super::ua::TOKEN_HEX));
                for c in reg.auth.challenge(&mut *self.rng, now_ms, stale) {
                    r.other.push(Header {
                        name: "WWW-Authenticate".into(),
                        value: c.to_string(),
                    });
                }
                let _ = self.tl.send_response(tx, r, now_ms);
                return;
            }
        };
        // A user registers its own address of record only.
        if aor_user(&m.to.uri).as_deref() != Some(user.as_str()) {
            return self.reply(tx, m, 403, now_ms);
        }
        let header_expires: Option<u32> = m
            .header_values("Expires")
            .next()
            .and_then(|v| v.trim().parse().ok());
        let list = reg.bindings.entry(user).or_default();
        list.retain(|b| b.expires_at_ms > now_ms);
        for c in &m.contact {
            let asked = c
                .param("expires")
                .and_then(|v| v.parse().ok())
                .or(header_expires)
                .unwrap_or(DEFAULT_REGISTER_EXPIRES_S)
                .min(MAX_REGISTER_EXPIRES_S);
            list.retain(|b| b.contact != c.uri);
            if asked > 0 && list.len() < MAX_BINDINGS_PER_AOR {
                list.push(Binding {
                    contact: c.uri.clone(),
                    expires_at_ms: now_ms + u64::from(asked) * 1000,
                });
            }
        }
        let mut r = Message::response_to(m, 200, "OK");
        r.to.set_tag(&self.rng.hex(super::ua::TOKEN_HEX));
        for b in list.iter() {
            let mut c = NameAddr::new(b.contact.clone());
            let left = (b.expires_at_ms - now_ms).div_ceil(1000);
            c.params.push(Param::new("expires", left.to_string()));
            r.contact.push(c);
        }
        r.other.push(Header {
            name: "Allow".into(),
            value: ALLOW.into(),
        });
        let _ = self.tl.send_response(tx, r, now_ms);
    }
}
