//! The GE2E encoder on weights the test makes (random, seeded) and audio it synthesises:
//! network equations against an f64 reference, the two backends against each other, the
//! real network shapes, resemblyzer's windowing, determinism and batching.

use tympan_audio::synth;
use tympan_voiceid::ge2e::kernels::Isa;
use tympan_voiceid::ge2e::{
    normalize_volume, partial_starts, smooth_and_dilate, Backend, Ge2eConfig, Ge2eEncoder,
    Ge2eWeights, HOP, PARTIAL_FRAMES,
};
use tympan_voiceid::{Embedder, Embedding};

/// Speech-like audio at 16 kHz: voiced syllables of 140–320 ms (a harmonic complex on a
/// gliding pitch through two formant resonances, with a rise and fall) separated by 30–80 ms
/// pauses. `voice` shifts the pitch range and the formants (a crude stand-in for a speaker).
fn voice_like(voice: u64, seconds: f64) -> Vec<f32> {
    let rate = 16_000.0f64;
    let n = (seconds * rate) as usize;
    let mut rng = synth::Prng::new(voice.wrapping_mul(7919).wrapping_add(1));
    let base = 90.0 + 25.0 * voice as f64;
    let scale = 1.0 + 0.08 * voice as f64;
    let mut out = Vec::with_capacity(n + 8000);
    let mut phase = 0.0f64;
    while out.len() < n {
        let syl = ((0.14 + 0.18 * rng.uniform()) * rate) as usize;
        let gap = ((0.03 + 0.05 * rng.uniform()) * rate) as usize;
        let f0a = base * (0.9 + 0.2 * rng.uniform());
        let f0b = f0a * (0.8 + 0.4 * rng.uniform());
        let f1 = (350.0 + 500.0 * rng.uniform()) * scale;
        let f2 = (1100.0 + 1200.0 * rng.uniform()) * scale;
        for i in 0..syl {
            let u = i as f64 / syl as f64;
            let env = (std::f64::consts::PI * u).sin().powf(0.7);
            let f0 = f0a + (f0b - f0a) * u;
            phase += 2.0 * std::f64::consts::PI * f0 / rate;
            let mut v = 0.0;
            let mut k = 1.0;
            while k * f0 < 7000.0 {
                let h = k * f0;
                let w = 1.0 / (1.0 + ((h - f1) / 120.0).powi(2))
                    + 0.5 / (1.0 + ((h - f2) / 180.0).powi(2))
                    + 0.05 / k;
                v += w * (k * phase).sin();
                k += 1.0;
            }
            out.push((0.1 * env * v + 0.001 * rng.gaussian()) as f32);
        }
        for _ in 0..gap {
            out.push((0.0005 * rng.gaussian()) as f32);
        }
    }
    out.truncate(n);
    out
}

/// The LSTM + linear + ReLU of one window in f64, straight from PyTorch's equations.
fn reference_window(w: &Ge2eWeights, mel: &[f32], n_mels: usize) -> Vec<f64> {
    let h = w.hidden;
    let frames = mel.len() / n_mels;
    let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
    let mut input: Vec<Vec<f64>> = mel
        .chunks_exact(n_mels)
        .map(|r| r.iter().map(|&v| v as f64).collect())
        .collect();
    let mut last = vec![0.0; h];
    for l in &w.layers {
        let (mut hs, mut cs) = (vec![0.0; h], vec![0.0; h]);
        let mut out = Vec::with_capacity(frames);
        for x in &input {
            let mut g = vec![0.0; 4 * h];
            for (r, gr) in g.iter_mut().enumerate() {
                let mut s = l.b_ih[r] as f64 + l.b_hh[r] as f64;
                for (k, &xv) in x.iter().enumerate() {
                    s += l.w_ih[r * l.input + k] as f64 * xv;
                }
                for (k, &hv) in hs.iter().enumerate() {
                    s += l.w_hh[r * h + k] as f64 * hv;
                }
                *gr = s;
            }
            for j in 0..h {
                let c = sig(g[h + j]) * cs[j] + sig(g[j]) * g[2 * h + j].tanh();
                cs[j] = c;
                hs[j] = sig(g[3 * h + j]) * c.tanh();
            }
            out.push(hs.clone());
        }
        last = hs;
        input = out;
    }
    (0..w.embedding)
        .map(|e| {
            let s: f64 = w.linear_b[e] as f64
                + (0..h)
                    .map(|k| w.linear_w[e * h + k] as f64 * last[k])
                    .sum::<f64>();
            s.max(0.0)
        })
        .collect()
}

fn cosine64(a: &[f64], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, &y)| x * y as f64).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&y| (y as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn encoder(w: &Ge2eWeights, backend: Backend, max_batch: usize) -> Ge2eEncoder {
    Ge2eEncoder::new(
        w,
        Ge2eConfig {
            backend,
            max_batch,
            ..Ge2eConfig::default()
        },
    )
    .unwrap()
}

#[test]
fn windows_follow_resemblyzer() {
    // 5 s: 501 frames, step 77; the window at 385 covers 71.9 % < 75 % and is dropped.
    assert_eq!(
        partial_starts(80_000, 1.3, 0.75).unwrap(),
        [0, 77, 154, 231, 308]
    );
    assert_eq!(
        partial_starts(80_000, 1.3, 0.7).unwrap(),
        [0, 77, 154, 231, 308, 385]
    );
    // Shorter than one window: always one window.
    assert_eq!(partial_starts(16_000, 1.3, 0.75).unwrap(), [0]);
    assert_eq!(partial_starts(1, 1.3, 0.75).unwrap(), [0]);
    // Exactly 1.6 s: a second window at 77 covers 51.9 % and is dropped.
    assert_eq!(partial_starts(25_600, 1.3, 0.75).unwrap(), [0]);
    // rate 1.0: step round(100) = 100.
    assert_eq!(partial_starts(48_000, 1.0, 0.5).unwrap(), [0, 100, 200]);
    assert!(
        partial_starts(16_000, 0.5, 0.75).is_err(),
        "step above 160 frames"
    );
}

#[test]
fn trimming_mask_smooths_and_dilates_like_resemblyzer() {
    // Five of eight windows voiced around a position keep it; four do not (round half even).
    let mut flags = vec![false; 30];
    for f in flags.iter_mut().skip(10).take(4) {
        *f = true;
    }
    let keep = smooth_and_dilate(&flags);
    assert!(keep.iter().all(|&k| !k), "4 voiced windows round to 0");
    flags[14] = true;
    let keep = smooth_and_dilate(&flags);
    // Window i's average spans flags[i-3 ..= i+4]: all 5 voiced windows (10..=14) for
    // i in 10..=13; dilation by ±3 keeps 7..=16.
    let kept: Vec<usize> = (0..30).filter(|&i| keep[i]).collect();
    assert_eq!(kept, (7..=16).collect::<Vec<_>>());
}

#[test]
fn volume_is_raised_to_minus_30_dbfs_and_never_lowered() {
    let quiet = synth::sine(16_000, 300.0, 500.0, -50.0);
    let out = normalize_volume(&quiet, -30.0, true);
    let rms = (out
        .iter()
        .map(|&x| (x as f64 * 32767.0).powi(2))
        .sum::<f64>()
        / out.len() as f64)
        .sqrt();
    assert!((20.0 * (rms / 32767.0).log10() + 30.0).abs() < 1e-4);
    let loud = synth::sine(16_000, 300.0, 500.0, -3.0);
    assert_eq!(normalize_volume(&loud, -30.0, true), loud);
    assert_eq!(normalize_volume(&[0.0; 10], -30.0, true), vec![0.0; 10]);
}

#[test]
fn fast_network_matches_the_f64_equations() {
    // Small sizes so the f64 reference is quick; several windows batched together.
    let w = Ge2eWeights::random(3, 40, 24, 3, 16).unwrap();
    for backend in [Backend::Fast, Backend::Candle] {
        let enc = encoder(&w, backend, 32);
        let wav = normalize_volume(&voice_like(1, 4.0), -30.0, true);
        let (frames, mel) = enc.mel_frames(&wav).unwrap();
        assert_eq!(frames, 1 + wav.len() / HOP);
        let starts = [0usize, 77, 154, 200];
        let raw = enc.forward_windows(&mel, &starts).unwrap();
        assert_eq!(raw.len(), starts.len() * 16);
        for (k, &s) in starts.iter().enumerate() {
            let want = reference_window(&w, &mel[s * 40..(s + PARTIAL_FRAMES) * 40], 40);
            let got = &raw[k * 16..(k + 1) * 16];
            for (a, &b) in want.iter().zip(got) {
                assert!(
                    (a - b as f64).abs() < 2e-5 * a.abs().max(1.0),
                    "{backend:?} window {k}: {a} vs {b}"
                );
            }
            assert!(cosine64(&want, got) > 1.0 - 1e-9);
        }
        // A window past the spectrogram is refused with its position.
        let e = enc.forward_windows(&mel, &[frames - 10]).unwrap_err();
        assert!(e.to_string().contains("runs past"), "{e}");
    }
}

#[test]
fn real_shapes_backends_agree_and_embeddings_are_unit_norm() {
    // resemblyzer's shapes: 40 mels, 3 × 256 LSTM, 256-d embedding; via safetensors bytes.
    let w = Ge2eWeights::random(7, 40, 256, 3, 256).unwrap();
    let bytes = w.to_safetensors().unwrap();
    let fast = Ge2eEncoder::from_safetensors(&bytes, Ge2eConfig::default()).unwrap();
    let cand = Ge2eEncoder::from_safetensors(
        &bytes,
        Ge2eConfig {
            backend: Backend::Candle,
            ..Ge2eConfig::default()
        },
    )
    .unwrap();
    let info = fast.info();
    assert_eq!(
        (info.sample_rate, info.dim, info.window_samples),
        (16_000, 256, 25_600)
    );
    let wav = voice_like(2, 3.5);
    let a = fast.embed_native(&wav).unwrap();
    let b = cand.embed_native(&wav).unwrap();
    assert_eq!(a.dim(), 256);
    let norm: f64 = a.as_slice().iter().map(|&v| (v as f64).powi(2)).sum();
    assert!((norm - 1.0).abs() < 1e-6, "norm² {norm}");
    assert!(
        a.as_slice().iter().all(|&v| v >= 0.0),
        "ReLU outputs are non-negative"
    );
    let dist = 1.0 - a.cosine(&b).unwrap();
    assert!(dist < 1e-6, "backends differ by cosine distance {dist}");
    // Deterministic.
    assert_eq!(fast.embed_native(&wav).unwrap(), a);
}

#[test]
fn utterance_embedding_is_the_mean_of_its_windows_whatever_the_batch() {
    let w = Ge2eWeights::random(5, 40, 32, 3, 24).unwrap();
    let big = encoder(&w, Backend::Fast, 32);
    let one = encoder(&w, Backend::Fast, 1);
    let wav = big.preprocess(&voice_like(3, 6.0)).unwrap();
    let parts = big.partial_embeddings(&wav).unwrap();
    let starts: Vec<usize> = parts.iter().map(|p| p.0).collect();
    assert_eq!(starts, partial_starts(wav.len(), 1.3, 0.75).unwrap());
    assert!(parts.len() >= 5, "{} windows", parts.len());
    let mean = Embedding::mean(&parts.iter().map(|p| p.1.clone()).collect::<Vec<_>>()).unwrap();
    let utt = big.embed_preprocessed(&wav).unwrap();
    assert_eq!(utt, mean);
    let by_one = one.embed_preprocessed(&wav).unwrap();
    assert!(1.0 - utt.cosine(&by_one).unwrap() < 1e-9);
    // Different voices and different weights move the embedding.
    let other = big.embed_native(&voice_like(6, 6.0)).unwrap();
    assert!(utt.cosine(&other).unwrap() < 1.0 - 1e-6);
    let w2 = Ge2eWeights::random(6, 40, 32, 3, 24).unwrap();
    let e2 = encoder(&w2, Backend::Fast, 32)
        .embed_preprocessed(&wav)
        .unwrap();
    assert!(utt.cosine(&e2).unwrap() < 0.999);
}

#[test]
fn trimming_drops_long_silences_only() {
    let w = Ge2eWeights::random(1, 40, 8, 1, 8).unwrap();
    let enc = encoder(&w, Backend::Fast, 32);
    let speech = voice_like(4, 2.0);
    let mut wav = speech.clone();
    wav.extend(synth::white_noise(16_000, 3000.0, -70.0, 9));
    wav.extend(&speech);
    let trimmed = enc.preprocess(&wav).unwrap();
    // 4 s of voice with short pauses is kept (bar the 30 ms tail and edges); most of the 3 s
    // of silence goes.
    assert!(trimmed.len() > 16_000 * 36 / 10, "{}", trimmed.len());
    assert!(trimmed.len() < 16_000 * 47 / 10, "{}", trimmed.len());
    assert_eq!(trimmed.len() % 480, 0, "whole 30 ms windows");
    // Off: only the volume changes.
    let keep = Ge2eEncoder::new(
        &w,
        Ge2eConfig {
            trim_silences: false,
            ..Ge2eConfig::default()
        },
    )
    .unwrap();
    assert_eq!(keep.preprocess(&wav).unwrap().len(), wav.len());
}

#[test]
fn bad_settings_and_weights_are_refused_by_name() {
    let w = Ge2eWeights::random(1, 40, 8, 2, 8).unwrap();
    for (cfg, field) in [
        (
            Ge2eConfig {
                rate: 0.1,
                ..Ge2eConfig::default()
            },
            "rate",
        ),
        (
            Ge2eConfig {
                min_coverage: 0.0,
                ..Ge2eConfig::default()
            },
            "min_coverage",
        ),
        (
            Ge2eConfig {
                max_batch: 0,
                ..Ge2eConfig::default()
            },
            "max_batch",
        ),
        (
            Ge2eConfig {
                normalize_dbfs: Some(3.0),
                ..Ge2eConfig::default()
            },
            "normalize_dbfs",
        ),
    ] {
        let e = Ge2eEncoder::new(&w, cfg).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
    }
    // A weights file with a mis-shaped tensor names it.
    let mut t = w.to_tensors();
    let hh1 = t
        .iter_mut()
        .find(|t| t.name == "lstm.weight_hh_l1")
        .unwrap();
    hh1.shape = vec![8, 32];
    let bytes = tympan_voiceid::torch_legacy::tensors_to_safetensors(&t).unwrap();
    let e = Ge2eWeights::from_safetensors(&bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("lstm.weight_hh_l1"), "{e}");
    let t: Vec<_> = w
        .to_tensors()
        .into_iter()
        .filter(|t| t.name != "linear.bias")
        .collect();
    let bytes = tympan_voiceid::torch_legacy::tensors_to_safetensors(&t).unwrap();
    let e = Ge2eWeights::from_safetensors(&bytes)
        .unwrap_err()
        .to_string();
    assert!(e.contains("linear.bias") && e.contains("missing"), "{e}");
    assert!(Ge2eWeights::from_safetensors(b"not safetensors").is_err());
    let enc = encoder(&w, Backend::Fast, 4);
    assert!(enc.embed_native(&[]).is_err());
}

#[test]
fn other_rates_are_resampled_to_16k() {
    let w = Ge2eWeights::random(2, 40, 16, 2, 16).unwrap();
    let enc = Ge2eEncoder::new(
        &w,
        Ge2eConfig {
            trim_silences: false,
            ..Ge2eConfig::default()
        },
    )
    .unwrap();
    let wide = voice_like(5, 3.0);
    let narrow = tympan_audio::resample::resample(&wide, 16_000, 8_000).unwrap();
    let a = enc.embed(&narrow, 8_000).unwrap();
    let up = tympan_audio::resample::resample(&narrow, 8_000, 16_000).unwrap();
    let b = enc.embed_native(&up).unwrap();
    assert_eq!(a, b);
}

#[test]
fn every_kernel_build_matches_candle_within_max_abs_diff() {
    // resemblyzer's shapes, a batch of overlapping windows; raw (ReLU'd) outputs of each
    // kernel build (AVX-512F, AVX2+FMA, portable: those this CPU runs) against candle's LSTM.
    let w = Ge2eWeights::random(11, 40, 256, 3, 256).unwrap();
    let cand = encoder(&w, Backend::Candle, 32);
    let wav = normalize_volume(&voice_like(4, 5.0), -30.0, true);
    let (frames, mel) = cand.mel_frames(&wav).unwrap();
    let starts = partial_starts(wav.len(), 1.3, 0.75).unwrap();
    assert!(starts.len() >= 3 && starts.last().unwrap() + PARTIAL_FRAMES <= frames);
    let want = cand.forward_windows(&mel, &starts).unwrap();
    assert!(
        want.iter().any(|&v| v > 0.0),
        "candle output is not all zero"
    );
    let isas = Isa::available();
    assert!(isas.contains(&Isa::Portable));
    for isa in isas {
        let enc = Ge2eEncoder::new(
            &w,
            Ge2eConfig {
                isa: Some(isa),
                ..Ge2eConfig::default()
            },
        )
        .unwrap();
        let got = enc.forward_windows(&mel, &starts).unwrap();
        assert_eq!(got.len(), want.len());
        let max_abs = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        eprintln!(
            "{isa:?} vs candle: max abs diff {max_abs:e} over {} values",
            got.len()
        );
        assert!(max_abs < 1e-5, "{isa:?} vs candle: max abs diff {max_abs}");
    }
}

#[test]
fn kernel_builds_the_cpu_lacks_are_refused() {
    let w = Ge2eWeights::random(1, 40, 8, 1, 4).unwrap();
    for isa in [Isa::Avx512, Isa::Avx2] {
        let r = Ge2eEncoder::new(
            &w,
            Ge2eConfig {
                isa: Some(isa),
                ..Ge2eConfig::default()
            },
        );
        if Isa::available().contains(&isa) {
            assert!(r.is_ok());
        } else {
            assert!(r.unwrap_err().to_string().contains("isa"));
        }
    }
}
