//! `tympan features FILE --kind melspectrogram|mfcc|fbank`: spectral features as JSON.

use anyhow::bail;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;
use tympan_audio::decode;
use tympan_audio::features::{
    fbank, FbankOptions, FeatureMatrix, MelParams, MelSpectrogram, Mfcc, MfccParams,
};
use tympan_audio::resample::resample;

/// Which feature to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// librosa.feature.melspectrogram (power), layout [n_mels, frames].
    Melspectrogram,
    /// librosa.feature.mfcc, layout [n_mfcc, frames].
    Mfcc,
    /// Kaldi log-mel filterbank (kaldi_native_fbank defaults, dither 0), layout [frames, bins].
    Fbank,
}

#[derive(Args)]
#[command(
    after_help = "Defaults equal librosa's (n_fft 2048, hop 512, win_length = n_fft, 128 Slaney \
    mels over [0, sr/2], centred frames, power 2, n_mfcc 20, power_to_db ref 1 / amin 1e-10 / \
    top_db 80). fbank uses Kaldi defaults (25 ms Povey window, 10 ms shift, pre-emphasis 0.97, \
    low 20 Hz, high Nyquist) with 80 bins; --n-mels, --fmin and --fmax set its bins and edges. \
    Multi-channel input is averaged to mono, like librosa.load."
)]
pub struct FeaturesArgs {
    /// Input audio file (WAV, MP3, FLAC, Ogg/Vorbis; decoded whole, up to 4 hours).
    pub file: PathBuf,
    /// Feature to compute.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Resample to this rate (Hz) before analysis, like librosa.load(sr=N). Default: the file's
    /// native rate (librosa.load(sr=None)) — note that librosa.load's own default is 22050.
    #[arg(long)]
    pub sample_rate: Option<u32>,
    /// Number of MFCC coefficients (mfcc only; default 20).
    #[arg(long)]
    pub n_mfcc: Option<usize>,
    /// FFT size (librosa kinds; default 2048).
    #[arg(long)]
    pub n_fft: Option<usize>,
    /// Window length in samples, at most n_fft (librosa kinds; default n_fft).
    #[arg(long)]
    pub win_length: Option<usize>,
    /// Hop between frames in samples (librosa kinds; default 512).
    #[arg(long)]
    pub hop_length: Option<usize>,
    /// Number of mel bands (default 128; fbank: number of bins, default 80).
    #[arg(long)]
    pub n_mels: Option<usize>,
    /// Lowest mel edge in Hz (default 0; fbank 20).
    #[arg(long)]
    pub fmin: Option<f32>,
    /// Highest mel edge in Hz (default sr/2).
    #[arg(long)]
    pub fmax: Option<f32>,
    /// Output the mean over frames instead of the matrix (shape [bands] or [bins]).
    #[arg(long)]
    pub mean: bool,
    /// Print {"shape": [..], "values": [..]} (row-major) instead of a summary.
    #[arg(long)]
    pub json: bool,
}

/// Features in the fixtures' layout: `shape` and row-major `values`.
#[derive(serde::Serialize)]
struct Output {
    shape: Vec<usize>,
    values: Vec<f32>,
}

impl Output {
    fn matrix(m: FeatureMatrix) -> Output {
        Output {
            shape: vec![m.rows, m.cols],
            values: m.values,
        }
    }

    fn vector(v: Vec<f32>) -> Output {
        Output {
            shape: vec![v.len()],
            values: v,
        }
    }
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Melspectrogram => "melspectrogram",
            Kind::Mfcc => "mfcc",
            Kind::Fbank => "fbank",
        }
    }
}

/// Reject options that do not apply to the chosen kind (silently ignoring them would
/// produce features the user did not ask for).
fn check_options(a: &FeaturesArgs) -> anyhow::Result<()> {
    if a.kind != Kind::Mfcc && a.n_mfcc.is_some() {
        bail!("--n-mfcc only applies to --kind mfcc");
    }
    if a.kind == Kind::Fbank {
        for (set, name) in [
            (a.n_fft.is_some(), "--n-fft"),
            (a.win_length.is_some(), "--win-length"),
            (a.hop_length.is_some(), "--hop-length"),
        ] {
            if set {
                bail!("{name} does not apply to --kind fbank (25 ms frames every 10 ms)");
            }
        }
    }
    Ok(())
}

fn mel_params(a: &FeaturesArgs, sr: u32) -> MelParams {
    let mut p = MelParams::librosa_default(sr);
    if let Some(n) = a.n_fft {
        p.n_fft = n;
        p.win_length = n;
    }
    if let Some(w) = a.win_length {
        p.win_length = w;
    }
    if let Some(h) = a.hop_length {
        p.hop_length = h;
    }
    if let Some(n) = a.n_mels {
        p.n_mels = n;
    }
    if let Some(f) = a.fmin {
        p.fmin = f;
    }
    p.fmax = a.fmax;
    p
}

fn compute(a: &FeaturesArgs, y: &[f32], sr: u32) -> anyhow::Result<Output> {
    let no_frames = || anyhow::anyhow!("{}: too short for one frame", a.file.display());
    Ok(match a.kind {
        Kind::Melspectrogram => {
            let m = MelSpectrogram::new(mel_params(a, sr))?.compute(y);
            if !a.mean {
                Output::matrix(m)
            } else if m.cols == 0 {
                return Err(no_frames());
            } else {
                Output::vector(m.row_means())
            }
        }
        Kind::Mfcc => {
            let mut p = MfccParams::librosa_default(sr);
            p.mel = mel_params(a, sr);
            if let Some(n) = a.n_mfcc {
                p.n_mfcc = n;
            }
            let mut m = Mfcc::new(p)?;
            if !a.mean {
                Output::matrix(m.compute(y))
            } else {
                let v = m.compute_mean(y);
                if v.iter().any(|x| x.is_nan()) {
                    return Err(no_frames());
                }
                Output::vector(v)
            }
        }
        Kind::Fbank => {
            let mut o = FbankOptions::new(sr as f32);
            if let Some(n) = a.n_mels {
                o.num_mel_bins = n;
            }
            if let Some(f) = a.fmin {
                o.low_freq = f;
            }
            if let Some(f) = a.fmax {
                o.high_freq = f;
            }
            let m = fbank(y, &o)?;
            if !a.mean {
                Output::matrix(m)
            } else if m.rows == 0 {
                return Err(no_frames());
            } else {
                // Mean over frames (rows) of each bin (column).
                let mut sums = vec![0.0f64; m.cols];
                for r in 0..m.rows {
                    for (s, &v) in sums.iter_mut().zip(m.row(r)) {
                        *s += v as f64;
                    }
                }
                Output::vector(sums.iter().map(|&s| (s / m.rows as f64) as f32).collect())
            }
        }
    })
}

pub fn run(a: FeaturesArgs) -> anyhow::Result<()> {
    check_options(&a)?;
    let audio = decode::read_file(&a.file)?;
    let mut y = audio.downmix();
    let mut sr = audio.sample_rate;
    if let Some(target) = a.sample_rate {
        if target != sr {
            y = resample(&y, sr, target).map_err(|e| e.in_file(a.file.display()))?;
            sr = target;
        }
    }
    let out = compute(&a, &y, sr)?;
    if a.json {
        // Compact: a matrix has up to millions of values.
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        serde_json::to_writer(&mut w, &out)?;
        writeln!(w)?;
        w.flush()?;
        return Ok(());
    }
    let (min, max) = out
        .values
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let layout = match (a.mean, a.kind) {
        (true, Kind::Fbank) => "[bins]",
        (true, _) => "[bands]",
        (false, Kind::Fbank) => "[frames, bins]",
        (false, _) => "[bands, frames]",
    };
    println!("file:   {}", a.file.display());
    println!("kind:   {}", a.kind.name());
    println!("rate:   {sr} Hz");
    println!("shape:  {:?} {layout}", out.shape);
    if out.values.is_empty() {
        println!("values: none (input shorter than one frame)");
    } else {
        println!("min:    {min}");
        println!("max:    {max}");
    }
    Ok(())
}
