//! Throughput of the streaming detectors on 8 kHz audio, reported as audio-seconds per second
//! (criterion's elements/s with one element = one second of audio).

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use tympan_audio::beep::{BeepConfig, BeepDetector};
use tympan_audio::dtmf::{DtmfConfig, DtmfDetector};
use tympan_audio::synth::{dtmf_sequence, white_noise};
use tympan_audio::tones::{CallProgressConfig, CallProgressDetector};
use tympan_audio::vad::{Vad, VadConfig};

const FS: u32 = 8000;
const SECONDS: u64 = 10;

fn signal() -> Vec<f32> {
    let mut x = white_noise(FS, 5000.0, -30.0, 1);
    x.extend(dtmf_sequence("0123456789", FS, 100.0, 100.0, -10.0).unwrap());
    x.extend(white_noise(FS, 3000.0, -20.0, 2));
    x.truncate((FS as u64 * SECONDS) as usize);
    x
}

fn bench(c: &mut Criterion) {
    let x = signal();
    let mut g = c.benchmark_group("detectors_8k");
    g.throughput(Throughput::Elements(SECONDS));
    g.bench_function("dtmf", |b| {
        b.iter(|| {
            let mut d = DtmfDetector::new(FS, DtmfConfig::default()).unwrap();
            x.chunks(160)
                .map(|c| d.push(black_box(c)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("beep", |b| {
        b.iter(|| {
            let mut d = BeepDetector::new(FS, BeepConfig::default()).unwrap();
            x.chunks(160)
                .map(|c| d.push(black_box(c)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("call_progress", |b| {
        b.iter(|| {
            let mut d = CallProgressDetector::new(FS, CallProgressConfig::default()).unwrap();
            x.chunks(160)
                .map(|c| d.push(black_box(c)).len())
                .sum::<usize>()
        })
    });
    g.bench_function("vad", |b| {
        b.iter(|| {
            let mut d = Vad::new(FS, VadConfig::default()).unwrap();
            x.chunks(160)
                .map(|c| d.push(black_box(c)).len())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
