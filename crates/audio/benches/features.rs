//! Criterion benchmarks: MFCC (librosa defaults, 25/10 ms telephone) and Kaldi fbank on 10 s of
//! synthetic 8 kHz and 16 kHz audio.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tympan_audio::features::{FbankOptions, Mfcc, MfccParams, OnlineFbank};

fn ten_seconds(sr: u32) -> Vec<f32> {
    let mut s = 0x9e37_79b9u32;
    (0..sr as usize * 10)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            let t = i as f32 / sr as f32;
            0.3 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                + (s as f32 / u32::MAX as f32 - 0.5) * 0.05
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("features_10s");
    g.sample_size(20);
    for sr in [8000u32, 16000] {
        let y = ten_seconds(sr);
        g.throughput(Throughput::Elements(y.len() as u64));
        let mut librosa = Mfcc::new(MfccParams::librosa_default(sr).with_n_mfcc(40)).unwrap();
        g.bench_with_input(
            BenchmarkId::new("mfcc40_librosa_default", sr),
            &y,
            |b, y| b.iter(|| librosa.compute(y)),
        );
        let mut tel = Mfcc::new(MfccParams::telephone(sr)).unwrap();
        g.bench_with_input(BenchmarkId::new("mfcc13_telephone", sr), &y, |b, y| {
            b.iter(|| tel.compute(y))
        });
        let mut fb = OnlineFbank::new(FbankOptions::new(sr as f32)).unwrap();
        let mut out = Vec::with_capacity(1000 * 80);
        g.bench_with_input(BenchmarkId::new("kaldi_fbank80", sr), &y, |b, y| {
            b.iter(|| {
                fb.reset();
                out.clear();
                fb.push(y, &mut out)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
