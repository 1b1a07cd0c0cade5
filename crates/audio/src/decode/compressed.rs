//! MP3, FLAC and Ogg/Vorbis through symphonia, as a pull stream of planar blocks.

use super::{AudioInfo, Container};
use crate::AudioError;
use symphonia::core::audio::{AudioBuffer, Signal};
use symphonia::core::codecs::{Decoder, DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Planar samples, one `Vec` per channel.
pub(crate) type Block = Vec<Vec<f32>>;

/// Consecutive undecodable packets after which decoding gives up.
const MAX_CONSECUTIVE_DECODE_ERRORS: usize = 64;

fn sym_err(container: Container, e: SymError) -> AudioError {
    match e {
        SymError::IoError(io) => AudioError::Io(io),
        SymError::Unsupported(what) => {
            AudioError::Unsupported(format!("{} stream: {what}", container.name()))
        }
        SymError::DecodeError(what) => AudioError::Malformed {
            offset: 0,
            what: format!("{} stream could not be decoded: {what}", container.name()),
        },
        other => AudioError::Malformed {
            offset: 0,
            what: format!("{} stream: {other}", container.name()),
        },
    }
}

/// A symphonia format reader + decoder for the first audio track.
pub(crate) struct CompressedStream {
    container: Container,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    track_id: u32,
    channels: usize,
    frames: u64,
    consecutive_errors: usize,
}

impl CompressedStream {
    /// Open `source`, already known (by magic bytes) to be `container`. Returns the stream,
    /// its info and possibly a first block decoded to learn the channel count/rate.
    pub(crate) fn open(
        source: Box<dyn MediaSource>,
        container: Container,
    ) -> Result<(Self, AudioInfo, Option<Block>), AudioError> {
        let mss = MediaSourceStream::new(source, Default::default());
        let mut hint = Hint::new();
        hint.with_extension(container.name());
        let probed = symphonia::default::get_probe()
            .format(
                &hint,
                mss,
                &FormatOptions::default(),
                &MetadataOptions::default(),
            )
            .map_err(|e| match e {
                SymError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
                    AudioError::Truncated {
                        offset: 0,
                        what: format!("{} stream ended before its first frame", container.name()),
                    }
                }
                e => sym_err(container, e),
            })?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| {
                AudioError::Unsupported(format!(
                    "{} file has no decodable audio track",
                    container.name()
                ))
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let codecs = symphonia::default::get_codecs();
        let encoding = codecs
            .get_codec(params.codec)
            .map(|d| d.short_name.to_string())
            .unwrap_or_else(|| "unknown".into());
        let decoder = codecs
            .make(&params, &DecoderOptions::default())
            .map_err(|e| {
                AudioError::Unsupported(format!("{} codec '{encoding}': {e}", container.name()))
            })?;
        let mut s = CompressedStream {
            container,
            format,
            decoder,
            track_id,
            channels: params.channels.map_or(0, |c| c.count()),
            frames: 0,
            consecutive_errors: 0,
        };
        let mut rate = params.sample_rate.unwrap_or(0);
        let mut first = None;
        if s.channels == 0 || rate == 0 {
            // Some streams only reveal their layout in the first decoded packet.
            match s.next_block_with_rate()? {
                Some((block, r)) => {
                    rate = r;
                    s.channels = block.len();
                    first = Some(block);
                }
                None => return Err(AudioError::NoSamples),
            }
        }
        let info = AudioInfo {
            container,
            encoding,
            bits_per_sample: params.bits_per_sample,
            sample_rate: rate,
            channels: s.channels,
            frames: params.n_frames,
        };
        Ok((s, info, first))
    }

    /// Frames decoded so far.
    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    /// Next decoded block (planar), or `None` at the end of the stream.
    pub(crate) fn next_block(&mut self) -> Result<Option<Vec<Vec<f32>>>, AudioError> {
        Ok(self.next_block_with_rate()?.map(|(b, _)| b))
    }

    fn next_block_with_rate(&mut self) -> Result<Option<(Block, u32)>, AudioError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(SymError::ResetRequired) => return Ok(None),
                Err(e) => return Err(sym_err(self.container, e)),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(decoded) => {
                    self.consecutive_errors = 0;
                    let spec = *decoded.spec();
                    let n = decoded.frames();
                    if n == 0 {
                        continue;
                    }
                    let mut buf = AudioBuffer::<f32>::new(decoded.capacity() as u64, spec);
                    decoded.convert(&mut buf);
                    let ch = spec.channels.count();
                    if self.channels != 0 && ch != self.channels {
                        return Err(AudioError::Unsupported(format!(
                            "{} stream changes from {} to {ch} channels at frame {}",
                            self.container.name(),
                            self.channels,
                            self.frames
                        )));
                    }
                    let block: Vec<Vec<f32>> = (0..ch).map(|c| buf.chan(c)[..n].to_vec()).collect();
                    self.frames += n as u64;
                    return Ok(Some((block, spec.rate)));
                }
                Err(SymError::DecodeError(what)) => {
                    // A damaged packet: skip it, as players do, unless damage is persistent.
                    self.consecutive_errors += 1;
                    if self.consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS {
                        return Err(AudioError::Malformed {
                            offset: 0,
                            what: format!(
                                "{} stream: {} consecutive undecodable packets after frame {} ({what})",
                                self.container.name(),
                                self.consecutive_errors,
                                self.frames
                            ),
                        });
                    }
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(None)
                }
                Err(e) => return Err(sym_err(self.container, e)),
            }
        }
    }
}
