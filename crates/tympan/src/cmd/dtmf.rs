//! `tympan dtmf FILE`: DTMF digits in a recording.

use super::mono::{round_ms, MonoStream};
use clap::Args;
use std::path::PathBuf;
use tympan_audio::dtmf::{DtmfConfig, DtmfDetector, DtmfEvent, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};

/// Rate the audio is resampled to when the detector does not take the file's rate.
const FALLBACK_RATE: u32 = 8000;

#[derive(Args)]
pub struct DtmfArgs {
    /// Input audio file (any supported format). Streamed block by block, so length is not
    /// limited; channels are averaged; rates outside 4000..=192000 Hz are resampled to 8000 Hz.
    pub file: PathBuf,
    /// Print JSON: {"digits": "...", "events": [{"digit", "start_ms", "end_ms"}]}.
    #[arg(long)]
    pub json: bool,
}

#[derive(serde::Serialize)]
struct Event {
    digit: String,
    start_ms: f64,
    end_ms: f64,
}

#[derive(serde::Serialize)]
struct Report {
    digits: String,
    events: Vec<Event>,
}

/// Run the detector over the whole file.
fn detect(stream: &mut MonoStream) -> anyhow::Result<Vec<DtmfEvent>> {
    let mut det = DtmfDetector::new(stream.rate(), DtmfConfig::default())?;
    let mut events = Vec::new();
    while let Some(block) = stream.next_block()? {
        events.extend(det.push(&block));
    }
    events.extend(det.flush());
    Ok(events)
}

pub fn run(a: DtmfArgs) -> anyhow::Result<()> {
    let mut stream = MonoStream::open(
        &a.file,
        |r| (MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&r),
        FALLBACK_RATE,
    )?;
    let events = detect(&mut stream)?;
    let report = Report {
        digits: events.iter().map(|e| e.digit).collect(),
        events: events
            .iter()
            .map(|e| Event {
                digit: e.digit.to_string(),
                start_ms: round_ms(e.start_ms),
                end_ms: round_ms(e.end_ms),
            })
            .collect(),
    };
    if a.json {
        return super::print_json(&report);
    }
    println!("file:   {}", a.file.display());
    if let Some(note) = stream.resampling_note() {
        println!("rate:   {note}");
    }
    println!("digits: {}", report.digits);
    for e in &report.events {
        println!(
            "  {}  {:>10.1} - {:>10.1} ms",
            e.digit, e.start_ms, e.end_ms
        );
    }
    Ok(())
}
