//! `tympan tones FILE`: call-progress tones (dial, ringback, busy, reorder, SIT, fax) and beeps.

use super::mono::{round_ms, MonoStream};
use clap::Args;
use std::path::PathBuf;
use tympan_audio::beep::{self, BeepConfig, BeepDetector, BeepEvent};
use tympan_audio::tones::{self, CallProgressConfig, CallProgressDetector, ToneEvent, ToneKind};

/// Rate the audio is resampled to when the detectors do not take the file's rate.
const FALLBACK_RATE: u32 = 8000;

#[derive(Args)]
pub struct TonesArgs {
    /// Input audio file (any supported format). Streamed block by block, so length is not
    /// limited; channels are averaged; rates outside 8000..=48000 Hz are resampled to 8000 Hz.
    ///
    /// A beep lying mostly inside a SIT or fax tone is that tone's single-frequency part and
    /// is not listed again as a beep.
    pub file: PathBuf,
    /// Print JSON: {"events": [{"kind", "start_ms", "end_ms", "frequencies_hz", "level_dbm0"?}]},
    /// sorted by start; kind is dial_tone, ringback, busy, reorder, sit, fax_cng, fax_ced or
    /// beep (only beeps have level_dbm0).
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Event {
    kind: &'static str,
    start_ms: f64,
    end_ms: f64,
    frequencies_hz: Vec<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    level_dbm0: Option<f32>,
}

#[derive(serde::Serialize)]
struct Report {
    events: Vec<Event>,
}

fn kind_name(k: ToneKind) -> &'static str {
    match k {
        ToneKind::DialTone => "dial_tone",
        ToneKind::Ringback => "ringback",
        ToneKind::Busy => "busy",
        ToneKind::Reorder => "reorder",
        ToneKind::Sit => "sit",
        ToneKind::FaxCng => "fax_cng",
        ToneKind::FaxCed => "fax_ced",
    }
}

/// True if more than half of the beep lies inside a single-frequency call-progress tone
/// (SIT, fax CNG/CED): the beep detector sees those too, and the specific name wins.
fn part_of_tone(b: &BeepEvent, tones: &[ToneEvent]) -> bool {
    let len = (b.end_ms - b.start_ms).max(1e-9);
    tones.iter().any(|t| {
        matches!(t.kind, ToneKind::Sit | ToneKind::FaxCng | ToneKind::FaxCed) && {
            let overlap = b.end_ms.min(t.end_ms) - b.start_ms.max(t.start_ms);
            overlap > 0.5 * len
        }
    })
}

/// Merge both detectors' events into one list sorted by start time.
fn merge(tones: Vec<ToneEvent>, beeps: Vec<BeepEvent>) -> Vec<Event> {
    let mut out: Vec<Event> = beeps
        .iter()
        .filter(|b| !part_of_tone(b, &tones))
        .map(|b| Event {
            kind: "beep",
            start_ms: round_ms(b.start_ms),
            end_ms: round_ms(b.end_ms),
            frequencies_hz: b.frequencies_hz.clone(),
            level_dbm0: Some((b.level_db * 10.0).round() / 10.0),
        })
        .collect();
    out.extend(tones.into_iter().map(|t| Event {
        kind: kind_name(t.kind),
        start_ms: round_ms(t.start_ms),
        end_ms: round_ms(t.end_ms),
        frequencies_hz: t.frequencies_hz,
        level_dbm0: None,
    }));
    out.sort_by(|a, b| a.start_ms.total_cmp(&b.start_ms));
    out
}

pub fn run(a: TonesArgs) -> anyhow::Result<()> {
    let accepts = |r: u32| tones::SAMPLE_RATES.contains(&r) && beep::SAMPLE_RATES.contains(&r);
    let mut stream = MonoStream::open(&a.file, accepts, FALLBACK_RATE)?;
    let rate = stream.rate();
    let mut cp = CallProgressDetector::new(rate, CallProgressConfig::default())?;
    let mut bd = BeepDetector::new(rate, BeepConfig::default())?;
    let (mut tone_events, mut beep_events) = (Vec::new(), Vec::new());
    while let Some(block) = stream.next_block()? {
        tone_events.extend(cp.push(&block));
        beep_events.extend(bd.push(&block));
    }
    tone_events.extend(cp.flush());
    beep_events.extend(bd.flush());
    let report = Report {
        events: merge(tone_events, beep_events),
    };
    if a.json {
        return super::print_json(&report);
    }
    println!("file: {}", a.file.display());
    if let Some(note) = stream.resampling_note() {
        println!("rate: {note}");
    }
    if report.events.is_empty() {
        println!("no tones or beeps found");
    }
    for e in &report.events {
        let freqs: Vec<String> = e.frequencies_hz.iter().map(|f| format!("{f:.1}")).collect();
        let level = e
            .level_dbm0
            .map_or(String::new(), |l| format!("  {l:.1} dBm0"));
        println!(
            "  {:<10} {:>10.1} - {:>10.1} ms  {} Hz{level}",
            e.kind,
            e.start_ms,
            e.end_ms,
            freqs.join(" + ")
        );
    }
    Ok(())
}
