//! How many real-time 8 kHz calls one core can analyse: throughput of the whole detector (VAD,
//! beep, call-progress tones, greeting rules) in audio-seconds per second. A 30 s call with
//! speech-like noise bursts, pauses and a beep; the detector runs for the whole call
//! (`detect_message_end`, beep watch on), fed in 20 ms frames as a live stream is. A second
//! case keeps speech-like bursts going after the beep (few quiet frames for the beep watch).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
#[path = "common/call.rs"]
mod call;

use call::{bench_config, call, loud_call, run_call};

fn bench(c: &mut Criterion) {
    let x = call();
    let cfg = bench_config();
    let mut g = c.benchmark_group("amd");
    g.throughput(Throughput::Elements(30)); // audio-seconds: elements/s = concurrent real-time calls
    g.bench_function("detector_30s_call_8k", |b| {
        b.iter(|| run_call(&cfg, black_box(&x)))
    });
    let loud = loud_call();
    g.bench_function("detector_30s_loud_call_8k", |b| {
        b.iter(|| run_call(&cfg, black_box(&loud)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
