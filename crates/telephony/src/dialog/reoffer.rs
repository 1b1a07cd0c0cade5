//! Our own re-INVITE (RFC 3261 §14.1): hold (`sendonly`/`inactive`) and resume.

use super::ua::{CallId, DialogEvent, DialogState, Purpose, UaError, UserAgent};
use crate::sdp::{self, Direction};
use crate::sip::{Header, Message, Method};
use crate::transaction::TxId;

impl UserAgent {
    /// Sends a re-INVITE offering our media with `direction`: `SendOnly` puts the other side
    /// on hold, `Inactive` stops media both ways, `SendRecv` resumes. The answer comes as
    /// [`DialogEvent::Reoffered`] or [`DialogEvent::ReofferFailed`].
    pub fn reoffer(
        &mut self,
        call: CallId,
        direction: Direction,
        now_ms: u64,
    ) -> Result<(), UaError> {
        let mut d = self.dialogs.remove(&call).ok_or(UaError::NoCall(call))?;
        let problem = if d.state != DialogState::Confirmed {
            Some("re-INVITE needs a confirmed dialog")
        } else if d.reoffer_tx.is_some() || d.pending_2xx.is_some() {
            Some("an INVITE transaction of this dialog is pending")
        } else if d.media.is_none() {
            Some("no local media to offer")
        } else {
            None
        };
        if let Some(p) = problem {
            self.dialogs.insert(call, d);
            return Err(UaError::BadState(call, p));
        }
        let media = d.media.as_mut().expect("checked");
        media.session_version += 1;
        let body = sdp::offer(media, direction);
        let (mut m, dest) = self.in_dialog_request(&mut d, Method::Invite);
        m.contact = vec![self.contact(d.peer)];
        m.content_type = Some("application/sdp".into());
        m.body = body;
        let transport = d.transport;
        let res = self.tl.send_request(m, dest, transport, now_ms);
        if let Ok(tx) = res {
            d.reoffer_tx = Some(tx);
            self.by_tx.insert(tx, (call, Purpose::Reoffer));
        }
        self.dialogs.insert(call, d);
        self.process(now_ms);
        res.map(|_| ()).map_err(UaError::from)
    }

    pub(super) fn reoffer_response(
        &mut self,
        call: CallId,
        tx: TxId,
        m: &Message,
        code: u16,
        now_ms: u64,
    ) {
        if code < 200 {
            return;
        }
        let Some(mut d) = self.dialogs.remove(&call) else {
            return;
        };
        if code >= 300 {
            if d.reoffer_tx == Some(tx) {
                d.reoffer_tx = None;
            }
            self.dialogs.insert(call, d);
            let reason = m.response().map(|r| r.reason.clone()).unwrap_or_default();
            return self.emit(call, DialogEvent::ReofferFailed { code, reason });
        }
        // The ACK of the 2xx (and of its retransmissions): the re-INVITE's CSeq.
        let mut ack = self.new_request(
            Method::Ack,
            d.remote_target.clone(),
            &d.local,
            &d.remote,
            &d.call_id,
            m.cseq.seq,
        );
        ack.route = d.route_set.clone();
        let dest = match d.route_set.first() {
            Some(r) => super::ua::resolve(&r.uri, d.peer),
            None => super::ua::resolve(&d.remote_target, d.peer),
        };
        let first = d.reoffer_tx == Some(tx);
        if !first {
            // A retransmitted 2xx: the ACK we sent for it again.
            if let Some((a, dst)) = d.ack.clone() {
                self.tl.send_stateless(a, dst, d.transport);
            }
            self.dialogs.insert(call, d);
            return;
        }
        d.reoffer_tx = None;
        ack.other = Vec::<Header>::new();
        self.tl.send_stateless(ack.clone(), dest, d.transport);
        d.ack = Some((ack, dest));
        if let Some(c) = m.contact.first() {
            d.remote_target = c.uri.clone();
        }
        let answer = sdp::read_answer(&m.body);
        self.dialogs.insert(call, d);
        match answer {
            Ok(n) => {
                self.dialogs.get_mut(&call).expect("inserted").negotiated = Some(n.clone());
                self.emit(call, DialogEvent::Reoffered(n));
            }
            Err(e) => {
                self.emit(
                    call,
                    DialogEvent::ReofferFailed {
                        code: e.status_code(),
                        reason: e.to_string(),
                    },
                );
                let _ = self.send_bye(call, now_ms);
            }
        }
    }
}
