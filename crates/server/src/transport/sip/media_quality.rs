//! RTCP figures of a SIP call's media ([`tympan_telephony::rtp::quality::Quality`]) as the
//! call record's `media_quality` object, the `media_quality` event stored with the call, and
//! the `tympan_rtcp_*` metrics.

use crate::metrics::RtpMetrics;
use crate::registry::{lock, LiveCall};
use crate::AppState;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tympan_telephony::rtp::quality::{Quality, StreamQuality};

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_S: u64 = 2_208_988_800;

/// The wall clock as a 64-bit NTP timestamp (RFC 3550 §4), for SRs and round-trip times.
pub(crate) fn ntp_now() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    ((d.as_secs() + NTP_UNIX_OFFSET_S) << 32) | frac
}

fn stream(s: &StreamQuality) -> Value {
    json!({
        "fraction_lost": s.fraction_lost,
        "cumulative_lost": s.cumulative_lost,
        "jitter_ms": s.jitter_ms,
        "extended_highest_seq": s.extended_highest_seq,
    })
}

/// The record's `media_quality` object.
pub(crate) fn quality_json(q: &Quality) -> Value {
    json!({
        "reports_sent": q.reports_sent,
        "reports_received": q.reports_received,
        "bad_packets": q.bad_packets,
        "remote_ssrc": q.remote_ssrc,
        "remote_cname": q.remote_cname,
        "remote": q.remote.as_ref().map(stream),
        "local": q.local.as_ref().map(|s| {
            let mut v = stream(s);
            v["packets_received"] = json!(q.packets_received);
            v
        }),
        "rtt_ms": q.rtt_ms,
        "remote_packets_sent": q.remote_packets_sent,
        "bye_received": q.bye_received,
    })
}

/// Keeps a call's record and the metrics up to date with its RTCP figures.
pub(crate) struct QualityReporter {
    state: Arc<AppState>,
    /// The call's id (none for early media, which has no record yet).
    call_id: Option<String>,
    live: Option<Arc<LiveCall>>,
    /// What was last counted in the metrics (sent, received, bad).
    counted: (u64, u64, u64),
}

impl QualityReporter {
    pub(crate) fn new(state: Arc<AppState>, call_id: Option<String>) -> Self {
        QualityReporter {
            state,
            call_id,
            live: None,
            counted: (0, 0, 0),
        }
    }

    /// After a report went or came: metrics, and the live record's `media_quality`.
    pub(crate) fn update(&mut self, q: &Quality, peer_report: bool) {
        let m = &self.state.metrics.rtp;
        RtpMetrics::add(&m.rtcp_sent, q.reports_sent - self.counted.0);
        RtpMetrics::add(&m.rtcp_received, q.reports_received - self.counted.1);
        RtpMetrics::add(&m.rtcp_bad, q.bad_packets - self.counted.2);
        self.counted = (q.reports_sent, q.reports_received, q.bad_packets);
        if peer_report {
            use std::sync::atomic::Ordering::Relaxed;
            if let Some(rtt) = q.rtt_ms {
                m.rtcp_rtt_us.store((rtt * 1000.0).round() as u64, Relaxed);
            }
            if let Some(r) = &q.remote {
                m.rtcp_jitter_us
                    .store((r.jitter_ms * 1000.0).round() as u64, Relaxed);
                m.rtcp_fraction_lost_ppm
                    .store((r.fraction_lost * 1e6).round() as u64, Relaxed);
            }
        }
        let Some(id) = &self.call_id else { return };
        if self.live.is_none() {
            // The call loop registers the call just after the media task starts.
            self.live = self.state.calls.live(id);
        }
        if let Some(l) = &self.live {
            lock(&l.record).media_quality = Some(quality_json(q));
        }
    }

    /// The media ended: the final figures in the record and as the stored `media_quality`
    /// event (which gives the record its `media_quality` after a restart).
    pub(crate) fn finish(&mut self, q: &Quality) {
        self.update(q, false);
        let Some(id) = &self.call_id else { return };
        let mut v = quality_json(q);
        if let Some(o) = v.as_object_mut() {
            o.insert("type".into(), json!("media_quality"));
            o.insert("call_id".into(), json!(id));
        }
        self.state.publish(id, &v, true);
    }
}
