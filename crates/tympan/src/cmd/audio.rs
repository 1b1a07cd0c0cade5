//! `tympan audio info|convert`.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tympan_audio::decode::{self, AudioInfo};
use tympan_audio::levels::{levels, Levels};
use tympan_audio::resample::resample_audio;
use tympan_audio::wav_write::{encode_wav, Codec};
use tympan_audio::Audio;

#[derive(Subcommand)]
pub enum AudioCmd {
    /// Format, encoding, rate, channels, duration, peak/RMS level.
    Info(InfoArgs),
    /// Convert any supported input to WAV (PCM16, µ-law or A-law), optionally resampled/mono.
    Convert(ConvertArgs),
}

#[derive(Args)]
pub struct InfoArgs {
    /// Input audio file (WAV, MP3, FLAC, Ogg/Vorbis; detected from its content).
    pub file: PathBuf,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ConvertArgs {
    /// Input audio file.
    pub input: PathBuf,
    /// Output WAV file.
    pub output: PathBuf,
    /// Output sample rate in Hz (default: the input rate).
    #[arg(long)]
    pub rate: Option<u32>,
    /// Output channels: 1 down-mixes (or picks `--channel`); default keeps all channels.
    #[arg(long)]
    pub channels: Option<usize>,
    /// With `--channels 1`, take this input channel (0-based) instead of the down-mix.
    #[arg(long)]
    pub channel: Option<usize>,
    /// Output encoding: pcm16, ulaw or alaw.
    #[arg(long, default_value = "pcm16")]
    pub codec: String,
}

#[derive(serde::Serialize)]
struct InfoReport<'a> {
    file: String,
    #[serde(flatten)]
    info: &'a AudioInfo,
    duration_s: f64,
    #[serde(flatten)]
    levels: Levels,
}

/// The audio error as one message (its Display already includes the file and the cause,
/// so the source chain must not be printed again).
fn plain(e: tympan_audio::AudioError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

fn db(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2} dBFS")
    } else {
        "-inf dBFS (digital silence)".into()
    }
}

fn info(a: InfoArgs) -> anyhow::Result<()> {
    let mut info = decode::probe_file(&a.file).map_err(plain)?;
    let audio = decode::read_file(&a.file).map_err(plain)?;
    // Report what was decoded (headers of compressed files may not give a frame count).
    info.frames = Some(audio.frames() as u64);
    let lv = levels(&audio);
    if a.json {
        return super::print_json(&InfoReport {
            file: a.file.display().to_string(),
            info: &info,
            duration_s: audio.duration_s(),
            levels: lv,
        });
    }
    println!("file:      {}", a.file.display());
    println!("container: {}", info.container.name());
    match info.bits_per_sample {
        Some(b) => println!("encoding:  {} ({b} bits)", info.encoding),
        None => println!("encoding:  {}", info.encoding),
    }
    println!("rate:      {} Hz", audio.sample_rate);
    println!("channels:  {}", audio.channels.len());
    println!(
        "duration:  {:.3} s ({} frames)",
        audio.duration_s(),
        audio.frames()
    );
    println!("peak:      {}", db(lv.peak_dbfs));
    println!("rms:       {}", db(lv.rms_dbfs));
    Ok(())
}

fn convert(a: ConvertArgs) -> anyhow::Result<()> {
    let Some(codec) = Codec::parse(&a.codec) else {
        bail!("--codec {}: expected pcm16, ulaw or alaw", a.codec);
    };
    let mut audio = decode::read_file(&a.input).map_err(plain)?;
    match a.channels {
        None => {
            if a.channel.is_some() {
                bail!("--channel needs --channels 1");
            }
        }
        Some(1) => {
            let mono = decode::select_channel(&audio, a.channel)
                .map_err(|e| plain(e.in_file(a.input.display())))?;
            audio = Audio::mono(audio.sample_rate, mono);
        }
        Some(n) if n == audio.channels.len() => {}
        Some(n) => bail!(
            "--channels {n}: only 1 (down-mix/select) or the input's {} is supported",
            audio.channels.len()
        ),
    }
    if let Some(rate) = a.rate {
        if rate != audio.sample_rate {
            audio = resample_audio(&audio, rate).map_err(plain)?;
        }
    }
    let bytes = encode_wav(&audio, codec);
    std::fs::write(&a.output, bytes).with_context(|| format!("writing {}", a.output.display()))?;
    Ok(())
}

pub fn run(cmd: AudioCmd) -> anyhow::Result<()> {
    match cmd {
        AudioCmd::Info(a) => info(a),
        AudioCmd::Convert(a) => convert(a),
    }
}
