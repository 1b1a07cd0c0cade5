//! In-memory audio and the crate-wide error type.

use std::fmt;

/// Decoded audio, planar: one `Vec<f32>` per channel, samples in [-1.0, 1.0]
/// (int16 `x` maps to `x / 32768.0`).
#[derive(Clone, Debug, PartialEq)]
pub struct Audio {
    pub sample_rate: u32,
    pub channels: Vec<Vec<f32>>,
}

impl Audio {
    /// One-channel audio.
    pub fn mono(sample_rate: u32, samples: Vec<f32>) -> Self {
        Audio {
            sample_rate,
            channels: vec![samples],
        }
    }

    /// Number of sample frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        if self.sample_rate == 0 {
            0.0
        } else {
            self.frames() as f64 / self.sample_rate as f64
        }
    }

    /// Average of all channels.
    pub fn downmix(&self) -> Vec<f32> {
        match self.channels.len() {
            0 => Vec::new(),
            1 => self.channels[0].clone(),
            n => {
                let scale = 1.0 / n as f32;
                (0..self.frames())
                    .map(|i| self.channels.iter().map(|c| c[i]).sum::<f32>() * scale)
                    .collect()
            }
        }
    }
}

/// Cuts a stream that arrives in chunks of any size into frames of a fixed length (the
/// remainder waits for the next chunk). Whole frames inside a chunk are handed out without
/// copying.
#[derive(Debug, Clone, Default)]
pub struct Framer {
    len: usize,
    buf: Vec<f32>,
}

impl Framer {
    /// Frames of `len` samples (at least 1).
    pub fn new(len: usize) -> Self {
        let len = len.max(1);
        Framer {
            len,
            buf: Vec::with_capacity(len),
        }
    }

    /// Frame length in samples.
    pub fn frame_len(&self) -> usize {
        self.len
    }

    /// Samples waiting for the rest of their frame.
    pub fn pending(&self) -> &[f32] {
        &self.buf
    }

    /// Feed samples; `on_frame` gets every frame completed by them, in order.
    pub fn push(&mut self, samples: &[f32], mut on_frame: impl FnMut(&[f32])) {
        let mut rest = samples;
        if !self.buf.is_empty() {
            let take = (self.len - self.buf.len()).min(rest.len());
            self.buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.buf.len() < self.len {
                return;
            }
            on_frame(&self.buf);
            self.buf.clear();
        }
        let mut frames = rest.chunks_exact(self.len);
        for f in &mut frames {
            on_frame(f);
        }
        self.buf.extend_from_slice(frames.remainder());
    }
}

/// Convert a float sample in [-1, 1] to int16 with rounding and saturation.
pub fn f32_to_i16(x: f32) -> i16 {
    let v = (x * 32768.0).round();
    v.clamp(-32768.0, 32767.0) as i16
}

/// Convert an int16 sample to float in [-1, 1).
pub fn i16_to_f32(x: i16) -> f32 {
    x as f32 / 32768.0
}

/// Every error the audio core reports. Messages name the file (when known), the byte offset
/// or the field that was wrong, so a user can find the problem.
///
/// Each message is complete in its `Display`: no variant reports an error `source()`, so
/// printing the chain (e.g. anyhow's `{:#}`) shows every cause exactly once.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// An error while reading the file at `path`.
    #[error("{path}: {error}")]
    InFile {
        path: String,
        error: Box<AudioError>,
    },
    #[error("empty input: 0 bytes")]
    Empty,
    #[error("input is {size} bytes, above the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("not an audio file: {0}")]
    NotAudio(String),
    #[error("truncated at byte {offset}: {what}")]
    Truncated { offset: u64, what: String },
    #[error("malformed at byte {offset}: {what}")]
    Malformed { offset: u64, what: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("no audio samples in input")]
    NoSamples,
    #[error("invalid parameter {name}: {why}")]
    InvalidParam { name: &'static str, why: String },
    #[error("I/O: {0}")]
    Io(std::io::Error),
}

// Not `#[from]`: that would also make the I/O error the `source()`, and its text would be
// printed twice by error-chain formatters.
impl From<std::io::Error> for AudioError {
    fn from(e: std::io::Error) -> Self {
        AudioError::Io(e)
    }
}

impl AudioError {
    /// Attach a file path to an error.
    pub fn in_file(self, path: impl fmt::Display) -> AudioError {
        AudioError::InFile {
            path: path.to_string(),
            error: Box::new(self),
        }
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn framer_gives_the_same_frames_whatever_the_chunks() {
        let x: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let expect: Vec<Vec<f32>> = x.chunks_exact(80).map(|c| c.to_vec()).collect();
        for chunk in [1, 7, 79, 80, 81, 160, 333, 1000] {
            let mut f = Framer::new(80);
            let mut got = Vec::new();
            for c in x.chunks(chunk) {
                f.push(c, |fr| got.push(fr.to_vec()));
            }
            assert_eq!(got, expect, "chunk {chunk}");
            assert_eq!(f.pending(), &x[960..], "chunk {chunk}");
        }
        assert_eq!(Framer::new(0).frame_len(), 1);
    }

    use super::*;
    use std::error::Error;

    /// Walk `Display` of the error and its `source()` chain the way anyhow's `{:#}` does.
    fn chain(e: &dyn Error) -> String {
        let mut s = e.to_string();
        let mut cur = e.source();
        while let Some(c) = cur {
            s.push_str(": ");
            s.push_str(&c.to_string());
            cur = c.source();
        }
        s
    }

    #[test]
    fn in_file_message_names_path_and_cause_once() {
        let e = AudioError::NotAudio("starts with text".into()).in_file("calls/a.wav");
        let text = chain(&e);
        assert_eq!(text, "calls/a.wav: not an audio file: starts with text");
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let e = AudioError::from(io).in_file("b.wav");
        let text = chain(&e);
        assert_eq!(text, "b.wav: I/O: no such file");
        assert_eq!(text.matches("no such file").count(), 1);
    }
}
