//! `tympan amd FILE` (detect on a recording as if it were a live call) and `tympan amd eval`
//! (accuracy on calls built from `../shared/data`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tympan_amd::advisor::Advisor;
use tympan_amd::corpus::{self, Sources};
use tympan_amd::eval;
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

fn draw(
    path: &Path,
    rate: u32,
    samples: &[f32],
    events: &[AmdEvent],
    result: &AmdResult,
) -> anyhow::Result<()> {
    use tympan_audio::features::stft::{hann_periodic, PowerSpectrum};
    let n_fft = (rate / 1000 * 32) as usize; // 32 ms
    let hop = (rate / 100) as usize; // 10 ms
    let window: Vec<f32> = hann_periodic(n_fft).into_iter().map(|w| w as f32).collect();
    let mut ps = PowerSpectrum::new(&window);
    let mut rows = Vec::new();
    let mut buf = vec![0f32; ps.n_bins()];
    let mut start = 0;
    while start + n_fft <= samples.len() {
        ps.compute(&samples[start..start + n_fft], 2.0, &mut buf);
        rows.push(
            buf.iter()
                .map(|p| 10.0 * (p.max(1e-12)).log10())
                .collect::<Vec<f32>>(),
        );
        start += hop;
    }
    if rows.is_empty() {
        bail!("recording shorter than one 32 ms analysis window");
    }
    let mut segs = Vec::new();
    let mut open = None;
    for e in events {
        match e {
            AmdEvent::SpeechStart { at_ms } => open = Some(*at_ms),
            AmdEvent::SpeechEnd { at_ms } => {
                if let Some(s) = open.take() {
                    segs.push(seg(s, *at_ms, "speech", (60, 160, 255)));
                }
            }
            AmdEvent::Beep { beep, .. } => segs.push(seg(
                beep.start_ms,
                beep.end_ms,
                &format!("beep {:.0} Hz", beep.frequency_hz),
                (255, 60, 60),
            )),
            _ => {}
        }
    }
    if let Some(s) = open {
        segs.push(seg(
            s,
            samples.len() as u64 * 1000 / rate as u64,
            "speech",
            (60, 160, 255),
        ));
    }
    segs.push(seg(
        result.decision_ms.saturating_sub(30),
        result.decision_ms,
        result.answered_by.as_str(),
        (255, 220, 0),
    ));
    tympan_plot::spectrogram(
        path,
        &rows,
        hop as f64 / rate as f64,
        rate as f64 / 2.0,
        &segs,
        &format!(
            "AMD: {} at {} ms",
            result.answered_by.as_str(),
            result.decision_ms
        ),
    )?;
    Ok(())
}

fn seg(start_ms: u64, end_ms: u64, label: &str, color: (u8, u8, u8)) -> tympan_plot::Segment {
    tympan_plot::Segment {
        start_s: start_ms as f64 / 1000.0,
        end_s: end_ms as f64 / 1000.0,
        label: label.to_string(),
        color: Some(color),
    }
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

/// Every `len / n`-th path of the sorted list, at most `n`.
fn spread(mut files: Vec<PathBuf>, n: usize) -> Vec<PathBuf> {
    files.sort();
    let step = (files.len() / n.max(1)).max(1);
    files.into_iter().step_by(step).take(n).collect()
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

const GREETINGS: [&str; 8] = [
    "Hi, you have reached John Smith. I can't take your call right now. Please leave a message after the tone.",
    "The person you are calling is not available. Please record your message at the tone.",
    "Hello, this is Maria. Sorry I missed you. Leave your name and number and I'll call you back.",
    "You have reached five five five, one two three four. Please leave a message.",
    "Thank you for calling. Our office is now closed. Please leave a message and we will return your call.",
    "Hey, it's Sam. Leave a message.",
    "The mailbox of extension two four seven is full. Please try again later.",
    "Hi! You've reached the Millers. We're not home right now, so leave us a message after the beep.",
];
const HELLOS: [&str; 8] = [
    "Hello?",
    "Hello.",
    "Yes?",
    "Hi, who is this?",
    "Hello, Maria speaking.",
    "Yeah?",
    "Hello, hello?",
    "Good morning.",
];

pub(crate) fn load_sources(data: &Path) -> anyhow::Result<Sources> {
    use indicatif::{ProgressBar, ProgressStyle};
    let mut libri = Vec::new();
    list_files(&data.join("librispeech-dev"), "flac", &mut libri)?;
    let mut fsdd = Vec::new();
    list_files(&data.join("fsdd"), "wav", &mut fsdd)?;
    let mut yesno = Vec::new();
    list_files(&data.join("speech-commands-yesno"), "wav", &mut yesno)?;
    if libri.is_empty() || fsdd.is_empty() {
        bail!(
            "{}: no librispeech-dev FLAC or fsdd WAV files found",
            data.display()
        );
    }
    let libri = spread(libri, 160);
    let fsdd = spread(fsdd, 200);
    let total = libri.len() + fsdd.len() + yesno.len();
    let bar = ProgressBar::new(total as u64).with_style(
        ProgressStyle::with_template("loading sources {bar:40} {pos}/{len} {msg}")
            .expect("valid template"),
    );
    let mut long = Vec::new();
    let mut short = Vec::new();
    for p in &libri {
        let x = load_8k(p)?;
        bar.inc(1);
        // Greetings of 3–9 s.
        if x.len() >= 3 * corpus::RATE as usize {
            long.push(x[..x.len().min(9 * corpus::RATE as usize)].to_vec());
        }
    }
    for p in fsdd.iter().chain(&yesno) {
        short.push(load_8k(p)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut spoken = 0;
    for (i, g) in GREETINGS.iter().enumerate() {
        let voice = if i % 2 == 0 { "en-us" } else { "en-gb" };
        if let Some(x) = espeak(g, voice, 150 + 10 * (i as u32 % 4))? {
            long.push(x);
            spoken += 1;
        }
    }
    for (i, h) in HELLOS.iter().enumerate() {
        let voice = if i % 2 == 0 { "en-us" } else { "en-gb" };
        if let Some(x) = espeak(h, voice, 160)? {
            short.push(x);
            spoken += 1;
        }
    }
    if spoken == 0 {
        eprintln!("note: espeak-ng not found; calls use recorded speech only");
    }
    eprintln!(
        "sources: {} greetings (LibriSpeech + espeak-ng), {} short phrases (FSDD, Speech Commands, espeak-ng)",
        long.len(),
        short.len()
    );
    Ok(Sources { long, short })
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
    let configs = [
        (
            "enable",
            AmdConfig {
                mode: Mode::Enable,
                sample_rate: a.rate,
                ..AmdConfig::default()
            },
        ),
        (
            "detect_message_end",
            AmdConfig {
                mode: Mode::DetectMessageEnd,
                sample_rate: a.rate,
                ..AmdConfig::default()
            },
        ),
    ];
    let mut reports = Vec::new();
    for (name, cfg) in &configs {
        let bar = ProgressBar::new(cases.len() as u64).with_style(
            ProgressStyle::with_template(&format!("{name:>18} {{bar:40}} {{pos}}/{{len}} calls"))
                .expect("valid template"),
        );
        let outcomes: Vec<_> = cases
            .iter()
            .map(|c| {
                let o = eval::run_case(cfg, c);
                bar.inc(1);
                o
            })
            .collect();
        bar.finish_and_clear();
        let mut r = eval::summarise(cfg.mode, &outcomes);
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
