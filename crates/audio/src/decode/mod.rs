//! Audio decoding: WAV (own RIFF parser), MP3, FLAC and Ogg/Vorbis (symphonia).
//!
//! The container is detected from magic bytes, never from the file extension.
//!
//! Three ways in:
//! - whole input: [`decode_bytes`] / [`read_file`] (limited by [`MAX_INPUT_BYTES`] and
//!   [`MAX_DURATION_S`]);
//! - push-based, sans I/O: [`WavStreamDecoder`] (`push(&[u8])` → planar frames);
//! - pull-based over any `Read`: [`AudioReader`], an iterator of planar blocks with no duration
//!   limit, so a two-hour recording never has to be held in memory.
//!
//! Every path reports errors instead of panicking, and zero decoded samples is an error.

mod compressed;
pub mod wav;

pub use wav::{WavEncoding, WavFormat, WavStreamDecoder};

use crate::{Audio, AudioError};
use compressed::CompressedStream;
use std::io::{Cursor, Read};
use std::path::Path;

/// Largest input accepted by whole-file decoding ([`decode_bytes`], [`read_file`]): 1 GiB.
/// Use [`AudioReader`] for bigger files.
pub const MAX_INPUT_BYTES: u64 = 1 << 30;

/// Longest audio accepted by whole-file decoding, in seconds (4 hours). Use [`AudioReader`]
/// for longer recordings.
pub const MAX_DURATION_S: f64 = 4.0 * 3600.0;

/// Bytes read from the source per step by [`AudioReader`] for WAV input (64 KiB).
pub const READ_BLOCK_BYTES: usize = 64 * 1024;

/// Bytes handed to the WAV decoder per step by whole-file decoding (1 MiB), so that the
/// duration limit is checked before much memory is used.
const WHOLE_FILE_STEP_BYTES: usize = 1 << 20;

/// Container format, detected from magic bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Container {
    /// RIFF/WAVE.
    Wav,
    /// MPEG-1/2 Layer III (with or without an ID3v2 tag).
    Mp3,
    /// Native FLAC.
    Flac,
    /// Ogg (Vorbis).
    Ogg,
}

impl Container {
    /// Lower-case name (`wav`, `mp3`, `flac`, `ogg`).
    pub fn name(self) -> &'static str {
        match self {
            Container::Wav => "wav",
            Container::Mp3 => "mp3",
            Container::Flac => "flac",
            Container::Ogg => "ogg",
        }
    }
}

/// What a file holds, from its headers.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AudioInfo {
    /// Container format.
    pub container: Container,
    /// Sample encoding or codec: `pcm_u8`, `pcm_s16le`, `pcm_s24le`, `pcm_s32le`, `float32le`,
    /// `float64le`, `mulaw`, `alaw`, `mp3`, `flac`, `vorbis`.
    pub encoding: String,
    /// Bits per sample, when the format has them.
    pub bits_per_sample: Option<u32>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Channel count.
    pub channels: usize,
    /// Frames (samples per channel), when the header says.
    pub frames: Option<u64>,
}

impl AudioInfo {
    /// Duration in seconds, when the frame count is known.
    pub fn duration_s(&self) -> Option<f64> {
        self.frames
            .map(|f| f as f64 / self.sample_rate.max(1) as f64)
    }

    fn from_wav(fmt: &WavFormat, data_bytes: Option<u64>) -> AudioInfo {
        AudioInfo {
            container: Container::Wav,
            encoding: fmt.encoding.name().to_string(),
            bits_per_sample: Some(fmt.bits_per_sample as u32),
            sample_rate: fmt.sample_rate,
            channels: fmt.channels as usize,
            frames: data_bytes.map(|b| b / fmt.block_align as u64),
        }
    }
}

/// Detect the container from the first bytes (at least 12 are needed for WAV).
pub fn sniff(prefix: &[u8]) -> Result<Container, AudioError> {
    let b = prefix;
    if b.is_empty() {
        return Err(AudioError::Empty);
    }
    if b.starts_with(b"RIFF") {
        if b.len() < 12 {
            return Err(AudioError::Truncated {
                offset: b.len() as u64,
                what: "expected the 12-byte RIFF/WAVE header".into(),
            });
        }
        if &b[8..12] == b"WAVE" {
            return Ok(Container::Wav);
        }
        return Err(AudioError::NotAudio(format!(
            "RIFF file of form type '{}', not WAVE",
            String::from_utf8_lossy(&b[8..12])
        )));
    }
    if b.starts_with(b"RF64") || b.starts_with(b"BW64") {
        return Err(AudioError::Unsupported(
            "RF64/BW64 WAV (64-bit sizes)".into(),
        ));
    }
    if b.starts_with(b"fLaC") {
        return Ok(Container::Flac);
    }
    if b.starts_with(b"OggS") {
        return Ok(Container::Ogg);
    }
    if b.starts_with(b"ID3") {
        return Ok(Container::Mp3);
    }
    if b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0 {
        return match (b[1] >> 1) & 0x03 {
            0b01 => Ok(Container::Mp3),
            0b00 => Err(AudioError::Unsupported("AAC in ADTS framing".into())),
            _ => Err(AudioError::Unsupported(
                "MPEG audio layer I/II (only layer III)".into(),
            )),
        };
    }
    let unsupported = |what: &str| Err(AudioError::Unsupported(format!("{what} files")));
    if b.starts_with(b"FORM") {
        return unsupported("AIFF");
    }
    if b.starts_with(b".snd") {
        return unsupported("Sun/NeXT .au");
    }
    if b.starts_with(b"caff") {
        return unsupported("Core Audio (CAF)");
    }
    if b.starts_with(b"#!AMR") {
        return unsupported("AMR");
    }
    if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return unsupported("Matroska/WebM");
    }
    if b.len() >= 8 && &b[4..8] == b"ftyp" {
        return unsupported("MP4/M4A");
    }
    Err(AudioError::NotAudio(wav::describe_bytes(b)))
}

enum Inner {
    Wav {
        src: Box<dyn Read + Send + Sync>,
        dec: WavStreamDecoder,
        buf: Vec<u8>,
        eof: bool,
    },
    Compressed(Box<CompressedStream>),
}

/// Pull-based decoder over any `Read`: yields planar blocks (one `Vec<f32>` per channel) until
/// the end. Holds only one read block at a time; no duration limit.
pub struct AudioReader {
    info: AudioInfo,
    inner: Inner,
    pending: Option<Vec<Vec<f32>>>,
    finished: bool,
}

fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> Result<usize, AudioError> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(AudioError::Io(e)),
        }
    }
    Ok(n)
}

impl AudioReader {
    /// Detect the format from the first bytes of `src` and read its headers.
    pub fn new<R: Read + Send + Sync + 'static>(mut src: R) -> Result<Self, AudioError> {
        let mut prefix = vec![0u8; 16];
        let n = read_full(&mut src, &mut prefix)?;
        prefix.truncate(n);
        let container = sniff(&prefix)?;
        let chained = Cursor::new(prefix).chain(src);
        match container {
            Container::Wav => {
                let mut reader = AudioReader {
                    info: AudioInfo {
                        container,
                        encoding: String::new(),
                        bits_per_sample: None,
                        sample_rate: 0,
                        channels: 0,
                        frames: None,
                    },
                    inner: Inner::Wav {
                        src: Box::new(chained),
                        dec: WavStreamDecoder::new(),
                        buf: vec![0u8; READ_BLOCK_BYTES],
                        eof: false,
                    },
                    pending: None,
                    finished: false,
                };
                // Read until the data chunk starts; keep any samples that came with it.
                let Inner::Wav { src, dec, buf, eof } = &mut reader.inner else {
                    unreachable!()
                };
                while !dec.in_data() {
                    let k = read_full(src.as_mut(), &mut buf[..4096])?;
                    if k == 0 {
                        *eof = true;
                        dec.finish()?;
                        break;
                    }
                    let block = dec.push(&buf[..k])?;
                    if block.first().is_some_and(|c| !c.is_empty()) {
                        reader.pending = Some(block);
                    }
                }
                let fmt = dec.format().expect("format known once in data");
                reader.info = AudioInfo::from_wav(fmt, dec.declared_data_bytes());
                Ok(reader)
            }
            _ => {
                let source = symphonia::core::io::ReadOnlySource::new(chained);
                let (stream, info, first) = CompressedStream::open(Box::new(source), container)?;
                Ok(AudioReader {
                    info,
                    inner: Inner::Compressed(Box::new(stream)),
                    pending: first,
                    finished: false,
                })
            }
        }
    }

    /// Open a file; errors carry the path.
    pub fn open(path: &Path) -> Result<Self, AudioError> {
        let f = std::fs::File::open(path).map_err(|e| AudioError::Io(e).in_file(path.display()))?;
        Self::new(std::io::BufReader::new(f)).map_err(|e| e.in_file(path.display()))
    }

    /// Format information from the headers.
    pub fn info(&self) -> &AudioInfo {
        &self.info
    }

    /// Next block of planar frames, `Ok(None)` at the end. An input that ends early is a
    /// [`AudioError::Truncated`] error; an input with no samples is [`AudioError::NoSamples`].
    pub fn next_block(&mut self) -> Result<Option<Vec<Vec<f32>>>, AudioError> {
        if let Some(b) = self.pending.take() {
            return Ok(Some(b));
        }
        if self.finished {
            return Ok(None);
        }
        let r = self.next_inner();
        if !matches!(r, Ok(Some(_))) {
            self.finished = true;
        }
        r
    }

    fn next_inner(&mut self) -> Result<Option<Vec<Vec<f32>>>, AudioError> {
        match &mut self.inner {
            Inner::Wav { src, dec, buf, eof } => loop {
                if *eof {
                    dec.finish()?;
                    return Ok(None);
                }
                let k = read_full(src.as_mut(), buf)?;
                if k == 0 {
                    *eof = true;
                    continue;
                }
                let block = dec.push(&buf[..k])?;
                if block.first().is_some_and(|c| !c.is_empty()) {
                    return Ok(Some(block));
                }
            },
            Inner::Compressed(s) => match s.next_block()? {
                Some(b) => Ok(Some(b)),
                None if s.frames() == 0 => Err(AudioError::NoSamples),
                None => Ok(None),
            },
        }
    }
}

impl Iterator for AudioReader {
    type Item = Result<Vec<Vec<f32>>, AudioError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_block().transpose()
    }
}

fn too_long(frames: u64, rate: u32) -> Result<(), AudioError> {
    let secs = frames as f64 / rate.max(1) as f64;
    if secs > MAX_DURATION_S {
        return Err(AudioError::Unsupported(format!(
            "audio longer than {MAX_DURATION_S} s (limit MAX_DURATION_S) for whole-file decoding; \
             stream it with decode::AudioReader"
        )));
    }
    Ok(())
}

fn append(dst: &mut [Vec<f32>], block: Vec<Vec<f32>>) {
    for (d, b) in dst.iter_mut().zip(block) {
        d.extend_from_slice(&b);
    }
}

/// Decode a whole file held in memory (WAV, MP3, FLAC, Ogg/Vorbis, detected by magic bytes).
pub fn decode_bytes(bytes: &[u8]) -> Result<Audio, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(AudioError::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_INPUT_BYTES,
        });
    }
    let container = sniff(&bytes[..bytes.len().min(16)])?;
    if container == Container::Wav {
        let mut dec = WavStreamDecoder::new();
        let mut channels: Vec<Vec<f32>> = Vec::new();
        for piece in bytes.chunks(WHOLE_FILE_STEP_BYTES) {
            let block = dec.push(piece)?;
            if channels.is_empty() {
                if let Some(f) = dec.format().filter(|_| dec.in_data()) {
                    // Check the declared length before decoding much.
                    let declared = dec
                        .declared_data_bytes()
                        .unwrap_or(bytes.len() as u64 - dec.data_offset().unwrap_or(0));
                    too_long(declared / f.block_align as u64, f.sample_rate)?;
                    channels = vec![Vec::new(); f.channels as usize];
                }
            }
            append(&mut channels, block);
        }
        dec.finish()?;
        let rate = dec.format().map_or(0, |f| f.sample_rate);
        return Ok(Audio {
            sample_rate: rate,
            channels,
        });
    }
    let (mut stream, info, first) =
        CompressedStream::open(Box::new(Cursor::new(bytes.to_vec())), container)?;
    let mut channels = vec![Vec::new(); info.channels];
    if let Some(b) = first {
        append(&mut channels, b);
    }
    while let Some(b) = stream.next_block()? {
        append(&mut channels, b);
        too_long(channels[0].len() as u64, info.sample_rate)?;
    }
    if channels.iter().all(|c| c.is_empty()) {
        return Err(AudioError::NoSamples);
    }
    Ok(Audio {
        sample_rate: info.sample_rate,
        channels,
    })
}

/// Read and decode a whole file. Errors name the file.
pub fn read_file(path: &Path) -> Result<Audio, AudioError> {
    let wrap = |e: AudioError| e.in_file(path.display());
    let size = std::fs::metadata(path)
        .map_err(|e| wrap(AudioError::Io(e)))?
        .len();
    if size > MAX_INPUT_BYTES {
        return Err(wrap(AudioError::TooLarge {
            size,
            limit: MAX_INPUT_BYTES,
        }));
    }
    let bytes = std::fs::read(path).map_err(|e| wrap(AudioError::Io(e)))?;
    decode_bytes(&bytes).map_err(wrap)
}

/// Read the headers of an in-memory file without decoding all samples (WAV frame counts
/// for "rest of file" data chunks are computed from the input length).
pub fn probe(bytes: &[u8]) -> Result<AudioInfo, AudioError> {
    if bytes.is_empty() {
        return Err(AudioError::Empty);
    }
    if sniff(&bytes[..bytes.len().min(16)])? == Container::Wav {
        let mut dec = WavStreamDecoder::new();
        let mut at = 0;
        while !dec.in_data() && at < bytes.len() {
            let end = (at + 4096).min(bytes.len());
            dec.push(&bytes[at..end])?;
            at = end;
        }
        if !dec.in_data() {
            dec.finish()?;
        }
        let fmt = dec.format().expect("format known once in data").clone();
        let data_bytes = dec
            .declared_data_bytes()
            .unwrap_or(bytes.len() as u64 - dec.data_offset().unwrap_or(0));
        return Ok(AudioInfo::from_wav(&fmt, Some(data_bytes)));
    }
    Ok(AudioReader::new(Cursor::new(bytes.to_vec()))?
        .info()
        .clone())
}

/// Read the headers of a file (reads only the start of it). Errors name the file.
pub fn probe_file(path: &Path) -> Result<AudioInfo, AudioError> {
    let reader = AudioReader::open(path)?;
    let mut info = reader.info().clone();
    if info.container == Container::Wav && info.frames.is_none() {
        if let (Ok(meta), Inner::Wav { dec, .. }) = (std::fs::metadata(path), &reader.inner) {
            let fmt = dec.format().expect("format known");
            let off = dec.data_offset().unwrap_or(0);
            info.frames = Some(meta.len().saturating_sub(off) / fmt.block_align as u64);
        }
    }
    Ok(info)
}

/// One channel of `audio`: `Some(i)` picks channel `i` (0-based), `None` down-mixes all
/// channels by averaging.
pub fn select_channel(audio: &Audio, channel: Option<usize>) -> Result<Vec<f32>, AudioError> {
    match channel {
        None => Ok(audio.downmix()),
        Some(i) => audio
            .channels
            .get(i)
            .cloned()
            .ok_or_else(|| AudioError::InvalidParam {
                name: "channel",
                why: format!(
                    "channel {i} requested, input has {} channel(s)",
                    audio.channels.len()
                ),
            }),
    }
}

/// Read a file as mono: one selected channel, or the down-mix when `channel` is `None`.
pub fn read_file_mono(path: &Path, channel: Option<usize>) -> Result<Audio, AudioError> {
    let audio = read_file(path)?;
    let samples = select_channel(&audio, channel).map_err(|e| e.in_file(path.display()))?;
    Ok(Audio::mono(audio.sample_rate, samples))
}
