//! VAD robustness in white noise on telephone audio:
//! `cargo run --release -p tympan-audio --example vad_eval [-- SHARED_DATA_DIR]`
//!
//! Speech: LibriSpeech dev (16 kHz FLAC, resampled to 8 kHz) and FSDD digits (8 kHz WAV), each
//! scaled to an active level of −22 dBm0. Reference labels come from an energy threshold on the
//! CLEAN signal (independent of the VAD under test): 10 ms frames at or above the active level
//! − 20 dB, gaps ≤ 200 ms bridged, runs < 60 ms dropped. The active level is the mean power of
//! the frames within 25 dB of the 95th-percentile frame level.
//!
//! Conditions: no noise, and white noise at 20, 15 and 10 dB below the active level; every
//! signal gets 1 s of lead-in and 0.5 s of tail (noise only) and goes through µ-law. Reported:
//! frame recall / precision of the VAD's segments against the reference (LibriSpeech), the share
//! of utterances whose longest gap between detected segments stays under 1000 ms, the share of
//! FSDD clips with any speech, and segments found on 60 s of noise alone after the first 300 ms.

use std::path::{Path, PathBuf};

use tympan_audio::decode::read_file_mono;
use tympan_audio::resample::resample;
use tympan_audio::synth::{level_dbm0, mulaw_roundtrip, white_noise};
use tympan_audio::vad::{Vad, VadConfig, VadEvent};

const FS: u32 = 8000;
const FRAME: usize = 80;
const SPEECH_DBM0: f64 = -22.0;
const LEAD_MS: f64 = 1000.0;
const TAIL_MS: f64 = 500.0;

fn frame_levels(x: &[f32]) -> Vec<f64> {
    x.chunks_exact(FRAME)
        .map(|c| level_dbm0(c) as f64)
        .collect()
}

fn active_level(x: &[f32]) -> f64 {
    let lv = frame_levels(x);
    let mut s = lv.clone();
    s.sort_by(|a, b| a.total_cmp(b));
    let p95 = s[(s.len() * 95 / 100).min(s.len() - 1)];
    let act: Vec<f64> = lv
        .iter()
        .filter(|&&l| l >= p95 - 25.0)
        .map(|l| 10f64.powf(l / 10.0))
        .collect();
    10.0 * (act.iter().sum::<f64>() / act.len() as f64).log10()
}

/// Reference labels per 10 ms frame of the clean, level-normalised signal.
fn reference(x: &[f32]) -> Vec<bool> {
    let act = active_level(x);
    let mut r: Vec<bool> = frame_levels(x).iter().map(|&l| l >= act - 20.0).collect();
    // bridge gaps ≤ 20 frames
    let mut last: Option<usize> = None;
    for i in 0..r.len() {
        if r[i] {
            if let Some(l) = last {
                if i - l - 1 <= 20 {
                    for v in &mut r[l + 1..i] {
                        *v = true;
                    }
                }
            }
            last = Some(i);
        }
    }
    // drop runs < 6 frames
    let mut i = 0;
    while i < r.len() {
        if r[i] {
            let j = (i..r.len()).find(|&j| !r[j]).unwrap_or(r.len());
            if j - i < 6 {
                for v in &mut r[i..j] {
                    *v = false;
                }
            }
            i = j;
        } else {
            i += 1;
        }
    }
    r
}

/// Segments (start_ms, end_ms) found by the VAD.
fn segments(x: &[f32]) -> Vec<(f64, f64)> {
    let mut v = Vad::new(FS, VadConfig::default()).unwrap();
    let mut ev = Vec::new();
    for c in x.chunks(160) {
        ev.extend(v.push(c));
    }
    ev.extend(v.flush());
    ev.into_iter()
        .filter_map(|e| match e {
            VadEvent::SpeechEnd { start_ms, at_ms } => Some((start_ms, at_ms)),
            _ => None,
        })
        .collect()
}

fn to_frames(seg: &[(f64, f64)], n: usize) -> Vec<bool> {
    let mut f = vec![false; n];
    for &(s, e) in seg {
        let a = (s / 10.0).round() as usize;
        let b = ((e / 10.0).round() as usize).min(n);
        for v in f.iter_mut().take(b).skip(a) {
            *v = true;
        }
    }
    f
}

/// Speech scaled to SPEECH_DBM0 active level with lead-in/tail; returns (signal, clean-with-pads).
fn condition(speech: &[f32], snr: Option<f64>, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let g = 10f64.powf((SPEECH_DBM0 - active_level(speech)) / 20.0) as f32;
    let lead = (FS as f64 * LEAD_MS / 1000.0) as usize;
    let tail = (FS as f64 * TAIL_MS / 1000.0) as usize;
    let mut clean = vec![0.0f32; lead];
    clean.extend(speech.iter().map(|v| v * g));
    clean.extend(vec![0.0; tail]);
    let mut x = clean.clone();
    if let Some(snr) = snr {
        let n = white_noise(
            FS,
            x.len() as f64 * 1000.0 / FS as f64 + 10.0,
            (SPEECH_DBM0 - snr) as f32,
            seed,
        );
        for (a, b) in x.iter_mut().zip(n) {
            *a += b;
        }
    }
    for v in x.iter_mut() {
        *v = mulaw_roundtrip(*v);
    }
    (x, clean)
}

fn librispeech(root: &Path, per_speaker: usize) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    let mut spk: Vec<PathBuf> = std::fs::read_dir(root.join("librispeech-dev"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    spk.sort();
    for s in spk {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&s)
            .map(|d| {
                d.flatten()
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|e| e == "flac"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        for f in files.iter().take(per_speaker) {
            let a = read_file_mono(f, None).expect("decode");
            out.push(resample(&a.channels[0], a.sample_rate, FS).expect("resample"));
        }
    }
    out
}

fn fsdd(root: &Path, every: usize) -> Vec<Vec<f32>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("fsdd/recordings"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "wav"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .step_by(every)
        .map(|f| {
            let a = read_file_mono(f, None).expect("decode");
            resample(&a.channels[0], a.sample_rate, FS).expect("resample")
        })
        .collect()
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let ls = librispeech(&root, 5);
    if std::env::var_os("VAD_EVAL_DEBUG").is_some() {
        for (k, u) in ls.iter().take(3).enumerate() {
            let (x, clean) = condition(u, Some(15.0), 100 + k as u64);
            let r = reference(&clean);
            let on: Vec<usize> = (1..r.len()).filter(|&i| r[i] != r[i - 1]).collect();
            println!("utt {k}: ref changes at frames {on:?}");
            println!("  clean: {:?}", segments(&clean));
            println!("  15 dB: {:?}", segments(&x));
        }
        let (mut sp, mut ns) = (Vec::new(), Vec::new());
        for (k, u) in ls.iter().enumerate() {
            let (x, clean) = condition(u, Some(15.0), 100 + k as u64);
            let (a, b) = snr_stats(&x, &reference(&clean));
            sp.extend(a);
            ns.extend(b.into_iter().skip(50));
        }
        let q = |v: &mut Vec<f64>| {
            v.sort_by(|a, b| a.total_cmp(b));
            [0.05, 0.1, 0.2, 0.3, 0.5, 0.9, 0.99, 0.999]
                .map(|p| format!("{:.2}", v[((v.len() as f64 * p) as usize).min(v.len() - 1)]))
        };
        println!(
            "speech snr quantiles 5/10/20/30/50/90/99/99.9%: {:?}",
            q(&mut sp)
        );
        println!("non-speech snr quantiles: {:?}", q(&mut ns));
    }
    let digits = fsdd(&root, 5);
    assert!(
        !ls.is_empty() && !digits.is_empty(),
        "no data under {root:?}"
    );
    let ls_s: f64 = ls.iter().map(|x| x.len() as f64 / FS as f64).sum();
    println!(
        "LibriSpeech: {} utterances, {:.0} s; FSDD: {} clips; speech at {SPEECH_DBM0} dBm0 active, µ-law",
        ls.len(),
        ls_s,
        digits.len()
    );
    println!(
        "{:>6} | {:>7} {:>7} {:>9} {:>8} | {:>9} | {:>10}",
        "SNR", "recall", "prec", "gap<1s", "segs/utt", "FSDD det", "noise segs"
    );
    for snr in [None, Some(20.0), Some(15.0), Some(10.0)] {
        let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
        let mut gap_ok = 0;
        let mut nseg = 0;
        for (k, u) in ls.iter().enumerate() {
            let (x, clean) = condition(u, snr, 100 + k as u64);
            let r = reference(&clean);
            let seg = segments(&x);
            nseg += seg.len();
            let d = to_frames(&seg, r.len());
            for (a, b) in r.iter().zip(&d) {
                match (a, b) {
                    (true, true) => tp += 1,
                    (false, true) => fp += 1,
                    (true, false) => fneg += 1,
                    _ => {}
                }
            }
            let gap = seg.windows(2).map(|w| w[1].0 - w[0].1).fold(0.0, f64::max);
            if !seg.is_empty() && gap < 1000.0 {
                gap_ok += 1;
            }
        }
        let mut det = 0;
        for (k, u) in digits.iter().enumerate() {
            let (x, _) = condition(u, snr, 5000 + k as u64);
            let end_ms = LEAD_MS + u.len() as f64 * 1000.0 / FS as f64 + 100.0;
            if segments(&x)
                .iter()
                .any(|&(s, e)| e > LEAD_MS - 100.0 && s < end_ms)
            {
                det += 1;
            }
        }
        let noise_segs = match snr {
            None => 0,
            Some(s) => {
                let x: Vec<f32> = white_noise(FS, 60_000.0, (SPEECH_DBM0 - s) as f32, 77)
                    .into_iter()
                    .map(mulaw_roundtrip)
                    .collect();
                segments(&x).iter().filter(|&&(_, e)| e > 300.0).count()
            }
        };
        println!(
            "{:>6} | {:>7.3} {:>7.3} {:>9.3} {:>8.1} | {:>9.3} | {:>10}",
            snr.map_or("clean".to_string(), |s| format!("{s} dB")),
            tp as f64 / (tp + fneg).max(1) as f64,
            tp as f64 / (tp + fp).max(1) as f64,
            gap_ok as f64 / ls.len() as f64,
            nseg as f64 / ls.len() as f64,
            det as f64 / digits.len() as f64,
            noise_segs
        );
    }
    // Noise alone at other levels (no speech anywhere).
    let mut line = String::from("noise-only segments after 300 ms (60 s each):");
    for lvl in [-60.0f32, -50.0, -45.0, -40.0, -35.0, -30.0, -25.0, -20.0] {
        let x: Vec<f32> = white_noise(FS, 60_000.0, lvl, 91)
            .into_iter()
            .map(mulaw_roundtrip)
            .collect();
        let n = segments(&x).iter().filter(|&&(_, e)| e > 300.0).count();
        line += &format!(" {lvl} dBm0: {n};");
    }
    println!("{line}");
}

/// Debug helper: quantiles of the per-frame sub-band SNR on reference speech / non-speech.
#[allow(dead_code)]
fn snr_stats(x: &[f32], r: &[bool]) -> (Vec<f64>, Vec<f64>) {
    let mut v = Vad::new(FS, VadConfig::default()).unwrap();
    let (mut sp, mut ns) = (Vec::new(), Vec::new());
    for (i, c) in x.chunks_exact(FRAME).enumerate() {
        v.push(c);
        if i < r.len() {
            if r[i] {
                sp.push(v.last_subband_snr_db());
            } else {
                ns.push(v.last_subband_snr_db());
            }
        }
    }
    (sp, ns)
}
