//! `tympan tones FILE`: call-progress tones (dial, ringback, busy, reorder, SIT, fax) and beeps.

use super::mono::{round_ms, MonoStream};
use clap::Args;
use std::path::PathBuf;
use tympan_audio::beep::{self, BeepConfig, BeepDetector};
use tympan_audio::tones::{self, CallProgressConfig, CallProgressDetector, Detection};

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

/// The merged detections as printed (times rounded to 0.1 ms, levels to 0.1 dB).
fn report(detections: Vec<Detection>) -> Vec<Event> {
    detections
        .into_iter()
        .map(|d| match d {
            Detection::Beep(b) => Event {
                kind: "beep",
                start_ms: round_ms(b.start_ms),
                end_ms: round_ms(b.end_ms),
                frequencies_hz: b.frequencies_hz,
                level_dbm0: Some((b.level_db * 10.0).round() / 10.0),
            },
            Detection::Tone(t) => Event {
                kind: t.kind.as_str(),
                start_ms: round_ms(t.start_ms),
                end_ms: round_ms(t.end_ms),
                frequencies_hz: t.frequencies_hz,
                level_dbm0: None,
            },
        })
        .collect()
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
        events: report(tones::merge_tones_and_beeps(tone_events, beep_events)),
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
