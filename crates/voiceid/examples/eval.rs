//! Speaker-verification accuracy of the GE2E encoder on `../shared/data/librispeech-dev`, at
//! 16 kHz and after the 8 kHz µ-law telephone channel, raw and S-normalised (shell code: reads
//! the files and the weights, times the embedding; the protocol is `tympan_voiceid::eval`).
//!
//! ```text
//! cargo run --release -p tympan-voiceid --example eval -- \
//!     --data ../shared/data [--weights FILE] [--json] [--plot DIR] \
//!     [--calibration-out FILE] [--threads N]
//! ```
//! `--weights` defaults to `${TYMPAN_MODELS:-$HOME/.cache/tympan}/voiceid-ge2e.safetensors`
//! (`scripts/voiceid-weights.sh` writes it). `--plot DIR` draws `voiceid-roc-*.png`;
//! `--calibration-out FILE` stores the telephone-channel S-norm calibration as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;
use tympan_voiceid::channel::{Channel, Law};
use tympan_voiceid::eval::{analyse_utterance, evaluate, EvalConfig, EvalReport, UtteranceRecord};
use tympan_voiceid::{Ge2eConfig, Ge2eEncoder, Ge2eWeights};

fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct Args {
    data: PathBuf,
    weights: PathBuf,
    json: bool,
    plot: Option<PathBuf>,
    calibration_out: Option<PathBuf>,
    threads: usize,
}

fn parse() -> Result<Args, String> {
    let models = std::env::var_os("TYMPAN_MODELS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/tympan")))
        .unwrap_or_else(|| PathBuf::from("."));
    let mut a = Args {
        data: PathBuf::from("../shared/data"),
        weights: models.join("voiceid-ge2e.safetensors"),
        json: false,
        plot: None,
        calibration_out: None,
        threads: 2,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--data" => a.data = PathBuf::from(val()?),
            "--weights" => a.weights = PathBuf::from(val()?),
            "--json" => a.json = true,
            "--plot" => a.plot = Some(PathBuf::from(val()?)),
            "--calibration-out" => a.calibration_out = Some(PathBuf::from(val()?)),
            "--threads" => {
                a.threads = val()?.parse().map_err(|e| format!("--threads: {e}"))?;
                if a.threads == 0 {
                    return Err("--threads must be at least 1".into());
                }
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// `(speaker, utterance id, path)` of every FLAC file under `librispeech-dev/<speaker>/`.
fn corpus(data: &Path) -> Result<Vec<(String, String, PathBuf)>, String> {
    let root = data.join("librispeech-dev");
    let mut out = Vec::new();
    let rd = std::fs::read_dir(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    for spk in rd.flatten() {
        if !spk.path().is_dir() {
            continue;
        }
        let name = spk.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(spk.path())
            .map_err(|e| e.to_string())?
            .flatten()
        {
            let p = f.path();
            if p.extension().and_then(|e| e.to_str()) == Some("flac") {
                let id = p
                    .file_stem()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                out.push((name.clone(), id, p));
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(format!("no FLAC files under {}", root.display()));
    }
    Ok(out)
}

/// One worker's records, seconds of audio and CPU seconds.
type Part = (Vec<UtteranceRecord>, f64, f64);

struct Run {
    records: Vec<UtteranceRecord>,
    audio_s: f64,
    cpu_s: f64,
}

fn analyse_all(
    enc: &Ge2eEncoder,
    files: &[(String, String, PathBuf)],
    channel: Channel,
    threads: usize,
) -> Result<Run, String> {
    let chunk = files.len().div_ceil(threads);
    let results: Vec<Result<Part, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut recs = Vec::new();
                    let (mut audio_s, mut cpu_s) = (0.0, 0.0);
                    for (spk, id, path) in part {
                        let a = tympan_audio::decode::read_file_mono(path, None)
                            .map_err(|e| e.to_string())?;
                        let t0 = thread_cpu_s();
                        let r =
                            analyse_utterance(enc, spk, id, &a.channels[0], a.sample_rate, channel)
                                .map_err(|e| format!("{}: {e}", path.display()))?;
                        cpu_s += thread_cpu_s() - t0;
                        audio_s += a.duration_s();
                        recs.push(r);
                    }
                    Ok((recs, audio_s, cpu_s))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("worker panicked".into())))
            .collect()
    });
    let mut run = Run {
        records: Vec::new(),
        audio_s: 0.0,
        cpu_s: 0.0,
    };
    for r in results {
        let (recs, a, c) = r?;
        run.records.extend(recs);
        run.audio_s += a;
        run.cpu_s += c;
    }
    Ok(run)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

fn print_table(name: &str, r: &EvalReport) {
    println!(
        "== {name}: {} speakers enrolled (mean {:.1} s net speech over {:.1} files)",
        r.speakers_enrolled,
        r.mean_enrollment_speech_ms / 1000.0,
        r.mean_enrollment_files
    );
    for c in [&r.utterance, &r.segment] {
        for s in [&c.raw, &c.normalized] {
            println!(
                "  {:9} {:7} items {:4} (mean {:5.1} s)  trials {:5}/{:5}  EER {:>6}  minDCF(0.01) {:.3}  FAR@FRR5% {:>6}  at score 90: FAR {:>6} FRR {:>6}",
                c.name,
                format!("{:?}", s.similarity),
                c.test_items,
                c.mean_test_speech_ms / 1000.0,
                s.metrics.genuine,
                s.metrics.impostor,
                pct(s.metrics.eer),
                s.metrics.min_dcf_001,
                pct(s.metrics.far_at_frr_5),
                pct(s.far_at_threshold),
                pct(s.frr_at_threshold),
            );
        }
    }
}

fn main() -> ExitCode {
    let run = || -> Result<(), String> {
        let args = parse()?;
        let files = corpus(&args.data)?;
        let bytes = std::fs::read(&args.weights).map_err(|e| {
            format!(
                "{}: {e} (run scripts/voiceid-weights.sh to fetch and convert the weights)",
                args.weights.display()
            )
        })?;
        let w = Ge2eWeights::from_safetensors(&bytes)
            .map_err(|e| format!("{}: {e}", args.weights.display()))?;
        let enc = Ge2eEncoder::new(&w, Ge2eConfig::default()).map_err(|e| e.to_string())?;
        let cfg = EvalConfig::default();
        let mut out = serde_json::Map::new();
        let mut rocs = Vec::new();
        for (name, channel) in [
            ("16k", Channel::Wideband),
            ("8k-ulaw", Channel::Telephone(Law::Ulaw)),
        ] {
            let r = analyse_all(&enc, &files, channel, args.threads)?;
            let report = evaluate(&r.records, &cfg).map_err(|e| e.to_string())?;
            if !args.json {
                print_table(name, &report);
                println!(
                    "  embedding: {:.0} s of audio in {:.1} s CPU: real-time factor {:.4} per core",
                    r.audio_s,
                    r.cpu_s,
                    r.cpu_s / r.audio_s
                );
            }
            for c in [&report.segment] {
                for s in [&c.raw, &c.normalized] {
                    rocs.push((
                        format!("{name} {:?}", s.similarity),
                        s.roc.clone(),
                        s.metrics.auc,
                    ));
                }
            }
            if name == "8k-ulaw" {
                if let Some(p) = &args.calibration_out {
                    let mut cal = report.segment.normalized.calibration.clone();
                    cal.fitted_on = format!(
                        "GE2E (resemblyzer 0.1.4 weights), librispeech-dev {} speakers, 8 kHz µ-law, \
                         {:.0} s enrollment, {:.0} s test segments, S-norm cohort of other speakers",
                        report.speakers_enrolled,
                        cfg.enrollment_ms / 1000.0,
                        cfg.segment_ms / 1000.0
                    );
                    std::fs::write(p, cal.to_json())
                        .map_err(|e| format!("{}: {e}", p.display()))?;
                }
            }
            out.insert(
                name.into(),
                json!({
                    "report": report,
                    "audio_s": r.audio_s,
                    "cpu_s": r.cpu_s,
                    "rtf_per_core": r.cpu_s / r.audio_s,
                }),
            );
        }
        if let Some(dir) = &args.plot {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let series: Vec<tympan_plot::RocSeries> = rocs
                .iter()
                .map(|(n, pts, a)| (n.as_str(), pts.as_slice(), *a))
                .collect();
            let path = dir.join("voiceid-roc-librispeech-dev.png");
            tympan_plot::roc_curve(
                &path,
                &series,
                "GE2E on librispeech-dev, 10 s test segments",
            )
            .map_err(|e| format!("{}: {e}", path.display()))?;
            if !args.json {
                println!("ROC curves: {}", path.display());
            }
        }
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::Value::Object(out))
                    .map_err(|e| e.to_string())?
            );
        }
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
