//! Streaming mono input for the detector subcommands: decode a file block by block
//! ([`AudioReader`]), down-mix each block, and resample on the fly when the detector does not
//! take the file's rate. Memory stays bounded however long the file is.

use anyhow::Context;
use std::path::{Path, PathBuf};
use tympan_audio::decode::AudioReader;
use tympan_audio::resample::StreamResampler;
use tympan_audio::Audio;

/// Mono blocks of a file at a rate the consumer accepts.
pub struct MonoStream {
    path: PathBuf,
    reader: AudioReader,
    file_rate: u32,
    resampler: Option<StreamResampler>,
    done: bool,
}

impl MonoStream {
    /// Open `path`. If `accepts(file_rate)` is false the audio is resampled to `fallback` Hz.
    pub fn open(path: &Path, accepts: impl Fn(u32) -> bool, fallback: u32) -> anyhow::Result<Self> {
        let reader = AudioReader::open(path)?;
        let file_rate = reader.info().sample_rate;
        let resampler = if accepts(file_rate) {
            None
        } else {
            Some(
                StreamResampler::new(file_rate, fallback)
                    .map_err(|e| e.in_file(path.display()))
                    .with_context(|| format!("resampling {file_rate} Hz to {fallback} Hz"))?,
            )
        };
        Ok(MonoStream {
            path: path.to_path_buf(),
            reader,
            file_rate,
            resampler,
            done: false,
        })
    }

    /// `"<file rate> Hz (analysed at <rate> Hz)"` when the stream is resampled.
    pub fn resampling_note(&self) -> Option<String> {
        (self.rate() != self.file_rate)
            .then(|| format!("{} Hz (analysed at {} Hz)", self.file_rate, self.rate()))
    }

    /// Sample rate of the blocks returned by [`next_block`](Self::next_block).
    pub fn rate(&self) -> u32 {
        self.resampler
            .as_ref()
            .map_or(self.file_rate, StreamResampler::to_rate)
    }

    /// Next mono block (possibly empty while the resampler fills), `None` at the end.
    pub fn next_block(&mut self) -> anyhow::Result<Option<Vec<f32>>> {
        if self.done {
            return Ok(None);
        }
        let block = self
            .reader
            .next_block()
            .map_err(|e| e.in_file(self.path.display()))?;
        let Some(channels) = block else {
            self.done = true;
            return Ok(self.resampler.as_mut().map(StreamResampler::flush));
        };
        let mono = Audio {
            sample_rate: self.file_rate,
            channels,
        }
        .downmix();
        Ok(Some(match self.resampler.as_mut() {
            Some(r) => r.push(&mono),
            None => mono,
        }))
    }
}

/// Round a time in ms to 0.1 ms for printing.
pub fn round_ms(ms: f64) -> f64 {
    (ms * 10.0).round() / 10.0
}
