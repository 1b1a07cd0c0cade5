//! RIFF/WAVE parsing and a push-based (sans-I/O) WAV stream decoder.
//!
//! Rules, in order of what the decoder meets:
//! - The file starts with `RIFF <size> WAVE`. The RIFF size field is ignored (many writers get it
//!   wrong or leave it 0/0xFFFFFFFF while streaming). `RF64` is reported as unsupported.
//! - Chunks are walked in order. Unknown chunks are skipped without buffering them. A chunk with
//!   an odd size is followed by one pad byte; if that byte is not zero the writer omitted the
//!   pad and the byte is taken as the start of the next chunk id.
//! - `fmt ` must come before `data`. Supported encodings: PCM 8-bit unsigned, 16/24/32-bit
//!   signed little-endian, IEEE float 32/64, µ-law (tag 7), A-law (tag 6), and the same inside
//!   `WAVE_FORMAT_EXTENSIBLE`. Samples stored in wider containers (e.g. 24 valid bits in 32)
//!   decode by container width.
//! - `data` with size 0 or at least 0x7FFF0000 (left by streaming writers that never patched the
//!   header) means "the rest of the input"; a trailing partial frame is then dropped. Any other
//!   size is trusted: input ending before it is a truncation error; bytes after it are ignored;
//!   a size that is not a whole number of frames decodes the whole frames only.

/// `data` sizes from this value up are placeholders left by streaming writers (espeak-ng and
/// sox write 0x7FFFF000 to a pipe, others 0xFFFFFFFF): the data runs to the end of the input.
/// A real 16-bit mono file of that size would be 2 GiB, above [`super::MAX_INPUT_BYTES`].
pub const STREAMING_PLACEHOLDER_MIN: u32 = 0x7FFF_0000;

use crate::AudioError;

/// Largest `fmt ` chunk accepted, in bytes (real ones are 16-40 bytes).
pub const MAX_FMT_BYTES: u32 = 4096;
/// Most channels accepted in a WAV file.
pub const MAX_CHANNELS: u16 = 64;
/// Highest sample rate accepted, in Hz.
pub const MAX_SAMPLE_RATE: u32 = 768_000;

/// Sample encoding of a WAV `data` chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavEncoding {
    /// 8-bit unsigned PCM (128 = silence).
    PcmU8,
    /// 16-bit signed little-endian PCM.
    PcmS16,
    /// 24-bit signed little-endian PCM.
    PcmS24,
    /// 32-bit signed little-endian PCM.
    PcmS32,
    /// 32-bit IEEE float.
    Float32,
    /// 64-bit IEEE float.
    Float64,
    /// G.711 µ-law (format tag 7).
    Ulaw,
    /// G.711 A-law (format tag 6).
    Alaw,
}

impl WavEncoding {
    /// Short name, e.g. `pcm_s16le`, `mulaw`.
    pub fn name(self) -> &'static str {
        match self {
            WavEncoding::PcmU8 => "pcm_u8",
            WavEncoding::PcmS16 => "pcm_s16le",
            WavEncoding::PcmS24 => "pcm_s24le",
            WavEncoding::PcmS32 => "pcm_s32le",
            WavEncoding::Float32 => "float32le",
            WavEncoding::Float64 => "float64le",
            WavEncoding::Ulaw => "mulaw",
            WavEncoding::Alaw => "alaw",
        }
    }

    /// Bytes per sample of this encoding.
    pub fn bytes(self) -> usize {
        match self {
            WavEncoding::PcmU8 | WavEncoding::Ulaw | WavEncoding::Alaw => 1,
            WavEncoding::PcmS16 => 2,
            WavEncoding::PcmS24 => 3,
            WavEncoding::PcmS32 | WavEncoding::Float32 => 4,
            WavEncoding::Float64 => 8,
        }
    }
}

/// What the `fmt ` chunk says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WavFormat {
    /// Sample encoding (by container width).
    pub encoding: WavEncoding,
    /// Channel count.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Valid bits per sample as declared (may be below the container width).
    pub bits_per_sample: u16,
    /// Bytes per frame (all channels).
    pub block_align: u16,
    /// Whether the format came in a `WAVE_FORMAT_EXTENSIBLE` wrapper.
    pub extensible: bool,
}

const EXTENSIBLE_GUID_TAIL: [u8; 14] = [
    0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xAA, 0x00, 0x38, 0x9B, 0x71,
];

fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn tag_name(tag: u16) -> String {
    let name = match tag {
        0x0002 => "Microsoft ADPCM",
        0x0011 => "IMA ADPCM",
        0x0031 => "GSM 6.10",
        0x0040 => "G.721 ADPCM",
        0x0050 => "MPEG audio",
        0x0055 => "MPEG Layer 3",
        0x0064 => "G.726 ADPCM",
        0x0092 => "Dolby AC-3",
        0x00FF => "AAC",
        _ => "unknown",
    };
    format!("WAV format tag {tag:#06x} ({name})")
}

/// Parse the body of a `fmt ` chunk that starts at absolute byte `offset` (of the body).
pub fn parse_fmt(b: &[u8], offset: u64) -> Result<WavFormat, AudioError> {
    if b.len() < 16 {
        return Err(AudioError::Malformed {
            offset,
            what: format!("fmt chunk is {} bytes, need at least 16", b.len()),
        });
    }
    let mut tag = le16(b, 0);
    let channels = le16(b, 2);
    let sample_rate = le32(b, 4);
    let block_align = le16(b, 12);
    let bits = le16(b, 14);
    let mut extensible = false;
    if tag == 0xFFFE {
        if b.len() < 40 {
            return Err(AudioError::Malformed {
                offset,
                what: format!(
                    "WAVE_FORMAT_EXTENSIBLE fmt chunk is {} bytes, need 40",
                    b.len()
                ),
            });
        }
        if b[26..40] != EXTENSIBLE_GUID_TAIL {
            return Err(AudioError::Unsupported(format!(
                "WAVE_FORMAT_EXTENSIBLE sub-format GUID at byte {} is not a standard KSDATAFORMAT",
                offset + 24
            )));
        }
        tag = le16(b, 24);
        extensible = true;
    }
    if channels == 0 {
        return Err(AudioError::Malformed {
            offset: offset + 2,
            what: "channel count is 0".into(),
        });
    }
    if channels > MAX_CHANNELS {
        return Err(AudioError::Unsupported(format!(
            "{channels} channels (limit MAX_CHANNELS = {MAX_CHANNELS})"
        )));
    }
    if sample_rate == 0 {
        return Err(AudioError::Malformed {
            offset: offset + 4,
            what: "sample rate is 0".into(),
        });
    }
    if sample_rate > MAX_SAMPLE_RATE {
        return Err(AudioError::Unsupported(format!(
            "sample rate {sample_rate} Hz (limit MAX_SAMPLE_RATE = {MAX_SAMPLE_RATE})"
        )));
    }
    // Container width per sample comes from block_align when it is consistent, else from bits.
    let from_bits = (bits as usize).div_ceil(8);
    let container =
        if block_align != 0 && (block_align as usize).checked_rem(channels as usize) == Some(0) {
            block_align as usize / channels as usize
        } else {
            from_bits
        };
    if container < from_bits {
        return Err(AudioError::Malformed {
            offset: offset + 12,
            what: format!(
                "block_align {block_align} too small for {channels} channels of {bits} bits"
            ),
        });
    }
    let encoding = match (tag, container) {
        (1, 1) => WavEncoding::PcmU8,
        (1, 2) => WavEncoding::PcmS16,
        (1, 3) => WavEncoding::PcmS24,
        (1, 4) => WavEncoding::PcmS32,
        (3, 4) => WavEncoding::Float32,
        (3, 8) => WavEncoding::Float64,
        (6, 1) => WavEncoding::Alaw,
        (7, 1) => WavEncoding::Ulaw,
        (1 | 3 | 6 | 7, _) => {
            return Err(AudioError::Unsupported(format!(
                "{} with {}-byte samples ({bits} bits)",
                tag_name_known(tag),
                container
            )))
        }
        _ => return Err(AudioError::Unsupported(tag_name(tag))),
    };
    Ok(WavFormat {
        encoding,
        channels,
        sample_rate,
        bits_per_sample: bits,
        block_align: (container * channels as usize) as u16,
        extensible,
    })
}

fn tag_name_known(tag: u16) -> &'static str {
    match tag {
        1 => "PCM",
        3 => "IEEE float",
        6 => "A-law",
        _ => "µ-law",
    }
}

/// Decode whole frames of `data` (interleaved) into planar `out`, appending.
/// `data.len()` must be a multiple of `fmt.block_align`.
pub fn decode_frames(fmt: &WavFormat, data: &[u8], out: &mut [Vec<f32>]) {
    let ch = fmt.channels as usize;
    let w = fmt.encoding.bytes();
    let frames = data.len() / fmt.block_align as usize;
    for o in out.iter_mut() {
        o.reserve(frames);
    }
    // The common telephone case, 16-bit mono PCM, without the per-sample format dispatch
    // (same values as the general loop below).
    if fmt.encoding == WavEncoding::PcmS16 && ch == 1 && fmt.block_align == 2 {
        if let Some(o) = out.first_mut() {
            o.extend(
                data.chunks_exact(2)
                    .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0),
            );
        }
        return;
    }
    for frame in data.chunks_exact(fmt.block_align as usize) {
        for (c, o) in out.iter_mut().enumerate().take(ch) {
            let s = &frame[c * w..(c + 1) * w];
            let v = match fmt.encoding {
                WavEncoding::PcmU8 => (s[0] as f32 - 128.0) / 128.0,
                WavEncoding::PcmS16 => i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0,
                WavEncoding::PcmS24 => {
                    let x = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8;
                    x as f32 / 8_388_608.0
                }
                WavEncoding::PcmS32 => {
                    (i32::from_le_bytes([s[0], s[1], s[2], s[3]]) as f64 / 2_147_483_648.0) as f32
                }
                WavEncoding::Float32 => {
                    let x = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                    if x.is_finite() {
                        x
                    } else {
                        0.0
                    }
                }
                WavEncoding::Float64 => {
                    let x = f64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]]);
                    if x.is_finite() {
                        x as f32
                    } else {
                        0.0
                    }
                }
                WavEncoding::Ulaw => crate::g711::ulaw_decode(s[0]) as f32 / 32768.0,
                WavEncoding::Alaw => crate::g711::alaw_decode(s[0]) as f32 / 32768.0,
            };
            o.push(v);
        }
    }
}

/// Describe the first bytes of an input for "not audio" errors.
pub fn describe_bytes(b: &[u8]) -> String {
    let head = &b[..b.len().min(16)];
    let hex: Vec<String> = head.iter().map(|x| format!("{x:02x}")).collect();
    let text: String = head
        .iter()
        .map(|&x| {
            if (0x20..0x7f).contains(&x) {
                x as char
            } else {
                '.'
            }
        })
        .collect();
    let guess = if head.starts_with(b"%PDF") {
        ", looks like a PDF document"
    } else if head.starts_with(b"\x89PNG") {
        ", looks like a PNG image"
    } else if head.starts_with(b"\xff\xd8\xff") {
        ", looks like a JPEG image"
    } else if head.starts_with(b"PK\x03\x04") {
        ", looks like a ZIP archive (or xlsx/docx)"
    } else if head.starts_with(b"\x1f\x8b") {
        ", looks like gzip data"
    } else if head
        .iter()
        .all(|&x| x == b'\n' || x == b'\r' || x == b'\t' || (0x20..0x7f).contains(&x))
    {
        ", looks like text"
    } else {
        ""
    };
    format!("first bytes are {} (\"{}\"){guess}", hex.join(" "), text)
}

#[derive(Clone, Debug)]
enum State {
    /// Expecting the 12-byte `RIFF....WAVE` header.
    Riff,
    /// Expecting an 8-byte chunk header.
    ChunkHeader,
    /// Collecting the body of a `fmt ` chunk of this size.
    Fmt { size: u32 },
    /// Skipping the rest of an unknown chunk; `pad` if a pad byte may follow.
    Skip {
        id: [u8; 4],
        remaining: u64,
        pad: bool,
    },
    /// Deciding whether the byte after an odd chunk is a pad byte.
    Pad,
    /// Inside the data chunk: `remaining` bytes, or `None` for "to the end".
    Data { remaining: Option<u64> },
    /// Data chunk finished; everything after it is ignored.
    Done,
    /// A previous error; no more input accepted.
    Failed,
}

/// Push-based WAV decoder: feed bytes in pieces of any size, get planar frames back.
/// Never needs the whole file; memory use is bounded by one `fmt ` chunk plus one frame.
#[derive(Clone, Debug)]
pub struct WavStreamDecoder {
    state: State,
    /// Bytes of a fixed-size item (header, fmt body, partial frame) collected so far.
    buf: Vec<u8>,
    /// Absolute offset of the next byte not yet consumed (buffered bytes are not consumed).
    pos: u64,
    format: Option<WavFormat>,
    data_offset: Option<u64>,
    declared_data: Option<u64>,
    frames: u64,
}

impl Default for WavStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl WavStreamDecoder {
    /// A decoder waiting for the first byte of a WAV file.
    pub fn new() -> Self {
        WavStreamDecoder {
            state: State::Riff,
            buf: Vec::new(),
            pos: 0,
            format: None,
            data_offset: None,
            declared_data: None,
            frames: 0,
        }
    }

    /// The format, once the `fmt ` chunk has been read.
    pub fn format(&self) -> Option<&WavFormat> {
        self.format.as_ref()
    }

    /// True once the data chunk has been reached (format known, samples may follow).
    pub fn in_data(&self) -> bool {
        self.data_offset.is_some()
    }

    /// Absolute byte offset of the first sample byte, once known.
    pub fn data_offset(&self) -> Option<u64> {
        self.data_offset
    }

    /// Declared data chunk size in bytes; `None` for "rest of the stream" (0, or a streaming
    /// placeholder of at least [`STREAMING_PLACEHOLDER_MIN`]).
    pub fn declared_data_bytes(&self) -> Option<u64> {
        self.declared_data
    }

    /// Frames decoded so far.
    pub fn frames_decoded(&self) -> u64 {
        self.frames
    }

    /// Take `n` bytes as one piece, from `buf` + `input`; `None` if not yet available
    /// (then everything available has been buffered).
    fn take_fixed(&mut self, n: usize, input: &mut &[u8]) -> Option<Vec<u8>> {
        if self.buf.len() + input.len() < n {
            self.buf.extend_from_slice(input);
            *input = &[];
            return None;
        }
        let need = n - self.buf.len();
        self.buf.extend_from_slice(&input[..need]);
        *input = &input[need..];
        let piece = std::mem::take(&mut self.buf);
        Some(piece)
    }

    /// Feed the next bytes of the file. Returns the frames completed by them (planar, one
    /// `Vec` per channel; empty before the data chunk).
    pub fn push(&mut self, input: &[u8]) -> Result<Vec<Vec<f32>>, AudioError> {
        let r = self.push_inner(input);
        if r.is_err() {
            self.state = State::Failed;
        }
        r
    }

    fn push_inner(&mut self, mut input: &[u8]) -> Result<Vec<Vec<f32>>, AudioError> {
        let mut out: Vec<Vec<f32>> = self
            .format
            .as_ref()
            .map_or(Vec::new(), |f| vec![Vec::new(); f.channels as usize]);
        loop {
            match self.state.clone() {
                State::Failed => {
                    return Err(AudioError::InvalidParam {
                        name: "push",
                        why: "decoder already failed on earlier input".into(),
                    })
                }
                State::Done => {
                    self.pos += input.len() as u64;
                    return Ok(out);
                }
                State::Riff => {
                    let Some(h) = self.take_fixed(12, &mut input) else {
                        return Ok(out);
                    };
                    if &h[0..4] == b"RF64" || &h[0..4] == b"BW64" {
                        return Err(AudioError::Unsupported(
                            "RF64/BW64 WAV (64-bit sizes)".into(),
                        ));
                    }
                    if &h[0..4] != b"RIFF" {
                        return Err(AudioError::NotAudio(format!(
                            "expected a RIFF/WAVE header; {}",
                            describe_bytes(&h)
                        )));
                    }
                    if &h[8..12] != b"WAVE" {
                        return Err(AudioError::NotAudio(format!(
                            "RIFF file of form type '{}', not WAVE",
                            String::from_utf8_lossy(&h[8..12])
                        )));
                    }
                    self.pos += 12;
                    self.state = State::ChunkHeader;
                }
                State::ChunkHeader => {
                    let at = self.pos;
                    let Some(h) = self.take_fixed(8, &mut input) else {
                        return Ok(out);
                    };
                    self.pos += 8;
                    let id = [h[0], h[1], h[2], h[3]];
                    let size = le32(&h, 4);
                    if !id.iter().all(|&c| (0x20..0x7f).contains(&c)) {
                        return Err(AudioError::Malformed {
                            offset: at,
                            what: format!(
                                "chunk id bytes {:02x} {:02x} {:02x} {:02x} are not ASCII (corrupt or misaligned chunk list)",
                                id[0], id[1], id[2], id[3]
                            ),
                        });
                    }
                    match &id {
                        b"fmt " if self.format.is_none() => {
                            if size > MAX_FMT_BYTES {
                                return Err(AudioError::Malformed {
                                    offset: at + 4,
                                    what: format!(
                                        "fmt chunk size {size} above the limit of {MAX_FMT_BYTES}"
                                    ),
                                });
                            }
                            self.state = State::Fmt { size };
                        }
                        b"data" => {
                            let Some(f) = &self.format else {
                                return Err(AudioError::Malformed {
                                    offset: at,
                                    what: "data chunk before fmt chunk".into(),
                                });
                            };
                            out = vec![Vec::new(); f.channels as usize];
                            let remaining = if size == 0 || size >= STREAMING_PLACEHOLDER_MIN {
                                None
                            } else {
                                Some(size as u64)
                            };
                            self.declared_data = remaining;
                            self.data_offset = Some(self.pos);
                            self.state = State::Data { remaining };
                        }
                        _ => {
                            self.state = State::Skip {
                                id,
                                remaining: size as u64,
                                pad: size % 2 == 1,
                            }
                        }
                    }
                }
                State::Fmt { size } => {
                    let at = self.pos;
                    let Some(body) = self.take_fixed(size as usize, &mut input) else {
                        return Ok(out);
                    };
                    self.pos += size as u64;
                    self.format = Some(parse_fmt(&body, at)?);
                    self.state = if size % 2 == 1 {
                        State::Pad
                    } else {
                        State::ChunkHeader
                    };
                }
                State::Skip { id, remaining, pad } => {
                    let k = (remaining.min(input.len() as u64)) as usize;
                    input = &input[k..];
                    self.pos += k as u64;
                    let left = remaining - k as u64;
                    if left > 0 {
                        self.state = State::Skip {
                            id,
                            remaining: left,
                            pad,
                        };
                        return Ok(out);
                    }
                    self.state = if pad { State::Pad } else { State::ChunkHeader };
                }
                State::Pad => {
                    let Some(&b) = input.first() else {
                        return Ok(out);
                    };
                    if b == 0 {
                        input = &input[1..];
                        self.pos += 1;
                    }
                    self.state = State::ChunkHeader;
                }
                State::Data { remaining } => {
                    let fmt = self.format.clone().expect("format known in data state");
                    let ba = fmt.block_align as usize;
                    let avail = match remaining {
                        Some(r) => (r.min(input.len() as u64)) as usize,
                        None => input.len(),
                    };
                    let mut chunk = &input[..avail];
                    input = &input[avail..];
                    self.pos += avail as u64;
                    // Complete a frame split across pushes.
                    if !self.buf.is_empty() {
                        let need = (ba - self.buf.len()).min(chunk.len());
                        self.buf.extend_from_slice(&chunk[..need]);
                        chunk = &chunk[need..];
                        if self.buf.len() == ba {
                            decode_frames(&fmt, &self.buf, &mut out);
                            self.frames += 1;
                            self.buf.clear();
                        }
                    }
                    let whole = chunk.len() / ba * ba;
                    decode_frames(&fmt, &chunk[..whole], &mut out);
                    self.frames += (whole / ba) as u64;
                    self.buf.extend_from_slice(&chunk[whole..]);
                    match remaining {
                        Some(r) if r == avail as u64 => {
                            // End of the data chunk: a partial last frame is dropped.
                            self.buf.clear();
                            self.state = State::Done;
                            self.pos += input.len() as u64;
                            return Ok(out);
                        }
                        Some(r) => {
                            self.state = State::Data {
                                remaining: Some(r - avail as u64),
                            };
                            return Ok(out);
                        }
                        None => return Ok(out),
                    }
                }
            }
        }
    }

    /// Signal the end of input. Returns the number of frames decoded, or an error saying what
    /// was missing and where. Zero frames is an error ([`AudioError::NoSamples`]).
    pub fn finish(&self) -> Result<u64, AudioError> {
        // In the data state buffered bytes are already counted in `pos`.
        let end = match self.state {
            State::Data { .. } | State::Done => self.pos,
            _ => self.pos + self.buf.len() as u64,
        };
        match &self.state {
            State::Failed => Err(AudioError::InvalidParam {
                name: "finish",
                why: "decoder already failed on earlier input".into(),
            }),
            State::Riff if end == 0 => Err(AudioError::Empty),
            State::Riff => Err(AudioError::Truncated {
                offset: end,
                what: "expected the 12-byte RIFF/WAVE header".into(),
            }),
            State::ChunkHeader | State::Pad if self.buf.is_empty() => Err(AudioError::Truncated {
                offset: end,
                what: if self.format.is_none() {
                    "expected a 'fmt ' chunk, input ended".into()
                } else {
                    "expected a 'data' chunk, input ended".into()
                },
            }),
            State::ChunkHeader | State::Pad => Err(AudioError::Truncated {
                offset: end,
                what: format!(
                    "expected an 8-byte chunk header, got {} bytes",
                    self.buf.len()
                ),
            }),
            State::Fmt { size } => Err(AudioError::Truncated {
                offset: end,
                what: format!(
                    "fmt chunk declares {size} bytes from byte {}, only {} present",
                    self.pos,
                    self.buf.len()
                ),
            }),
            State::Skip { id, remaining, .. } => Err(AudioError::Truncated {
                offset: end,
                what: format!(
                    "chunk '{}' needs {remaining} more bytes (no data chunk reached)",
                    String::from_utf8_lossy(id)
                ),
            }),
            State::Data { remaining: Some(r) } => Err(AudioError::Truncated {
                offset: end,
                what: format!(
                    "data chunk at byte {} declares {} bytes, {} missing",
                    self.data_offset.unwrap_or(0),
                    self.declared_data.unwrap_or(0),
                    r
                ),
            }),
            State::Data { remaining: None } | State::Done => {
                if self.frames == 0 {
                    Err(AudioError::NoSamples)
                } else {
                    Ok(self.frames)
                }
            }
        }
    }
}
