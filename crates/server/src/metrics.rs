//! Counters and histograms for `GET /metrics` (Prometheus text format 0.0.4). Updated with
//! relaxed atomics from the call tasks; no lock.

use crate::AppState;
use axum::extract::State;
use axum::response::IntoResponse;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds (seconds) of the decision-latency histogram buckets.
pub const DECISION_BUCKETS_S: [f64; 10] = [0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 30.0];
/// Upper bounds (seconds) of the frame-processing histogram buckets.
pub const FRAME_BUCKETS_S: [f64; 8] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.02,
];

/// A fixed-bucket histogram.
pub struct Histogram<const N: usize> {
    bounds: [f64; N],
    counts: [AtomicU64; N],
    count: AtomicU64,
    /// Sum in microseconds.
    sum_us: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    fn new(bounds: [f64; N]) -> Self {
        Histogram {
            bounds,
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }

    /// Count one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|&b| s <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cum = 0;
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            cum += c.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
        }
        let n = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {n}");
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {n}");
    }
}

/// RTP counters of SIP calls (all calls together), updated by each call's media task.
#[derive(Default)]
pub struct RtpMetrics {
    /// RTP packets received (audio and telephone-event).
    pub received: AtomicU64,
    /// Audio packets that arrived after their frame had played (jitter buffer `Late`).
    pub late: AtomicU64,
    /// Audio packets dropped because the jitter buffer was full.
    pub overflow: AtomicU64,
    /// Audio packets never received (RFC 3550 A.3 expected minus received), counted when a
    /// call's media ends.
    pub lost: AtomicU64,
    /// Decoded frames dropped because the call loop had not taken the previous ones.
    pub frames_dropped: AtomicU64,
    /// Playout ticks (20 ms) that fired more than [`RTP_TICK_LATE_MS`] late.
    pub ticks_late: AtomicU64,
    /// RTCP compounds sent (reports and BYEs).
    pub rtcp_sent: AtomicU64,
    /// RTCP compounds received that parsed.
    pub rtcp_received: AtomicU64,
    /// Datagrams on RTCP ports that did not parse.
    pub rtcp_bad: AtomicU64,
    /// Gauge: the last round-trip time a peer's report gave, µs.
    pub rtcp_rtt_us: AtomicU64,
    /// Gauge: the last interarrival jitter a peer reported about our stream, µs.
    pub rtcp_jitter_us: AtomicU64,
    /// Gauge: the last fraction lost a peer reported about our stream, parts per million.
    pub rtcp_fraction_lost_ppm: AtomicU64,
}

/// A playout tick this much later than its slot counts in `tympan_rtp_ticks_late_total`.
pub const RTP_TICK_LATE_MS: u64 = 20;

impl RtpMetrics {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The server's counters.
pub struct Metrics {
    /// RTP counters of SIP calls.
    pub rtp: RtpMetrics,
    frames: AtomicU64,
    samples: AtomicU64,
    calls_started: AtomicU64,
    events_dropped: AtomicU64,
    /// Wall time from a call's start to its AMD result.
    pub decision: Histogram<10>,
    /// Wall time of one frame's analysis.
    pub frame: Histogram<8>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            rtp: RtpMetrics::default(),
            frames: AtomicU64::new(0),
            samples: AtomicU64::new(0),
            calls_started: AtomicU64::new(0),
            events_dropped: AtomicU64::new(0),
            decision: Histogram::new(DECISION_BUCKETS_S),
            frame: Histogram::new(FRAME_BUCKETS_S),
        }
    }
}

impl Metrics {
    /// One inbound frame of `samples` samples took `took` to analyse.
    pub fn frame_processed(&self, samples: u64, took: Duration) {
        self.frames.fetch_add(1, Ordering::Relaxed);
        self.samples.fetch_add(samples, Ordering::Relaxed);
        self.frame.observe(took);
    }

    /// A call reached its result `wall` after it started (`audio_ms` of audio in).
    pub fn decision(&self, wall: Duration, _audio_ms: u64) {
        self.decision.observe(wall);
    }

    /// A call started.
    pub fn call_started(&self) {
        self.calls_started.fetch_add(1, Ordering::Relaxed);
    }

    /// An events subscriber missed `n` messages.
    pub fn events_dropped(&self, n: u64) {
        self.events_dropped.fetch_add(n, Ordering::Relaxed);
    }

    /// Frames analysed so far.
    pub fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }
}

/// The Prometheus text for `state`.
pub fn render(state: &AppState) -> String {
    let m = &state.metrics;
    let mut out = String::new();
    let mut counter = |name: &str, kind: &str, help: &str, v: u64| {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
        );
    };
    counter(
        "tympan_active_calls",
        "gauge",
        "Calls live now.",
        state.calls.live_count() as u64,
    );
    counter(
        "tympan_calls_started_total",
        "counter",
        "Calls started since the server started.",
        m.calls_started.load(Ordering::Relaxed),
    );
    counter(
        "tympan_frames_processed_total",
        "counter",
        "Inbound audio frames analysed.",
        m.frames(),
    );
    counter(
        "tympan_samples_processed_total",
        "counter",
        "Inbound audio samples analysed.",
        m.samples.load(Ordering::Relaxed),
    );
    counter(
        "tympan_events_dropped_total",
        "counter",
        "Messages /v1/events subscribers missed because they read too slowly.",
        m.events_dropped.load(Ordering::Relaxed),
    );
    counter(
        "tympan_history_bytes",
        "gauge",
        "Bytes of JSON held in memory for recently ended calls (the store holds the history).",
        state.calls.history_bytes() as u64,
    );
    let w = state.writer.metrics();
    counter(
        "tympan_store_write_lag_ms",
        "gauge",
        "Age of the oldest row not yet committed to the store, ms (0 when none).",
        w.write_lag_ms,
    );
    counter(
        "tympan_store_queue_rows",
        "gauge",
        "Rows accepted by the store writer and not yet committed.",
        w.queued,
    );
    counter(
        "tympan_store_rows_written_total",
        "counter",
        "Rows committed to the store.",
        w.written,
    );
    counter(
        "tympan_store_writes_dropped_total",
        "counter",
        "Rows the store writer refused (queue full or shut down); never written.",
        w.dropped,
    );
    counter(
        "tympan_store_writes_failed_total",
        "counter",
        "Rows whose batch failed to commit after the writer's retries.",
        w.failed,
    );
    let rtp = &m.rtp;
    for (name, help, c) in [
        (
            "tympan_rtp_packets_received_total",
            "RTP packets received on SIP calls.",
            &rtp.received,
        ),
        (
            "tympan_rtp_packets_late_total",
            "RTP audio packets that arrived after their frame had played out.",
            &rtp.late,
        ),
        (
            "tympan_rtp_packets_overflow_total",
            "RTP audio packets dropped because the jitter buffer was full.",
            &rtp.overflow,
        ),
        (
            "tympan_rtp_packets_lost_total",
            "RTP audio packets never received (counted when a call's media ends).",
            &rtp.lost,
        ),
        (
            "tympan_rtp_frames_dropped_total",
            "Decoded RTP frames dropped because the call loop was behind.",
            &rtp.frames_dropped,
        ),
        (
            "tympan_rtp_ticks_late_total",
            "20 ms RTP playout ticks that fired more than 20 ms late.",
            &rtp.ticks_late,
        ),
    ] {
        counter(name, "counter", help, c.load(Ordering::Relaxed));
    }
    for (name, kind, help, c) in [
        (
            "tympan_rtcp_reports_sent_total",
            "counter",
            "RTCP compounds (SR/RR + SDES, BYE) sent on SIP calls.",
            &rtp.rtcp_sent,
        ),
        (
            "tympan_rtcp_reports_received_total",
            "counter",
            "RTCP compounds received from SIP peers.",
            &rtp.rtcp_received,
        ),
        (
            "tympan_rtcp_bad_packets_total",
            "counter",
            "Datagrams on RTCP ports that did not parse as RTCP.",
            &rtp.rtcp_bad,
        ),
        (
            "tympan_rtcp_last_round_trip_us",
            "gauge",
            "Round-trip time from the last peer report with LSR/DLSR (any call), microseconds.",
            &rtp.rtcp_rtt_us,
        ),
        (
            "tympan_rtcp_last_jitter_us",
            "gauge",
            "Interarrival jitter of our RTP in the last peer report (any call), microseconds.",
            &rtp.rtcp_jitter_us,
        ),
        (
            "tympan_rtcp_last_fraction_lost_ppm",
            "gauge",
            "Fraction of our RTP lost in the last peer report (any call), parts per million.",
            &rtp.rtcp_fraction_lost_ppm,
        ),
    ] {
        counter(name, kind, help, c.load(Ordering::Relaxed));
    }
    m.decision.render(
        "tympan_decision_seconds",
        "Wall time from a call's start to its AMD result.",
        &mut out,
    );
    m.frame.render(
        "tympan_frame_processing_seconds",
        "Wall time to analyse one inbound frame.",
        &mut out,
    );
    out
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "open",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative() {
        let h = Histogram::new([0.1, 1.0]);
        h.observe(Duration::from_millis(50));
        h.observe(Duration::from_millis(500));
        h.observe(Duration::from_secs(5));
        let mut s = String::new();
        h.render("x", "help", &mut s);
        assert!(s.contains("x_bucket{le=\"0.1\"} 1\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"1\"} 2\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 3\n"), "{s}");
        assert!(s.contains("x_count 3\n"), "{s}");
        assert!(s.contains("x_sum 5.55\n"), "{s}");
    }
}
