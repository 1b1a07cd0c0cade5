//! Calls as people read them in a terminal (`tympan calls list|show`): the history in the
//! store, rendered as text tables and timelines. The JSON forms are the API's
//! (`GET /v1/calls`, `GET /v1/calls/{id}`).

use crate::registry::CallRecord;
use serde_json::Value;
use std::fmt::Write as _;
use std::sync::Arc;
use tympan_store::{CallFilter, CallRow, Store};

/// Longest text of one SIP message shown by `show` (the whole message is in `--json`).
pub const SHOW_SIP_FIRST_LINE: usize = 100;

/// A call from the store as `GET /v1/calls/{id}` shows it; `None` when unknown.
pub async fn load_call(
    store: &Arc<dyn Store>,
    call_id: &str,
) -> Result<Option<CallRecord>, tympan_store::StoreError> {
    Ok(store.get_call(call_id).await?.map(CallRecord::from_detail))
}

/// Calls newest first, following the store's cursors up to `limit` calls.
pub async fn list_calls(
    store: &Arc<dyn Store>,
    mut filter: CallFilter,
    limit: usize,
) -> Result<Vec<CallRow>, tympan_store::StoreError> {
    let mut out = Vec::new();
    loop {
        filter.limit =
            Some(((limit - out.len()).min(tympan_store::MAX_LIST_LIMIT as usize)) as u32);
        let page = store.list_calls(&filter).await?;
        out.extend(page.calls);
        match page.next_cursor {
            Some(c) if out.len() < limit => filter.cursor = Some(c),
            _ => break,
        }
    }
    out.truncate(limit);
    Ok(out)
}

fn utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let tod = secs.rem_euclid(86_400);
    let day = tympan_speech::answers::Date::from_days_since_epoch(secs.div_euclid(86_400))
        .map(|d| d.to_string())
        .unwrap_or_else(|| "?".into());
    format!(
        "{day} {:02}:{:02}:{:02}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

/// One line per call: id, platform, state, start, duration, verdict.
pub fn render_list(calls: &[CallRow]) -> String {
    let mut out = String::new();
    let w = calls
        .iter()
        .map(|c| c.call_id.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let _ = writeln!(
        out,
        "{:<w$}  {:<11}  {:<6}  {:<20}  {:>9}  ANSWERED_BY",
        "CALL_ID", "PLATFORM", "STATE", "STARTED", "AUDIO_S"
    );
    for c in calls {
        let _ = writeln!(
            out,
            "{:<w$}  {:<11}  {:<6}  {:<20}  {:>9.1}  {}",
            c.call_id,
            c.platform,
            c.state.as_str(),
            utc(c.started_at),
            c.audio_ms as f64 / 1000.0,
            c.answered_by.as_deref().unwrap_or("-")
        );
    }
    out
}

/// The fields of an event worth a glance, as `key=value` (its type and times left out).
fn event_details(e: &Value) -> String {
    let Some(o) = e.as_object() else {
        return String::new();
    };
    let mut parts = Vec::new();
    for (k, v) in o {
        if matches!(
            k.as_str(),
            "type" | "call_id" | "at_ms" | "seq" | "uuids" | "platform"
        ) {
            continue;
        }
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        let text: String = if text.chars().count() > 80 {
            text.chars().take(77).chain("...".chars()).collect()
        } else {
            text
        };
        parts.push(format!("{k}={text}"));
    }
    parts.join(" ")
}

/// A call's record as text: summary, events timeline, actions, SIP ladder.
pub fn render_call(rec: &CallRecord) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "call {}", rec.call_id);
    let _ = writeln!(
        out,
        "  platform {}  state {}  rate {} Hz  audio {:.1} s",
        rec.platform,
        rec.state,
        rec.sample_rate,
        rec.audio_ms as f64 / 1000.0
    );
    let _ = writeln!(
        out,
        "  started {}  ended {}",
        utc(rec.started_at),
        rec.ended_at.map(utc).unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(
        out,
        "  answered_by {}",
        rec.answered_by.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        out,
        "\nevents ({}{})",
        rec.events.len(),
        if rec.events_dropped > 0 {
            format!(", {} dropped", rec.events_dropped)
        } else {
            String::new()
        }
    );
    for e in &rec.events {
        let at = e.get("at_ms").and_then(Value::as_u64);
        let _ = writeln!(
            out,
            "  {:>9}  {:<16}  {}",
            at.map(|ms| format!("{:.2}s", ms as f64 / 1000.0))
                .unwrap_or_default(),
            e.get("type").and_then(Value::as_str).unwrap_or("?"),
            event_details(e)
        );
    }
    if !rec.actions.is_empty() {
        let _ = writeln!(out, "\nactions ({})", rec.actions.len());
        for a in &rec.actions {
            let _ = writeln!(out, "  {}", event_details(a));
        }
    }
    if !rec.sip_trace.is_empty() {
        let _ = writeln!(out, "\nSIP ({} messages)", rec.sip_trace.len());
        let t0 = rec.sip_trace[0]
            .get("at_ms")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        for m in &rec.sip_trace {
            let at = m.get("at_ms").and_then(Value::as_i64).unwrap_or(t0) - t0;
            let sent = m.get("direction").and_then(Value::as_str) == Some("sent");
            let peer = m.get("peer").and_then(Value::as_str).unwrap_or("?");
            let line: String = m
                .get("first_line")
                .and_then(Value::as_str)
                .unwrap_or("")
                .chars()
                .take(SHOW_SIP_FIRST_LINE)
                .collect();
            let _ = writeln!(
                out,
                "  {:>8.3}s  {} {:<21}  {}",
                at as f64 / 1000.0,
                if sent { "-->" } else { "<--" },
                peer,
                line
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00Z");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(utc(1_796_083_200_000 + 3_723_000), "2026-12-01 01:02:03Z");
    }

    #[test]
    fn a_call_reads_as_a_timeline_and_a_ladder() {
        let mut rec = CallRecord::new("c-1".into(), "sip", 8000, 1_796_083_200_000);
        rec.answered_by = Some("machine_end_beep".into());
        rec.audio_ms = 12_340;
        rec.events = vec![
            json!({"type": "call_start", "call_id": "c-1", "at_ms": 0, "seq": 1}),
            json!({"type": "dtmf", "call_id": "c-1", "at_ms": 4200, "digit": "5", "source": "rfc4733"}),
        ];
        rec.sip_trace = vec![
            json!({"idx": 0, "at_ms": 1000, "direction": "received", "peer": "127.0.0.1:5062", "first_line": "INVITE sip:a@b SIP/2.0"}),
            json!({"idx": 1, "at_ms": 1004, "direction": "sent", "peer": "127.0.0.1:5062", "first_line": "SIP/2.0 200 OK"}),
        ];
        let text = render_call(&rec);
        assert!(text.contains("answered_by machine_end_beep"), "{text}");
        assert!(text.contains("audio 12.3 s"), "{text}");
        let dtmf = text.lines().find(|l| l.contains("dtmf")).unwrap();
        assert!(dtmf.contains("4.20s") && dtmf.contains("digit=5"), "{dtmf}");
        assert!(!dtmf.contains("call_id="), "{dtmf}");
        let ok = text.lines().find(|l| l.contains("200 OK")).unwrap();
        assert!(ok.contains("0.004s") && ok.contains("-->"), "{ok}");
        assert!(text
            .lines()
            .any(|l| l.contains("<--") && l.contains("INVITE")));
    }
}
