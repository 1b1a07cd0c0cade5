//! Run the detector over every `*.wav` in a folder, as `tympan amd bench` does (default config,
//! 20 ms chunks, `detect_message_end`), without the server's dependencies: a quick build for
//! instruction counts with
//! `valgrind --tool=callgrind target/release/examples/detect_dir DIR`.

use tympan_amd::{eval, AmdConfig, Mode};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: detect_dir DIR");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("readable folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")))
        .collect();
    files.sort();
    let (mut audio_s, mut beeps) = (0.0, 0);
    let mut verdicts = std::collections::BTreeMap::new();
    for f in &files {
        let audio = tympan_audio::decode::read_file(f).expect("decodable WAV");
        audio_s += audio.duration_s();
        let cfg = AmdConfig {
            sample_rate: audio.sample_rate,
            mode: Mode::DetectMessageEnd,
            ..AmdConfig::default()
        };
        let (result, events) =
            eval::detect(&cfg, &audio.downmix(), (audio.sample_rate / 50) as usize);
        beeps += events
            .iter()
            .filter(|e| matches!(e, tympan_amd::AmdEvent::Beep { .. }))
            .count();
        *verdicts.entry(result.answered_by.as_str()).or_insert(0) += 1;
    }
    println!(
        "{} files, {audio_s:.1} s, {beeps} beeps, {verdicts:?}",
        files.len()
    );
}
