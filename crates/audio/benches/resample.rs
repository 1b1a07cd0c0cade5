//! Streaming resampler throughput in 20 ms frames (8k->16k and 48k->8k).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tympan_audio::resample::StreamResampler;

fn bench_stream(c: &mut Criterion, from: u32, to: u32) {
    let secs = 10usize;
    let input: Vec<f32> = (0..from as usize * secs)
        .map(|i| (i as f32 * 0.05).sin() * 0.5)
        .collect();
    let frame = from as usize / 50;
    let mut group = c.benchmark_group("resample_stream_20ms");
    group.throughput(Throughput::Elements(input.len() as u64));
    group.bench_function(format!("{from}->{to} ({secs} s of audio)"), |b| {
        let mut r = StreamResampler::new(from, to).expect("valid rates");
        let mut out = Vec::with_capacity(to as usize * secs + 4096);
        b.iter(|| {
            out.clear();
            for chunk in input.chunks(frame) {
                r.push_into(black_box(chunk), &mut out);
            }
            out.extend(r.flush());
            black_box(out.len())
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_stream(c, 8000, 16000);
    bench_stream(c, 48000, 8000);
}

criterion_group!(resample, benches);
criterion_main!(resample);
