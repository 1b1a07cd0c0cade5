//! `tympan amd FILE` (detect on a recording as if it were a live call) and `tympan amd eval`
//! (accuracy on calls built from `../shared/data`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tympan_amd::advisor::Advisor;
use tympan_amd::corpus::{self, Sources};
use tympan_amd::eval::{self, SpanKind};
use tympan_amd::{AmdConfig, AmdEvent, AmdResult, Beep, Mode, Strategy};
use tympan_audio::decode;
use tympan_audio::resample::resample;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AmdArgs {
    #[command(subcommand)]
    pub command: Option<AmdSub>,
    #[command(flatten)]
    pub detect: DetectArgs,
}

#[derive(Subcommand)]
pub enum AmdSub {
    /// Build labelled calls from real recordings (../shared/data) and score the detector.
    Eval(EvalArgs),
    /// Cut labelled VAD clips (speech, beep, tone, music, other) from built calls, as WAV files
    /// in one subfolder per label: training data for `tympan amd train`.
    Clips(super::amd_train::ClipsArgs),
    /// Train the learned second opinion on a folder of labelled clips (subfolders = labels):
    /// 5-fold cross-validation, confusion matrix image, model file.
    Train(super::amd_train::TrainArgs),
    /// Detector throughput over a folder of WAVs (audio-seconds per CPU-second, one thread).
    Bench(super::amd_bench::BenchArgs),
}

/// Detector mode, spelled as Twilio's `MachineDetection` values in snake case;
/// `detect-message-end` is accepted too.
#[derive(Clone, Copy, ValueEnum)]
pub enum ModeArg {
    /// Decide as soon as human/machine is known.
    Enable,
    /// Listen on until the beep / end of the greeting.
    #[value(name = "detect_message_end", alias = "detect-message-end")]
    DetectMessageEnd,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Enable => Mode::Enable,
            ModeArg::DetectMessageEnd => Mode::DetectMessageEnd,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum StrategyArg {
    Twilio,
    AppAmd,
}

#[derive(Args)]
pub struct DetectArgs {
    /// Recording of the answered call (any supported format; 8 or 16 kHz used as is, other
    /// rates resampled to 8 kHz). The first channel... all channels are mixed down.
    pub file: Option<PathBuf>,
    /// enable: decide fast; detect_message_end: wait for the beep / end of greeting.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// Greeting rules: Twilio-style (default) or Asterisk app_amd-style word counting.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// JSON file with detector settings (any subset of the AmdConfig fields).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the spectrogram with speech, beep and decision marked (PNG, or SVG by extension).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Model from `tympan amd train`: every VAD clip is also classified and reported as a
    /// `clip` event (advice only; the decision stays with the detector).
    #[arg(long)]
    pub model: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Folder with fsdd/, librispeech-dev/ and speech-commands-yesno/.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Number of calls to build.
    #[arg(long, default_value_t = 300)]
    pub calls: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Also print every failed call.
    #[arg(long)]
    pub failures: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Write the generated calls as WAV files into this folder (for listening).
    #[arg(long)]
    pub dump: Option<PathBuf>,
    /// Run the detector at this sample rate (8000 or 16000): the 8 kHz calls are resampled
    /// to it first, as a 16 kHz transport would deliver them. `--dump` still writes 8 kHz.
    #[arg(long, default_value_t = corpus::RATE)]
    pub rate: u32,
    /// Also score the learned second opinion of this model (from `tympan amd train`) on the
    /// clips of the calls.
    #[arg(long)]
    pub model: Option<PathBuf>,
}

pub fn run(args: AmdArgs) -> anyhow::Result<()> {
    match args.command {
        Some(AmdSub::Eval(e)) => run_eval(e),
        Some(AmdSub::Clips(c)) => super::amd_train::run_clips(c),
        Some(AmdSub::Train(t)) => super::amd_train::run_train(t),
        Some(AmdSub::Bench(b)) => super::amd_bench::run(b),
        None => run_detect(args.detect),
    }
}

fn load_config(d: &DetectArgs, rate: u32) -> anyhow::Result<AmdConfig> {
    let mut cfg = match &d.config {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("{}", p.display()))?;
            serde_json::from_str::<AmdConfig>(&text)
                .with_context(|| format!("{}: not a valid AMD config", p.display()))?
        }
        None => AmdConfig::default(),
    };
    cfg.sample_rate = rate;
    if let Some(m) = d.mode {
        cfg.mode = m.into();
    }
    if let Some(s) = d.strategy {
        cfg.strategy = match s {
            StrategyArg::Twilio => Strategy::Twilio,
            StrategyArg::AppAmd => Strategy::AppAmd,
        };
    }
    cfg.validate()?;
    Ok(cfg)
}

/// Mono samples at 8 or 16 kHz.
fn load_call_audio(path: &Path) -> anyhow::Result<(u32, Vec<f32>)> {
    let audio = decode::read_file(path)?;
    let mono = audio.downmix();
    match audio.sample_rate {
        8000 | 16000 => Ok((audio.sample_rate, mono)),
        r => Ok((8000, resample(&mono, r, 8000)?)),
    }
}

#[derive(Serialize)]
struct DetectOutput {
    file: String,
    answered_by: &'static str,
    decision_ms: u64,
    beep: Option<Beep>,
    amd_status: tympan_amd::AsteriskStatus,
    amd_cause: String,
    result: AmdResult,
    events: Vec<AmdEvent>,
}

fn run_detect(d: DetectArgs) -> anyhow::Result<()> {
    let Some(path) = d.file.clone() else {
        bail!("no FILE given (usage: tympan amd FILE [--mode ...] [--json] [--plot out.png])");
    };
    let (rate, samples) = load_call_audio(&path)?;
    let cfg = load_config(&d, rate)?;
    let advisor = match &d.model {
        Some(p) => {
            let model = super::amd_train::load_model(p)?;
            Some(Advisor::new(model, rate).with_context(|| format!("{}", p.display()))?)
        }
        None => None,
    };
    let (result, events) = eval::detect_with_advisor(&cfg, advisor, &samples, (rate / 50) as usize);
    if let Some(plot) = &d.plot {
        draw(plot, rate, &samples, &events, &result)
            .with_context(|| format!("drawing {}", plot.display()))?;
    }
    let out = DetectOutput {
        file: path.display().to_string(),
        answered_by: result.answered_by.as_str(),
        decision_ms: result.decision_ms,
        beep: result.beep,
        amd_status: result.amd_status,
        amd_cause: result.amd_cause.clone(),
        result,
        events: events
            .into_iter()
            .filter(|e| !matches!(e, AmdEvent::Result { .. }))
            .collect(),
    };
    if d.json {
        super::print_json(&out)
    } else {
        println!(
            "{}: {} at {} ms (AMDSTATUS={:?} AMDCAUSE={})",
            out.file, out.answered_by, out.decision_ms, out.amd_status, out.amd_cause
        );
        if let Some(b) = out.beep {
            println!(
                "  beep {:.0} Hz, {}–{} ms, {:.1} dBm0",
                b.frequency_hz, b.start_ms, b.end_ms, b.level_db
            );
        }
        Ok(())
    }
}

/// The spectrogram with the detection's timeline drawn over it.
fn draw(
    path: &Path,
    rate: u32,
    samples: &[f32],
    events: &[AmdEvent],
    result: &AmdResult,
) -> anyhow::Result<()> {
    let audio_ms = samples.len() as u64 * 1000 / rate as u64;
    let segments: Vec<tympan_plot::Segment> = eval::timeline(events, result, audio_ms)
        .into_iter()
        .map(|s| tympan_plot::Segment {
            start_s: s.start_ms as f64 / 1000.0,
            end_s: s.end_ms as f64 / 1000.0,
            label: s.label,
            color: Some(match s.kind {
                SpanKind::Speech => (60, 160, 255),
                SpanKind::Beep => (255, 60, 60),
                SpanKind::Decision => (255, 220, 0),
            }),
        })
        .collect();
    let title = format!(
        "AMD: {} at {} ms",
        result.answered_by.as_str(),
        result.decision_ms
    );
    tympan_plot::audio_spectrogram(path, samples, rate, &segments, &title)?;
    Ok(())
}

fn list_files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))? {
        let p = entry?.path();
        if p.is_dir() {
            list_files(&p, ext, out)?;
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
            out.push(p);
        }
    }
    Ok(())
}

fn load_8k(path: &Path) -> anyhow::Result<Vec<f32>> {
    let a = decode::read_file(path)?;
    let mono = a.downmix();
    Ok(if a.sample_rate == corpus::RATE {
        mono
    } else {
        resample(&mono, a.sample_rate, corpus::RATE)?
    })
}

/// Speak `text` with espeak-ng at 8 kHz; None when espeak-ng is not installed.
fn espeak(text: &str, voice: &str, speed: u32) -> anyhow::Result<Option<Vec<f32>>> {
    let out = match std::process::Command::new("espeak-ng")
        .args(["-v", voice, "-s", &speed.to_string(), "--stdout", text])
        .output()
    {
        Ok(o) => o,
        Err(_) => return Ok(None),
    };
    if !out.status.success() {
        bail!("espeak-ng failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    let a = decode::decode_bytes(&out.stdout).context("espeak-ng output")?;
    Ok(Some(resample(&a.downmix(), a.sample_rate, corpus::RATE)?))
}

/// The eval corpus's sources: recordings from `data` (see [`corpus::LIBRISPEECH_DIR`] and
/// the other folders), plus the lines of [`corpus::spoken_lines`] spoken by espeak-ng when it
/// is installed.
pub(crate) fn load_sources(data: &Path) -> anyhow::Result<Sources> {
    use indicatif::{ProgressBar, ProgressStyle};
    let mut libri = Vec::new();
    list_files(&data.join(corpus::LIBRISPEECH_DIR), "flac", &mut libri)?;
    let mut fsdd = Vec::new();
    list_files(&data.join(corpus::FSDD_DIR), "wav", &mut fsdd)?;
    let mut yesno = Vec::new();
    list_files(&data.join(corpus::YESNO_DIR), "wav", &mut yesno)?;
    if libri.is_empty() || fsdd.is_empty() {
        bail!(
            "{}: no {} FLAC or {} WAV files found",
            data.display(),
            corpus::LIBRISPEECH_DIR,
            corpus::FSDD_DIR
        );
    }
    let libri = corpus::spread(libri, corpus::LIBRISPEECH_FILES);
    let fsdd = corpus::spread(fsdd, corpus::FSDD_FILES);
    let total = libri.len() + fsdd.len() + yesno.len();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("loading sources {bar:40} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let mut sources = Sources::new();
    for p in &libri {
        sources.add_recorded_greeting(&load_8k(p)?);
        bar.inc(1);
    }
    for p in fsdd.iter().chain(&yesno) {
        sources.add_short(load_8k(p)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut spoken = 0;
    for line in corpus::spoken_lines() {
        if let Some(x) = espeak(line.text, line.voice, line.speed_wpm)? {
            sources.add_spoken(&line, x);
            spoken += 1;
        }
    }
    if spoken == 0 {
        eprintln!("note: espeak-ng not found; calls use recorded speech only");
    }
    if !sources.is_usable() {
        bail!(
            "{}: no greeting of at least {} ms or no short phrase among the recordings",
            data.display(),
            corpus::GREETING_MIN_MS
        );
    }
    eprintln!(
        "sources: {} greetings (LibriSpeech + espeak-ng), {} short phrases (FSDD, Speech Commands, espeak-ng)",
        sources.long.len(),
        sources.short.len()
    );
    Ok(sources)
}

#[derive(Serialize)]
struct EvalOutput {
    command: String,
    calls: usize,
    seed: u64,
    reports: Vec<eval::Report>,
    advice: Option<eval::AdviceReport>,
}

/// A measured value, or "-" when there was nothing to measure.
fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn run_eval(a: EvalArgs) -> anyhow::Result<()> {
    use indicatif::{ProgressBar, ProgressStyle};
    let sources = load_sources(&a.data)?;
    let mut cases = corpus::build(&sources, a.calls, a.seed);
    if let Some(dir) = &a.dump {
        std::fs::create_dir_all(dir)?;
        for c in &cases {
            let audio = tympan_audio::Audio::mono(corpus::RATE, c.samples.clone());
            let bytes =
                tympan_audio::wav_write::encode_wav(&audio, tympan_audio::wav_write::Codec::Pcm16);
            std::fs::write(dir.join(format!("{}.wav", c.name)), bytes)?;
        }
    }
    if a.rate != corpus::RATE {
        if a.rate != 16_000 {
            bail!("--rate {}: the detector takes 8000 or 16000", a.rate);
        }
        if a.model.is_some() {
            bail!("--model scores clips at 8 kHz: leave out --rate");
        }
        for c in &mut cases {
            c.samples = resample(&c.samples, corpus::RATE, a.rate)?;
        }
    }
    let mut reports = Vec::new();
    for (name, mut cfg) in eval::eval_configs() {
        cfg.sample_rate = a.rate;
        let bar = ProgressBar::new(cases.len() as u64).with_style(
            ProgressStyle::with_template(&format!("{name:>18} {{bar:40}} {{pos}}/{{len}} calls"))
                .expect("valid template"),
        );
        let mut r = eval::evaluate(&cfg, &cases, || bar.inc(1));
        bar.finish_and_clear();
        if !a.failures {
            r.failures.truncate(0);
        }
        reports.push(r);
    }
    let advice = match &a.model {
        Some(p) => {
            let model = super::amd_train::load_model(p)?;
            eprintln!(
                "scoring the advice of {} on the clips of the calls",
                p.display()
            );
            Some(eval::advice_report(&model, &cases).map_err(|e| anyhow::anyhow!("{e}"))?)
        }
        None => None,
    };
    let out = EvalOutput {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        calls: cases.len(),
        seed: a.seed,
        reports,
        advice,
    };
    if a.json {
        return super::print_json(&out);
    }
    for r in &out.reports {
        println!(
            "{:<19} accuracy {:.1}% (human {}/{}, machine {}/{}, unknown {}); beeps {}/{} found (recall {:.1}%), {} false beeps on {} calls; beep latency median {} ms max {} ms; decision median human {} ms, machine {} ms",
            r.mode,
            100.0 * r.accuracy,
            r.human_correct,
            r.humans,
            r.machine_correct,
            r.machines,
            r.unknown,
            r.beeps_found,
            r.beeps_expected,
            100.0 * r.beep_recall,
            r.false_beeps,
            r.calls_with_false_beeps,
            opt(r.beep_latency_ms_median),
            opt(r.beep_latency_ms_max),
            opt(r.decision_ms_median_human),
            opt(r.decision_ms_median_machine)
        );
        for f in &r.failures {
            println!(
                "  FAIL {} -> {} at {} ms (speech ends {} ms, beep at {} ms){}{}",
                f.name,
                f.answered_by.as_str(),
                f.decision_ms,
                f.speech_end_ms,
                opt(f.beep_start_ms),
                if f.beep_expected && !f.beep_found {
                    " (beep missed)"
                } else {
                    ""
                },
                if f.false_beeps > 0 {
                    " (false beep)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(adv) = &out.advice {
        let m = &adv.metrics;
        println!(
            "advice (learned second opinion) on {} clips: accuracy {:.1}%, macro F1 {:.3} over {} scored clips; {} straddle two kinds; truth outside the model's labels: {:?}",
            adv.clips,
            100.0 * m.accuracy,
            m.macro_f1,
            adv.scored,
            adv.straddling,
            adv.unknown_truth
        );
        let names: Vec<String> = m.per_class.iter().map(|c| c.label.clone()).collect();
        super::amd_train::print_confusion(&names, &m.confusion);
    }
    Ok(())
}
