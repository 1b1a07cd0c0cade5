//! REFER blind transfer (RFC 3515): sending REFER and reading its NOTIFY sipfrag, and
//! the transferee's side (202, then NOTIFYs of the new call's progress).

use super::ua::{CallId, DialogEvent, DialogState, Purpose, UaError, UserAgent};
use crate::sip::{Header, Message, Method, NameAddr, Uri};
use crate::transaction::TxId;

/// Subscription expiry announced in a non-final NOTIFY (s).
pub const REFER_SUBSCRIPTION_S: u32 = 60;

impl UserAgent {
    /// Asks the other side to call `refer_to` (blind transfer). Progress comes as
    /// [`DialogEvent::TransferAccepted`] / `TransferFailed`, then `TransferProgress`.
    pub fn refer(&mut self, call: CallId, refer_to: Uri, now_ms: u64) -> Result<(), UaError> {
        let mut d = self.dialogs.remove(&call).ok_or(UaError::NoCall(call))?;
        if d.state != DialogState::Confirmed {
            self.dialogs.insert(call, d);
            return Err(UaError::BadState(call, "REFER needs a confirmed dialog"));
        }
        let (mut m, dest) = self.in_dialog_request(&mut d, Method::Refer);
        m.contact = vec![self.contact(d.peer)];
        m.other.push(Header {
            name: "Refer-To".into(),
            value: NameAddr::new(refer_to).to_string(),
        });
        m.other.push(Header {
            name: "Referred-By".into(),
            value: NameAddr::new(d.local.uri.clone()).to_string(),
        });
        let transport = d.transport;
        self.dialogs.insert(call, d);
        let tx = self.tl.send_request(m, dest, transport, now_ms)?;
        self.by_tx.insert(tx, (call, Purpose::Refer));
        self.process(now_ms);
        Ok(())
    }

    /// Transferee: reports the progress of the call made for a REFER with a NOTIFY
    /// carrying `SIP/2.0 code reason`; a final code (≥ 200) ends the subscription.
    pub fn notify_transfer(
        &mut self,
        call: CallId,
        code: u16,
        reason: &str,
        now_ms: u64,
    ) -> Result<(), UaError> {
        let mut d = self.dialogs.remove(&call).ok_or(UaError::NoCall(call))?;
        let (mut m, dest) = self.in_dialog_request(&mut d, Method::Notify);
        m.contact = vec![self.contact(d.peer)];
        m.other.push(Header {
            name: "Event".into(),
            value: "refer".into(),
        });
        m.other.push(Header {
            name: "Subscription-State".into(),
            value: if code >= 200 {
                "terminated;reason=noresource".to_string()
            } else {
                format!("active;expires={REFER_SUBSCRIPTION_S}")
            },
        });
        m.content_type = Some("message/sipfrag;version=2.0".into());
        m.body = format!("SIP/2.0 {code} {reason}\r\n").into_bytes();
        let transport = d.transport;
        self.dialogs.insert(call, d);
        let tx = self.tl.send_request(m, dest, transport, now_ms)?;
        self.by_tx.insert(tx, (call, Purpose::Notify));
        self.process(now_ms);
        Ok(())
    }

    pub(super) fn refer_response(&mut self, call: CallId, m: &Message, code: u16) {
        if code < 200 {
            return;
        }
        let e = if code < 300 {
            DialogEvent::TransferAccepted
        } else {
            DialogEvent::TransferFailed {
                code,
                reason: m.response().map(|r| r.reason.clone()).unwrap_or_default(),
            }
        };
        self.emit(call, e);
    }

    pub(super) fn incoming_refer(&mut self, call: CallId, tx: TxId, m: &Message, now_ms: u64) {
        let Some(to) = m.header_values("Refer-To").next() else {
            let mut r = Message::response_to(m, 400, "Missing Refer-To");
            r.to = m.to.clone();
            let _ = self.tl.send_response(tx, r, now_ms);
            return;
        };
        let refer_to = to.trim().trim_start_matches('<');
        let refer_to = refer_to.split('>').next().unwrap_or(refer_to).to_string();
        self.reply(tx, m, 202, now_ms);
        self.emit(call, DialogEvent::TransferRequested { refer_to });
    }

    pub(super) fn incoming_notify(&mut self, call: CallId, tx: TxId, m: &Message, now_ms: u64) {
        let is_refer = m
            .header_values("Event")
            .next()
            .is_some_and(|e| e.trim().split(';').next() == Some("refer"));
        if !is_refer {
            return self.reply(tx, m, 489, now_ms);
        }
        let text = String::from_utf8_lossy(&m.body);
        let status = text.lines().next().and_then(|l| {
            let mut p = l.splitn(3, ' ');
            let (v, c) = (p.next()?, p.next()?);
            (v == "SIP/2.0").then_some(())?;
            Some((
                c.parse::<u16>().ok()?,
                p.next().unwrap_or("").trim().to_string(),
            ))
        });
        let Some((code, reason)) = status else {
            return self.reply(tx, m, 400, now_ms);
        };
        let done = m
            .header_values("Subscription-State")
            .next()
            .is_some_and(|s| s.trim().starts_with("terminated"));
        self.reply(tx, m, 200, now_ms);
        self.emit(call, DialogEvent::TransferProgress { code, reason, done });
    }
}
