//! The 30 s benchmark call, shared by `benches/streams.rs` and `examples/one_call.rs` (the
//! latter runs it once, e.g. under `valgrind --tool=callgrind`, to count instructions).

use tympan_amd::corpus::{render_beep, BeepShape, RATE};
use tympan_amd::{AmdConfig, AmdDetector, Mode};
use tympan_audio::synth::{self, Prng};

/// A 30 s call at 8 kHz: speech-like noise bursts and pauses, a 500 ms beep, then line noise.
pub fn call() -> Vec<f32> {
    let mut x = synth::silence(RATE, 500.0);
    for i in 0..12 {
        // Bursts of modulated noise stand in for words.
        let mut w = synth::white_noise(RATE, 350.0, -18.0, i);
        for (k, v) in w.iter_mut().enumerate() {
            *v *= 0.6 + 0.4 * (k as f32 * 0.01).sin();
        }
        x.extend(w);
        x.extend(synth::white_noise(RATE, 150.0, -55.0, 100 + i));
    }
    x.extend(render_beep(
        BeepShape::Pure,
        1000.0,
        500.0,
        -12.0,
        &mut Prng::new(1),
    ));
    let target = RATE as usize * 30;
    let rest = target.saturating_sub(x.len());
    x.extend(synth::white_noise(
        RATE,
        rest as f64 * 1000.0 / RATE as f64,
        -60.0,
        7,
    ));
    x.truncate(target);
    x
}

/// A harder 30 s call for the beep watch: the same start, but speech-like bursts go on for the
/// whole call (a greeting or message that never pauses long), so few frames are quiet.
pub fn loud_call() -> Vec<f32> {
    let mut x = call();
    let start = RATE as usize * 7;
    let mut tail = Vec::new();
    let mut i = 0;
    while tail.len() < x.len() - start {
        let mut w = synth::white_noise(RATE, 350.0, -18.0, 200 + i);
        for (k, v) in w.iter_mut().enumerate() {
            *v *= 0.6 + 0.4 * (k as f32 * 0.01).sin();
        }
        tail.extend(w);
        tail.extend(synth::white_noise(RATE, 150.0, -40.0, 300 + i));
        i += 1;
    }
    let n = x.len() - start;
    x[start..].copy_from_slice(&tail[..n]);
    x
}

/// `detect_message_end` with the beep watch on for the whole call.
pub fn bench_config() -> AmdConfig {
    AmdConfig {
        mode: Mode::DetectMessageEnd,
        beep_timeout_ms: 45_000,
        ..AmdConfig::default()
    }
}

/// Feed `x` in 20 ms frames as a live stream is; returns the number of events.
#[inline(never)]
pub fn run_call(cfg: &AmdConfig, x: &[f32]) -> usize {
    let mut d = AmdDetector::new(cfg.clone()).unwrap();
    let mut n = 0;
    for (i, f) in x.chunks(160).enumerate() {
        d.push(f, i as u64 * 20);
        while d.poll_event().is_some() {
            n += 1;
        }
    }
    d.finish(30_000);
    n
}
