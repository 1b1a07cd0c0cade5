//! `tympan speech say|recognize|eval|adapt-data`: text to speech and answer recognition
//! (`tympan-speech`). Thin: files in, the crate's engines and scoring, text or JSON out.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use tympan_speech::asr::eval::{
    self, confusion, espeak_clips, fsdd_label, run_clip, run_grammar_clip, same_answer,
    speech_commands_label, summarize, Clip, ClipResult, DIGIT_WORDS, ESPEAK_PHRASES, ESPEAK_VOICES,
};
use tympan_speech::asr::sphinx::{Search, DEFAULT_LM, TELEPHONE_MLLR};
use tympan_speech::asr::{EndpointConfig, Outcome, Recognizer, SphinxConfig, SphinxEngine};
use tympan_speech::tts::{
    EspeakSettings, EspeakSynthesizer, SpeechInput, SsmlRendering, Synthesizer,
};
use tympan_speech::AnswerType;

#[derive(Subcommand)]
pub enum SpeechCmd {
    /// Synthesise text or SSML with espeak-ng into a WAV file.
    Say(SayArgs),
    /// Recognise the answer in a recording with the grammar of an answer type.
    Recognize(RecognizeArgs),
    /// Accuracy per answer type on espeak-ng voices and real recordings at 8 kHz µ-law, and
    /// the recognition real-time factor.
    Eval(EvalArgs),
    /// Write LibriSpeech utterances as the recogniser hears calls (8 kHz µ-law → 16 kHz raw
    /// with the comfort noise), with sphinxtrain control and transcription files, for
    /// `scripts/speech-adapt.sh`.
    AdaptData(AdaptDataArgs),
}

#[derive(Args)]
pub struct SayArgs {
    /// The text (or SSML document with --ssml).
    pub text: String,
    /// Treat the text as SSML (root <speak>).
    #[arg(long)]
    pub ssml: bool,
    /// espeak-ng voice (en-us, en-gb, en-us+f2, ...).
    #[arg(long, default_value = "en-us")]
    pub voice: String,
    /// Words per minute.
    #[arg(long, default_value_t = 160)]
    pub wpm: u32,
    /// Output sample rate: 8000 or 16000.
    #[arg(long, default_value_t = 8000)]
    pub rate: u32,
    /// Render SSML with one espeak-ng call per style run and exact silences.
    #[arg(long)]
    pub segments: bool,
    /// Output WAV file.
    #[arg(short, long)]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RecognizeArgs {
    /// Input audio file (any supported format; resampled to 8 kHz and µ-law coded like a call
    /// unless --wideband).
    pub file: PathBuf,
    /// Answer type: ok, yes_no, choice, number, date, time.
    #[arg(long = "type")]
    pub answer_type: String,
    /// Feed 16 kHz audio as is instead of the 8 kHz µ-law call path.
    #[arg(long)]
    pub wideband: bool,
    /// Do not load the telephone MLLR transform.
    #[arg(long)]
    pub no_mllr: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct EvalArgs {
    /// The shared data folder (speech-commands-yesno/, fsdd/); its absence skips those sets.
    #[arg(long, default_value = "../shared/data")]
    pub data: PathBuf,
    /// Only the first espeak-ng voice (en-us 160 wpm) instead of all six.
    #[arg(long)]
    pub one_voice: bool,
    /// FSDD clips to use: `test` (indices 0-4, 300 clips) or `all` (3000).
    #[arg(long, default_value = "test")]
    pub fsdd: String,
    /// Do not load the telephone MLLR transform (the plain Debian model).
    #[arg(long)]
    pub no_mllr: bool,
    /// Also decode the espeak-ng clips with the full trigram language model (the comparison
    /// behind "grammars are the default").
    #[arg(long)]
    pub lm: bool,
    /// Write confusion matrices (PNG) for yes/no and digits into this folder.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print every clip's result too.
    #[arg(long)]
    pub verbose: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct AdaptDataArgs {
    /// LibriSpeech folder (`transcripts.txt`, `<spk>/<utt>.flac`).
    #[arg(long, default_value = "../shared/data/librispeech-dev")]
    pub librispeech: PathBuf,
    /// Output folder (created): `raw/<utt>.raw`, `adapt.fileids`, `adapt.transcription`.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(c: SpeechCmd) -> anyhow::Result<()> {
    match c {
        SpeechCmd::Say(a) => say(a),
        SpeechCmd::Recognize(a) => recognize(a),
        SpeechCmd::Eval(a) => run_eval(a),
        SpeechCmd::AdaptData(a) => adapt_data(a),
    }
}

fn say(a: SayArgs) -> anyhow::Result<()> {
    let tts = EspeakSynthesizer::new(EspeakSettings {
        voice: a.voice,
        rate_wpm: a.wpm,
        ssml: if a.segments {
            SsmlRendering::Segments
        } else {
            SsmlRendering::Native
        },
        ..Default::default()
    })?;
    let input = if a.ssml {
        SpeechInput::Ssml(&a.text)
    } else {
        SpeechInput::Text(&a.text)
    };
    let p = tts.synthesize(input, a.rate)?;
    std::fs::write(&a.out, p.to_wav()).with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "{}: {} ms at {} Hz",
        a.out.display(),
        p.duration_ms(),
        p.sample_rate
    );
    Ok(())
}

/// The engine, with the telephone MLLR transform written next to the system temp files.
fn engine(no_mllr: bool, lm: bool) -> anyhow::Result<SphinxEngine> {
    let mllr = if no_mllr {
        None
    } else {
        let path =
            std::env::temp_dir().join(format!("tympan-telephone-{}.mllr", std::process::id()));
        std::fs::write(&path, TELEPHONE_MLLR)
            .with_context(|| format!("writing {}", path.display()))?;
        Some(path)
    };
    Ok(SphinxEngine::new(SphinxConfig {
        mllr,
        language_model: lm.then(|| DEFAULT_LM.into()),
        ..Default::default()
    })?)
}

fn read_i16(path: &Path, rate: Option<u32>) -> anyhow::Result<(Vec<i16>, u32)> {
    let audio = tympan_audio::decode::read_file_mono(path, None)?;
    let mut x = audio.channels.into_iter().next().unwrap_or_default();
    let mut r = audio.sample_rate;
    if let Some(to) = rate {
        if to != r {
            x = tympan_audio::resample::resample(&x, r, to)?;
            r = to;
        }
    }
    Ok((
        x.iter()
            .map(|&v| tympan_audio::pcm::f32_to_i16(v))
            .collect(),
        r,
    ))
}

fn recognize(a: RecognizeArgs) -> anyhow::Result<()> {
    let t: AnswerType = a.answer_type.parse()?;
    let eng = engine(a.no_mllr, false)?;
    let (samples, rate) = if a.wideband {
        read_i16(&a.file, Some(16000))?
    } else {
        let (s, r) = read_i16(&a.file, None)?;
        (eval::telephone(&s, r)?, 8000)
    };
    let audio = eval::pad(&samples, rate, eval::PAD_BEFORE_MS, eval::PAD_AFTER_MS);
    let mut rec = eng.recognizer(Search::Grammar(t), rate, &EndpointConfig::default())?;
    for c in audio.chunks((rate / 50) as usize) {
        rec.push(c)?;
    }
    let out = rec.finish()?;
    if a.json {
        let v = match &out {
            Outcome::Recognized(r) => serde_json::json!({
                "result": "recognized", "transcript": r.transcript, "confidence": r.confidence,
                "score": r.score, "start_ms": r.start_ms, "end_ms": r.end_ms,
                "truncated": r.truncated, "repeat": r.is_repeat,
            }),
            Outcome::NoMatch {
                start_ms, end_ms, ..
            } => serde_json::json!({
                "result": "no_match", "start_ms": start_ms, "end_ms": end_ms,
            }),
            Outcome::NoSpeech { at_ms } => {
                serde_json::json!({"result": "no_speech", "at_ms": at_ms})
            }
        };
        super::print_json(&v)
    } else {
        match out {
            Outcome::Recognized(r) => println!(
                "{}\t({:.0}-{:.0} ms{})",
                r.transcript,
                r.start_ms,
                r.end_ms,
                if r.is_repeat { ", repeat" } else { "" }
            ),
            o => println!("{o:?}"),
        }
        Ok(())
    }
}

/// The real-recording clips found under `data` (nothing when a folder is absent).
fn data_clips(data: &Path, fsdd_all: bool) -> anyhow::Result<(Vec<Clip>, Vec<String>)> {
    let mut clips = Vec::new();
    let mut missing = Vec::new();
    let sc = data.join("speech-commands-yesno");
    let csv = sc.join("files.csv");
    if csv.exists() {
        let text =
            std::fs::read_to_string(&csv).with_context(|| format!("reading {}", csv.display()))?;
        for (i, line) in text.lines().enumerate().skip(1) {
            let mut f = line.split(',');
            let (Some(file), Some(word)) = (f.next(), f.next()) else {
                bail!("{}: line {}: expected file,word,...", csv.display(), i + 1);
            };
            let Some((t, expected)) = speech_commands_label(word) else {
                continue;
            };
            let path = sc.join(file);
            let (samples, rate) =
                read_i16(&path, None).with_context(|| path.display().to_string())?;
            let group = if t == AnswerType::YesNo {
                "speech-commands yes/no"
            } else {
                "speech-commands digits"
            };
            clips.push(Clip {
                id: file.to_string(),
                group: group.into(),
                answer_type: t,
                expected: expected.into(),
                samples,
                sample_rate: rate,
            });
        }
    } else {
        missing.push(csv.display().to_string());
    }
    let rec = data.join("fsdd").join("recordings");
    if rec.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&rec)?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        names.sort();
        for name in names {
            let Some((digit, test)) = fsdd_label(&name) else {
                continue;
            };
            if !test && !fsdd_all {
                continue;
            }
            let path = rec.join(&name);
            let (samples, rate) =
                read_i16(&path, None).with_context(|| path.display().to_string())?;
            clips.push(Clip {
                id: name,
                group: "fsdd digits".into(),
                answer_type: AnswerType::Number,
                expected: digit.into(),
                samples,
                sample_rate: rate,
            });
        }
    } else {
        missing.push(rec.display().to_string());
    }
    Ok((clips, missing))
}

#[derive(serde::Serialize)]
struct Row {
    group: String,
    answer_type: String,
    n: usize,
    correct: usize,
    accuracy: f64,
    exact: usize,
}

fn rows(results: &[ClipResult]) -> Vec<Row> {
    summarize(results)
        .into_iter()
        .map(|s| Row {
            accuracy: s.accuracy(),
            group: s.group,
            answer_type: s.answer_type.to_string(),
            n: s.n,
            correct: s.correct,
            exact: s.exact,
        })
        .collect()
}

fn print_table(title: &str, rows: &[Row]) {
    println!("{title}");
    println!(
        "{:<28} {:<8} {:>5} {:>8} {:>9} {:>6}",
        "group", "type", "n", "correct", "accuracy", "exact"
    );
    for r in rows {
        println!(
            "{:<28} {:<8} {:>5} {:>8} {:>8.1}% {:>6}",
            r.group,
            r.answer_type,
            r.n,
            r.correct,
            100.0 * r.accuracy,
            r.exact
        );
    }
}

fn run_eval(a: EvalArgs) -> anyhow::Result<()> {
    let eng = engine(a.no_mllr, a.lm)?;
    let voices = if a.one_voice {
        &ESPEAK_VOICES[..1]
    } else {
        ESPEAK_VOICES
    };
    let mut clips = espeak_clips(voices, ESPEAK_PHRASES)?;
    let (data, missing) = data_clips(&a.data, a.fsdd == "all")?;
    for m in &missing {
        eprintln!("SKIP: {m} not found");
    }
    clips.extend(data);

    let started = Instant::now();
    let mut results = Vec::with_capacity(clips.len());
    for c in &clips {
        results.push(run_grammar_clip(&eng, c)?);
    }
    let cpu_s = started.elapsed().as_secs_f64();
    let audio_s: f64 = results.iter().map(|r| r.audio_ms).sum::<f64>() / 1000.0;

    let mut lm_results = Vec::new();
    if a.lm {
        for c in clips.iter().filter(|c| c.group.starts_with("espeak")) {
            let rec: Box<dyn Recognizer> = Box::new(eng.recognizer(
                Search::LanguageModel,
                8000,
                &EndpointConfig::default(),
            )?);
            let mut r = run_clip(rec, c)?;
            r.group = format!("LM {}", r.group);
            // The language model spells "okay" as "ok"; count both.
            if let Some(g) = &r.got {
                let norm = g.replace("ok", "okay").replace("okayay", "okay");
                r.exact = norm == r.expected;
                r.correct = same_answer(r.answer_type, &norm, &r.expected);
            }
            lm_results.push(r);
        }
    }

    if let Some(dir) = &a.plot {
        std::fs::create_dir_all(dir)?;
        for (group, labels, file) in [
            (
                "speech-commands yes/no",
                &["yes", "no"][..],
                "confusion-yesno.png",
            ),
            ("fsdd digits", &DIGIT_WORDS[..], "confusion-fsdd.png"),
        ] {
            let m = confusion(&results, group, labels);
            if m.iter().flatten().sum::<usize>() == 0 {
                continue;
            }
            // Square matrix for the plot: the "other" column becomes an extra row and column.
            let n = labels.len() + 1;
            let mut sq = vec![vec![0usize; n]; n];
            for (i, row) in m.iter().enumerate() {
                sq[i][..n].copy_from_slice(row);
            }
            let mut names: Vec<&str> = labels.to_vec();
            names.push("other");
            let path = dir.join(file);
            tympan_plot::confusion_matrix(&path, &sq, &names, group)?;
            eprintln!("wrote {}", path.display());
        }
    }

    let table = rows(&results);
    let lm_table = rows(&lm_results);
    let rtf = cpu_s / audio_s;
    if a.json {
        let v = serde_json::json!({
            "mllr": !a.no_mllr,
            "summary": table,
            "language_model": lm_table,
            "skipped": missing,
            "clips": results.len(),
            "audio_s": audio_s,
            "decode_s": cpu_s,
            "real_time_factor": rtf,
            "results": if a.verbose { serde_json::to_value(results.iter().map(|r| serde_json::json!({
                "id": r.id, "group": r.group, "type": r.answer_type, "expected": r.expected, "got": r.got, "correct": r.correct,
            })).collect::<Vec<_>>())? } else { serde_json::Value::Null },
        });
        super::print_json(&v)
    } else {
        if a.verbose {
            for r in results.iter().chain(&lm_results).filter(|r| !r.correct) {
                println!(
                    "MISS {:<40} expected {:?} got {:?}",
                    r.id, r.expected, r.got
                );
            }
        }
        print_table(
            &format!(
                "grammar recognition, 8 kHz µ-law (MLLR: {})",
                if a.no_mllr { "off" } else { "on" }
            ),
            &table,
        );
        if !lm_table.is_empty() {
            print_table("full language model, same espeak-ng clips", &lm_table);
        }
        println!(
            "{} clips, {:.1} s of audio (with padding) decoded in {:.1} s on one core: real-time factor {:.3}",
            results.len(),
            audio_s,
            cpu_s,
            rtf
        );
        Ok(())
    }
}

fn adapt_data(a: AdaptDataArgs) -> anyhow::Result<()> {
    let eng = engine(true, false)?;
    let transcripts = a.librispeech.join("transcripts.txt");
    let text = std::fs::read_to_string(&transcripts)
        .with_context(|| format!("reading {}", transcripts.display()))?;
    let raw = a.out.join("raw");
    std::fs::create_dir_all(&raw)?;
    let mut ids = String::new();
    let mut trans = String::new();
    let (mut kept, mut oov) = (0, 0);
    for (i, line) in text.lines().enumerate() {
        let Some((utt, words)) = line.split_once(' ') else {
            bail!(
                "{}: line {}: expected `UTT-ID WORDS`",
                transcripts.display(),
                i + 1
            );
        };
        let words = words.to_lowercase();
        if !words.split_whitespace().all(|w| eng.has_word(w)) {
            oov += 1;
            continue;
        }
        let spk = utt.split('-').next().unwrap_or("");
        let path = a.librispeech.join(spk).join(format!("{utt}.flac"));
        let (samples, rate) = read_i16(&path, None).with_context(|| path.display().to_string())?;
        let call = eval::telephone(&samples, rate)?;
        let model = tympan_speech::asr::sphinx::model_audio(&call, 8000)?;
        let bytes: Vec<u8> = model.iter().flat_map(|s| s.to_le_bytes()).collect();
        std::fs::write(raw.join(format!("{utt}.raw")), bytes)?;
        ids.push_str(utt);
        ids.push('\n');
        trans.push_str(&format!("<s> {words} </s> ({utt})\n"));
        kept += 1;
    }
    std::fs::write(a.out.join("adapt.fileids"), ids)?;
    std::fs::write(a.out.join("adapt.transcription"), trans)?;
    eprintln!(
        "{kept} utterances written to {} ({oov} skipped: a word is not in the dictionary)",
        a.out.display()
    );
    Ok(())
}
