//! The audio the calls stream: recordings from a directory, decoded and resampled to the
//! stream rate, as 16-bit samples.

use crate::LoadError;
use std::path::{Path, PathBuf};

/// File extensions read from a clip directory.
pub const AUDIO_EXTENSIONS: &[&str] = &["wav", "flac", "mp3", "ogg"];
/// Most directory levels searched below the clip directory.
pub const MAX_DIR_DEPTH: usize = 6;

/// One recording at the stream rate.
#[derive(Clone, Debug)]
pub struct Clip {
    /// Where it came from (file path, or a name for synthesised audio).
    pub name: String,
    /// Mono 16-bit samples at the stream rate.
    pub pcm: Vec<i16>,
}

impl Clip {
    /// A clip from float samples in [-1, 1] (values outside are clipped).
    pub fn from_f32(name: impl Into<String>, x: &[f32]) -> Self {
        Clip {
            name: name.into(),
            pcm: x
                .iter()
                .map(|&v| (v * 32768.0).round().clamp(-32768.0, 32767.0) as i16)
                .collect(),
        }
    }
}

fn collect(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let rd =
        std::fs::read_dir(dir).map_err(|e| LoadError::Clips(format!("{}: {e}", dir.display())))?;
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            if depth < MAX_DIR_DEPTH {
                collect(&p, depth + 1, out)?;
            }
        } else if p
            .extension()
            .and_then(|x| x.to_str())
            .is_some_and(|x| AUDIO_EXTENSIONS.iter().any(|a| x.eq_ignore_ascii_case(a)))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// Up to `max_files` recordings under `dir` (sorted by path, so runs are repeatable), mono,
/// resampled to `rate`, each cut to `max_s` seconds.
pub fn load_dir(
    dir: &Path,
    rate: u32,
    max_files: usize,
    max_s: f64,
) -> Result<Vec<Clip>, LoadError> {
    let mut files = Vec::new();
    collect(dir, 0, &mut files)?;
    files.sort();
    files.truncate(max_files);
    if files.is_empty() {
        return Err(LoadError::Clips(format!(
            "{}: no audio files ({})",
            dir.display(),
            AUDIO_EXTENSIONS.join(", ")
        )));
    }
    let max_samples = (max_s * f64::from(rate)) as usize;
    let mut clips = Vec::with_capacity(files.len());
    for f in files {
        let a = tympan_audio::decode::read_file_mono(&f, None)
            .map_err(|e| LoadError::Clips(format!("{}: {e}", f.display())))?;
        let mono = a.channels.into_iter().next().unwrap_or_default();
        let x = if a.sample_rate == rate {
            mono
        } else {
            tympan_audio::resample::resample(&mono, a.sample_rate, rate)
                .map_err(|e| LoadError::Clips(format!("{}: {e}", f.display())))?
        };
        let mut c = Clip::from_f32(f.display().to_string(), &x);
        c.pcm.truncate(max_samples);
        clips.push(c);
    }
    Ok(clips)
}
