//! Criterion benchmarks of the GE2E encoder at resemblyzer's shapes (40 mels, 3 × 256 LSTM,
//! 256-d) on random weights: 10 s of 16 kHz audio through the pipeline (untrimmed), with the
//! fast backend and with candle's stock LSTM, and 10 s of 8 kHz audio through the whole
//! telephone pipeline. The reported time is for 10 s of audio: the real-time factor is that
//! time divided by 10 s. Run on one core: `RAYON_NUM_THREADS=1 taskset -c 0 cargo bench -p
//! tympan-voiceid --bench embed`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tympan_voiceid::{Backend, Embedder, Ge2eConfig, Ge2eEncoder, Ge2eWeights};

fn ten_seconds() -> Vec<f32> {
    let mut rng = tympan_audio::synth::Prng::new(42);
    let rate = 16_000.0f64;
    (0..160_000)
        .map(|i| {
            let t = i as f64 / rate;
            // A gliding harmonic tone with noise: the network's cost does not depend on it.
            let f0 = 120.0 + 30.0 * (2.0 * std::f64::consts::PI * 0.7 * t).sin();
            let v: f64 = (1..20)
                .map(|k| (2.0 * std::f64::consts::PI * f0 * k as f64 * t).sin() / k as f64)
                .sum();
            (0.05 * v + 0.01 * rng.gaussian()) as f32
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let w = Ge2eWeights::random(1, 40, 256, 3, 256).expect("shapes");
    let audio = ten_seconds();
    let mut g = c.benchmark_group("ge2e_10s_16k");
    g.sample_size(10);
    g.throughput(Throughput::Elements(audio.len() as u64));
    for backend in [Backend::Fast, Backend::Candle] {
        let enc = Ge2eEncoder::new(
            &w,
            Ge2eConfig {
                backend,
                trim_silences: false,
                ..Ge2eConfig::default()
            },
        )
        .expect("encoder");
        g.bench_with_input(
            BenchmarkId::new("embed", format!("{backend:?}")),
            &audio,
            |b, x| b.iter(|| enc.embed_native(x).expect("embeds")),
        );
    }
    // The telephone case: 10 s at 8 kHz, resampled to 16 kHz inside `embed`.
    let narrow = tympan_audio::resample::resample(&audio, 16_000, 8_000).expect("resample");
    let enc = Ge2eEncoder::new(&w, Ge2eConfig::default()).expect("encoder");
    g.throughput(Throughput::Elements(narrow.len() as u64));
    g.bench_with_input(
        BenchmarkId::new("embed_8k_full_pipeline", "Fast"),
        &narrow,
        |b, x| b.iter(|| enc.embed(x, 8_000).expect("embeds")),
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
