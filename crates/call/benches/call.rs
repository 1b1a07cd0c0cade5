//! What the call core costs over the bare detector: a 30 s voicemail call at 8 kHz (speech-like
//! greeting, beep, quiet), fed in 20 ms frames as a live stream is, through
//! (a) `AmdDetector` alone, (b) a `Call` with AMD only, (c) a `Call` with AMD, in-band DTMF and
//! call-progress tones. Elements/s = real-time calls one core can carry.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tympan_amd::{AmdConfig, AmdDetector, Mode};
use tympan_call::{Call, CallConfig};

#[path = "../tests/common/mod.rs"]
mod common;

fn amd_cfg() -> AmdConfig {
    AmdConfig {
        mode: Mode::DetectMessageEnd,
        ..AmdConfig::default()
    }
}

fn bench(c: &mut Criterion) {
    let (x, _, _) = common::voicemail(8000, 25_000.0);
    let secs = x.len() as u64 / 8000;
    let mut g = c.benchmark_group("call");
    g.throughput(Throughput::Elements(secs));
    g.bench_function("amd_detector_alone_8k", |b| {
        b.iter(|| {
            let mut d = AmdDetector::new(amd_cfg()).unwrap();
            for (i, f) in black_box(&x).chunks(160).enumerate() {
                d.push(f, i as u64 * 20);
                while d.poll_event().is_some() {}
            }
            d.finish(0);
        })
    });
    for (name, dtmf, tones) in [
        ("call_amd_only_8k", false, false),
        ("call_amd_dtmf_8k", true, false),
        ("call_amd_tones_8k", false, true),
        ("call_amd_dtmf_tones_8k", true, true),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut call = Call::new(CallConfig {
                    amd: Some(amd_cfg()),
                    inband_dtmf: dtmf,
                    call_progress: tones,
                    ..CallConfig::new("bench", "file", 8000)
                })
                .unwrap();
                for (i, f) in black_box(&x).chunks(160).enumerate() {
                    call.push_audio(f, i as u64 * 20);
                    while call.poll_event().is_some() {}
                }
                call.finish(0);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
