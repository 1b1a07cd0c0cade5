//! Half-band 16->8 kHz decimator throughput in 10 ms frames (what the AMD front end feeds it).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tympan_audio::decimate::HalfRate;

fn benches(c: &mut Criterion) {
    let secs = 10usize;
    let input: Vec<f32> = (0..16_000 * secs)
        .map(|i| (i as f32 * 0.05).sin() * 0.5)
        .collect();
    let mut group = c.benchmark_group("decimate_10ms");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function(format!("16k->8k aligned ({secs} s of audio)"), |b| {
        let mut out = Vec::with_capacity(8_000 * secs);
        b.iter(|| {
            let mut d = HalfRate::aligned();
            out.clear();
            for frame in input.chunks(160) {
                d.process(black_box(frame), &mut out);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(decimate, benches);
criterion_main!(decimate);
