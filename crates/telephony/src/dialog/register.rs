//! REGISTER as a client (RFC 3261 §10) with refresh before expiry and digest retry.

use std::net::SocketAddr;

use super::ua::{CallId, Purpose, UaError, UserAgent, TOKEN_HEX};
use crate::digest::{authorize, select_challenge, Challenge, Credentials};
use crate::sip::{Header, Message, Method, NameAddr, Param, Uri};
use crate::transaction::TxId;

/// A refresh is sent this long before the binding expires (the time a non-INVITE
/// transaction may take, 64*T1), or at half the interval for short ones.
pub const REFRESH_MARGIN_MS: u64 = 32_000;
/// After a timeout or a 5xx, the next attempt comes this much later.
pub const REGISTER_RETRY_MS: u64 = 30_000;

/// A registration handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegId(pub u64);

/// What to register.
#[derive(Debug, Clone)]
pub struct RegistrationRequest {
    /// Request-URI (`sip:registrar.example`).
    pub registrar: Uri,
    /// Address of record (From and To).
    pub aor: NameAddr,
    /// Where to send the REGISTER.
    pub dest: SocketAddr,
    /// Expiry asked for (s).
    pub expires_s: u32,
    /// Credentials for digest challenges.
    pub credentials: Option<Credentials>,
}

/// What happens to a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegEvent {
    /// The registrar accepted the binding for `expires_s` seconds (refreshes report again).
    Registered {
        /// Granted expiry.
        expires_s: u32,
    },
    /// The binding was removed (our `unregister`).
    Unregistered,
    /// Refused or timed out (408). 408 and 5xx are retried after [`REGISTER_RETRY_MS`].
    Failed {
        /// Status code.
        code: u16,
        /// Reason phrase.
        reason: String,
    },
}

/// One registration's state.
#[derive(Debug, Clone)]
pub struct Registration {
    req: RegistrationRequest,
    call_id: String,
    from: NameAddr,
    cseq: u32,
    tx: Option<TxId>,
    refresh_at: Option<u64>,
    challenge: Option<(Challenge, bool)>,
    nc: u32,
    auth_retried: bool,
    unregistering: bool,
    min_expires_retried: bool,
    /// The Contact of our binding (the last REGISTER's).
    contact: Option<NameAddr>,
    /// A REGISTER went again at once this refresh cycle because the registrar saw us at
    /// another address than our Contact (RFC 3581); once per cycle, so a registrar whose
    /// view keeps changing cannot make us loop.
    rebound: bool,
}

impl Registration {
    /// When the next REGISTER is due (none while one is in flight).
    pub(super) fn next_at(&self) -> Option<u64> {
        if self.tx.is_none() {
            self.refresh_at
        } else {
            None
        }
    }

    /// The CSeq of the last REGISTER sent.
    pub fn cseq(&self) -> u32 {
        self.cseq
    }
}

/// The refresh time for a granted expiry.
fn refresh_after_ms(expires_s: u32) -> u64 {
    let ms = u64::from(expires_s) * 1000;
    ms - REFRESH_MARGIN_MS.min(ms / 2)
}

impl UserAgent {
    /// Registers a binding of our Contact and keeps it refreshed.
    pub fn register(&mut self, req: RegistrationRequest, now_ms: u64) -> Result<RegId, UaError> {
        let id = RegId(self.regs.keys().map(|r| r.0).max().unwrap_or(0) + 1);
        let mut from = req.aor.clone();
        from.set_tag(&self.rng.hex(TOKEN_HEX));
        let call_id = format!("{}@{}", self.rng.hex(TOKEN_HEX), self.cfg.local_addr.ip());
        self.regs.insert(
            id,
            Registration {
                req,
                call_id,
                from,
                cseq: 0,
                tx: None,
                refresh_at: None,
                challenge: None,
                nc: 0,
                auth_retried: false,
                unregistering: false,
                min_expires_retried: false,
                contact: None,
                rebound: false,
            },
        );
        self.send_register(id, now_ms)?;
        Ok(id)
    }

    /// Removes the binding (REGISTER with Expires: 0) and stops refreshing.
    pub fn unregister(&mut self, id: RegId, now_ms: u64) -> Result<(), UaError> {
        let r = self
            .regs
            .get_mut(&id)
            .ok_or(UaError::NoCall(CallId(id.0)))?;
        r.unregistering = true;
        r.auth_retried = false;
        if r.tx.is_none() {
            self.send_register(id, now_ms)?;
        }
        Ok(())
    }

    /// A registration's state.
    pub fn registration(&self, id: RegId) -> Option<&Registration> {
        self.regs.get(&id)
    }

    /// The next registration event.
    pub fn poll_registration_event(&mut self) -> Option<(RegId, RegEvent)> {
        self.reg_events.pop_front()
    }

    fn send_register(&mut self, id: RegId, now_ms: u64) -> Result<(), UaError> {
        let transport = self.cfg.transport;
        let mut r = self.regs.remove(&id).ok_or(UaError::NoCall(CallId(id.0)))?;
        let contact = self.contact(r.req.dest);
        let contacts = match r.contact.clone() {
            // Unregistering removes the binding we made, whatever our address now.
            Some(old) if r.unregistering => vec![old],
            // Our address changed: bind the new one, remove the old one (expires=0).
            Some(mut old) if old.uri != contact.uri => {
                old.params
                    .retain(|p| !p.name.eq_ignore_ascii_case("expires"));
                old.params.push(Param::new("expires", "0"));
                vec![contact, old]
            }
            _ => vec![contact],
        };
        r.contact = Some(contacts[0].clone());
        r.cseq += 1;
        let mut m = self.new_request(
            Method::Register,
            r.req.registrar.clone(),
            &r.from,
            &r.req.aor,
            &r.call_id,
            r.cseq,
        );
        m.contact = contacts;
        let expires = if r.unregistering { 0 } else { r.req.expires_s };
        m.other.push(Header {
            name: "Expires".into(),
            value: expires.to_string(),
        });
        if let (Some((c, proxy)), Some(cred)) = (&r.challenge, &r.req.credentials) {
            r.nc += 1;
            let cnonce = self.rng.hex(TOKEN_HEX);
            let uri = r.req.registrar.to_string();
            if let Ok(a) = authorize(c, cred, "REGISTER", &uri, r.nc, &cnonce) {
                m.other.push(Header {
                    name: if *proxy {
                        "Proxy-Authorization"
                    } else {
                        "Authorization"
                    }
                    .into(),
                    value: a.to_string(),
                });
            }
        }
        r.refresh_at = None;
        let res = self.tl.send_request(m, r.req.dest, transport, now_ms);
        if let Ok(tx) = res {
            r.tx = Some(tx);
            self.by_tx.insert(tx, (CallId(id.0), Purpose::Register));
        }
        self.regs.insert(id, r);
        self.process(now_ms);
        res.map(|_| ()).map_err(UaError::from)
    }

    pub(super) fn registration_timers(&mut self, now_ms: u64) {
        let due: Vec<RegId> = self
            .regs
            .iter()
            .filter(|(_, r)| r.next_at().is_some_and(|t| t <= now_ms))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(r) = self.regs.get_mut(&id) {
                r.rebound = false;
            }
            let _ = self.send_register(id, now_ms);
        }
    }

    fn reg_by_tx(&self, tx: TxId) -> Option<RegId> {
        self.regs
            .iter()
            .find(|(_, r)| r.tx == Some(tx))
            .map(|(id, _)| *id)
    }

    pub(super) fn register_timeout(&mut self, tx: TxId, now_ms: u64) {
        let Some(id) = self.reg_by_tx(tx) else { return };
        let r = self.regs.get_mut(&id).expect("found");
        r.tx = None;
        r.refresh_at = Some(now_ms + REGISTER_RETRY_MS);
        self.reg_events.push_back((
            id,
            RegEvent::Failed {
                code: 408,
                reason: "Request Timeout".into(),
            },
        ));
    }

    pub(super) fn register_response(&mut self, tx: TxId, m: &Message, code: u16, now_ms: u64) {
        if code < 200 {
            return;
        }
        let Some(id) = self.reg_by_tx(tx) else { return };
        let now_contact = self.contact(self.regs[&id].req.dest);
        let r = self.regs.get_mut(&id).expect("found");
        let contact = r
            .contact
            .as_ref()
            .map(|c| c.uri.to_string())
            .unwrap_or_default();
        r.tx = None;
        if (200..300).contains(&code) {
            r.auth_retried = false;
            r.min_expires_retried = false;
            if r.unregistering {
                self.regs.remove(&id);
                self.reg_events.push_back((id, RegEvent::Unregistered));
                return;
            }
            // Our binding's expires param, else the Expires header, else what we asked.
            let granted = m
                .contact
                .iter()
                .find(|c| c.uri.to_string() == contact)
                .and_then(|c| c.param("expires")?.parse().ok())
                .or_else(|| m.header_values("Expires").next()?.trim().parse().ok())
                .unwrap_or(r.req.expires_s);
            r.refresh_at = Some(now_ms + refresh_after_ms(granted));
            self.reg_events
                .push_back((id, RegEvent::Registered { expires_s: granted }));
            let moved = r.contact.as_ref().is_some_and(|c| c.uri != now_contact.uri);
            if moved && !r.rebound {
                // The registrar sees us elsewhere (NAT): bind the address it can reach.
                r.rebound = true;
                let _ = self.send_register(id, now_ms);
            }
            return;
        }
        if code == 401 || code == 407 {
            let name = if code == 401 {
                "WWW-Authenticate"
            } else {
                "Proxy-Authenticate"
            };
            if let (Ok(c), Some(_)) = (select_challenge(m.header_values(name)), &r.req.credentials)
            {
                if !r.auth_retried || c.stale {
                    r.auth_retried = true;
                    r.challenge = Some((c, code == 407));
                    r.nc = 0;
                    let _ = self.send_register(id, now_ms);
                    return;
                }
            }
        }
        if code == 423 && !r.min_expires_retried {
            if let Some(min) = m
                .header_values("Min-Expires")
                .next()
                .and_then(|v| v.trim().parse().ok())
            {
                r.min_expires_retried = true;
                r.req.expires_s = min;
                let _ = self.send_register(id, now_ms);
                return;
            }
        }
        if code == 408 || code >= 500 {
            r.refresh_at = Some(now_ms + REGISTER_RETRY_MS);
        }
        let reason = m.response().map(|x| x.reason.clone()).unwrap_or_default();
        self.reg_events
            .push_back((id, RegEvent::Failed { code, reason }));
    }
}
