//! How many real-time 8 kHz calls one core can analyse: throughput of the whole detector (VAD,
//! beep, call-progress tones, greeting rules) in audio-seconds per second. A 30 s call with
//! speech-like noise bursts, pauses and a beep; the detector runs for the whole call
//! (`detect_message_end`, beep watch on), fed in 20 ms frames as a live stream is.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tympan_amd::corpus::{render_beep, BeepShape, RATE};
use tympan_amd::{AmdConfig, AmdDetector, Mode};
use tympan_audio::synth::{self, Prng};

fn call() -> Vec<f32> {
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

fn bench(c: &mut Criterion) {
    let x = call();
    let cfg = AmdConfig {
        mode: Mode::DetectMessageEnd,
        beep_timeout_ms: 45_000,
        ..AmdConfig::default()
    };
    let mut g = c.benchmark_group("amd");
    g.throughput(Throughput::Elements(30)); // audio-seconds: elements/s = concurrent real-time calls
    g.bench_function("detector_30s_call_8k", |b| {
        b.iter(|| {
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
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
