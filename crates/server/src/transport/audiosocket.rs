//! Asterisk AudioSocket over TCP: frames of `kind: u8`, `length: u16` big-endian, `payload`.
//! Kinds: 0x00 hang-up (no payload: the protocol defines it as exactly `00 00 00`), 0x01 UUID (16 bytes, the first frame), 0x03 DTMF (one ASCII byte),
//! 0x10 audio (8 kHz signed-linear 16-bit little-endian mono), 0xff error.
//! Playback goes back as 0x10 frames of 20 ms at real-time pace; hang-up sends 0x00 and closes.

use crate::call_task::{pace_frames, run_call, CallStart, Inbound, MediaIn, MediaOut, PlayOutcome};
use crate::calls::CallSettings;
use crate::AppState;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// Frame kind: the peer hung up (or, sent by us, hang up).
pub const KIND_HANGUP: u8 = 0x00;
/// Frame kind: the call's UUID (16 bytes), always first.
pub const KIND_UUID: u8 = 0x01;
/// Frame kind: one DTMF digit (ASCII).
pub const KIND_DTMF: u8 = 0x03;
/// Frame kind: 8 kHz signed-linear 16-bit little-endian mono audio.
pub const KIND_AUDIO: u8 = 0x10;
/// Frame kind: an error on the peer's side.
pub const KIND_ERROR: u8 = 0xff;
/// Largest payload accepted, in bytes (Asterisk sends 320-byte frames; 1 s of audio is
/// 16,000 bytes).
pub const MAX_PAYLOAD: usize = 16_000;
/// Sample rate of AudioSocket audio.
pub const RATE: u32 = 8000;
/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// One decoded frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// 0x00.
    Hangup,
    /// 0x01 with its 16 bytes.
    Uuid([u8; 16]),
    /// 0x03 with its digit.
    Dtmf(char),
    /// 0x10: samples.
    Audio(Vec<i16>),
    /// 0xff with its payload (Asterisk sends an error code byte).
    Error(Vec<u8>),
}

/// Why the byte stream is not AudioSocket; `offset` is the stream offset of the frame's
/// first byte.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("byte {offset}: unknown frame kind 0x{kind:02x}")]
    UnknownKind { offset: u64, kind: u8 },
    #[error("byte {offset}: payload of {len} bytes exceeds the limit of {MAX_PAYLOAD}")]
    TooLong { offset: u64, len: usize },
    #[error("byte {offset}: {what} frame has {len} payload bytes, expected {expected}")]
    BadLength {
        offset: u64,
        what: &'static str,
        len: usize,
        expected: &'static str,
    },
    #[error("byte {offset}: DTMF byte 0x{byte:02x} is not a DTMF digit")]
    BadDtmf { offset: u64, byte: u8 },
}

/// Sans-I/O frame decoder: feed bytes with [`Decoder::push`], take frames with
/// [`Decoder::next_frame`].
#[derive(Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    offset: u64,
}

impl Decoder {
    /// Append received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 3 {
            return Ok(None);
        }
        let offset = self.offset;
        let kind = self.buf[0];
        let len = usize::from(u16::from_be_bytes([self.buf[1], self.buf[2]]));
        if !matches!(
            kind,
            KIND_HANGUP | KIND_UUID | KIND_DTMF | KIND_AUDIO | KIND_ERROR
        ) {
            return Err(FrameError::UnknownKind { offset, kind });
        }
        if len > MAX_PAYLOAD {
            return Err(FrameError::TooLong { offset, len });
        }
        let bad = |what, expected| FrameError::BadLength {
            offset,
            what,
            len,
            expected,
        };
        match kind {
            KIND_HANGUP if len != 0 => return Err(bad("hang-up", "0")),
            KIND_UUID if len != 16 => return Err(bad("UUID", "16")),
            KIND_DTMF if len != 1 => return Err(bad("DTMF", "1")),
            KIND_AUDIO if len % 2 != 0 => return Err(bad("audio", "an even count")),
            _ => {}
        }
        if self.buf.len() < 3 + len {
            return Ok(None);
        }
        let p = &self.buf[3..3 + len];
        let frame = match kind {
            KIND_HANGUP => Frame::Hangup,
            KIND_UUID => Frame::Uuid(p.try_into().expect("16 bytes checked")),
            KIND_DTMF => {
                let c = char::from(p[0]);
                if !matches!(c.to_ascii_uppercase(), '0'..='9' | '*' | '#' | 'A'..='D') {
                    return Err(FrameError::BadDtmf { offset, byte: p[0] });
                }
                Frame::Dtmf(c)
            }
            KIND_AUDIO => Frame::Audio(
                p.chunks_exact(2)
                    .map(|b| i16::from_le_bytes([b[0], b[1]]))
                    .collect(),
            ),
            _ => Frame::Error(p.to_vec()),
        };
        self.buf.drain(..3 + len);
        self.offset += (3 + len) as u64;
        Ok(Some(frame))
    }
}

/// Encode one frame.
pub fn encode(kind: u8, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(payload.len()).expect("payload fits a frame");
    let mut f = Vec::with_capacity(3 + payload.len());
    f.push(kind);
    f.extend_from_slice(&len.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// The 36-character hyphenated form of a UUID frame.
pub fn uuid_string(b: &[u8; 16]) -> String {
    uuid::Uuid::from_bytes(*b).hyphenated().to_string()
}

struct AsIn {
    read: OwnedReadHalf,
    dec: Decoder,
    chunk: Vec<u8>,
    eof: bool,
}

impl AsIn {
    /// Next frame, reading more as needed (cancel-safe: bytes go into the decoder at once).
    async fn frame(&mut self) -> Result<Option<Frame>, String> {
        loop {
            if let Some(f) = self.dec.next_frame().map_err(|e| e.to_string())? {
                return Ok(Some(f));
            }
            if self.eof {
                return Ok(None);
            }
            self.chunk.resize(READ_CHUNK, 0);
            let n = self
                .read
                .read(&mut self.chunk)
                .await
                .map_err(|e| e.to_string())?;
            if n == 0 {
                self.eof = true;
            }
            self.dec.push(&self.chunk[..n]);
        }
    }
}

impl MediaIn for AsIn {
    async fn next(&mut self) -> Inbound {
        match self.frame().await {
            Ok(Some(Frame::Audio(pcm))) => Inbound::Audio(pcm),
            Ok(Some(Frame::Dtmf(d))) => Inbound::Dtmf(d),
            Ok(Some(Frame::Hangup)) => Inbound::RemoteHangup,
            Ok(Some(Frame::Uuid(_))) => {
                Inbound::Error(crate::registry::CLOSE_POLICY, "second UUID frame".into())
            }
            Ok(Some(Frame::Error(p))) => {
                tracing::warn!(payload = ?p, "audiosocket error frame from the peer");
                Inbound::End
            }
            Ok(None) => Inbound::End,
            Err(e) => Inbound::Error(crate::registry::CLOSE_POLICY, e),
        }
    }
}

/// Outbound half: a writer task owns the socket's write half.
#[derive(Clone)]
struct AsOut {
    tx: mpsc::Sender<Vec<u8>>,
}

fn spawn_writer(mut w: OwnedWriteHalf, send_timeout: Duration) -> mpsc::Sender<Vec<u8>> {
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(crate::ws::OUTBOUND_QUEUE);
    tokio::spawn(async move {
        while let Some(b) = rx.recv().await {
            let hangup = b.first() == Some(&KIND_HANGUP);
            match tokio::time::timeout(send_timeout, w.write_all(&b)).await {
                Ok(Ok(())) if !hangup => {}
                _ => break,
            }
        }
        drop(rx);
        let _ = tokio::time::timeout(send_timeout, w.shutdown()).await;
    });
    tx
}

impl MediaOut for AsOut {
    async fn play(&self, pcm: Vec<i16>) -> PlayOutcome {
        pace_frames(&pcm, (RATE / 50) as usize, |f| {
            let bytes: Vec<u8> = f.iter().flat_map(|s| s.to_le_bytes()).collect();
            let tx = self.tx.clone();
            async move { tx.send(encode(KIND_AUDIO, &bytes)).await.is_ok() }
        })
        .await
    }

    async fn hangup(&self, _state: Arc<AppState>) -> Result<Option<u16>, String> {
        self.tx
            .send(encode(KIND_HANGUP, &[]))
            .await
            .map_err(|_| "connection already closed".to_string())?;
        Ok(None)
    }

    async fn close(&self, code: u16, reason: &str) {
        tracing::info!(code, %reason, "closing audiosocket");
        let _ = self.tx.send(encode(KIND_HANGUP, &[])).await;
    }

    async fn gone(&self) {
        self.tx.closed().await
    }
}

/// Serve one AudioSocket connection: the UUID frame first (within the first-frame timeout),
/// then the call.
pub async fn handle(state: Arc<AppState>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let (read, write) = stream.into_split();
    let tx = spawn_writer(write, crate::ws::SEND_TIMEOUT);
    let out = AsOut { tx };
    let mut input = AsIn {
        read,
        dec: Decoder::default(),
        chunk: Vec::new(),
        eof: false,
    };
    let first = tokio::time::timeout(crate::ws::FIRST_FRAME_TIMEOUT, input.frame()).await;
    let uuid = match first {
        Ok(Ok(Some(Frame::Uuid(b)))) => uuid_string(&b),
        other => {
            tracing::warn!(first = ?other, "audiosocket: the first frame must be the UUID (0x01)");
            out.close(
                crate::registry::CLOSE_POLICY,
                "first frame must be the UUID",
            )
            .await;
            return;
        }
    };
    let start = CallStart {
        call_id: uuid,
        platform: "audiosocket",
        rate: RATE,
        settings: CallSettings::default(),
    };
    run_call(state, start, input, out).await;
}

/// Accept AudioSocket connections on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((s, peer)) => {
                    tracing::debug!(%peer, "audiosocket connection");
                    tokio::spawn(handle(state.clone(), s));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "audiosocket accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_decode_across_any_split() {
        let mut bytes = encode(KIND_UUID, &[7u8; 16]);
        bytes.extend(encode(KIND_AUDIO, &[1, 0, 2, 0]));
        bytes.extend(encode(KIND_DTMF, b"5"));
        bytes.extend(encode(KIND_HANGUP, &[]));
        for split in 1..bytes.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in bytes.chunks(split) {
                d.push(part);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(
                got,
                [
                    Frame::Uuid([7; 16]),
                    Frame::Audio(vec![1, 2]),
                    Frame::Dtmf('5'),
                    Frame::Hangup
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn bad_frames_name_the_byte_offset() {
        let mut d = Decoder::default();
        d.push(&encode(KIND_AUDIO, &[0, 0]));
        d.push(&[0x42, 0, 0]);
        assert!(d.next_frame().unwrap().is_some());
        assert_eq!(
            d.next_frame().unwrap_err(),
            FrameError::UnknownKind {
                offset: 5,
                kind: 0x42
            }
        );
        let mut d = Decoder::default();
        d.push(&[KIND_AUDIO, 0xff, 0xff]);
        let e = d.next_frame().unwrap_err();
        assert!(e.to_string().starts_with("byte 0: payload of 65535"), "{e}");
        let mut d = Decoder::default();
        d.push(&encode(KIND_UUID, &[1; 15]));
        assert!(d.next_frame().unwrap_err().to_string().contains("UUID"));
        let mut d = Decoder::default();
        d.push(&encode(KIND_AUDIO, &[1; 3]));
        assert!(d.next_frame().unwrap_err().to_string().contains("even"));
        let mut d = Decoder::default();
        d.push(&encode(KIND_DTMF, b"x"));
        assert!(matches!(
            d.next_frame().unwrap_err(),
            FrameError::BadDtmf { offset: 0, .. }
        ));
    }

    #[test]
    fn a_hangup_frame_with_a_payload_is_refused_at_its_offset() {
        // AudioSocket defines hang-up as `00 00 00`: a length other than 0 is not that frame.
        let mut d = Decoder::default();
        d.push(&encode(KIND_DTMF, b"1"));
        d.push(&encode(KIND_HANGUP, &[0x01]));
        assert_eq!(d.next_frame().unwrap(), Some(Frame::Dtmf('1')));
        let e = d.next_frame().unwrap_err();
        assert_eq!(
            e,
            FrameError::BadLength {
                offset: 4,
                what: "hang-up",
                len: 1,
                expected: "0"
            }
        );
        assert!(e.to_string().starts_with("byte 4: hang-up frame"), "{e}");
        // Refused from the header alone, before the payload arrives.
        let mut d = Decoder::default();
        d.push(&[KIND_HANGUP, 0, 2]);
        assert!(matches!(
            d.next_frame().unwrap_err(),
            FrameError::BadLength {
                offset: 0,
                len: 2,
                ..
            }
        ));
        let mut d = Decoder::default();
        d.push(&encode(KIND_HANGUP, &[]));
        assert_eq!(d.next_frame().unwrap(), Some(Frame::Hangup));
    }

    #[test]
    fn uuid_frames_read_as_hyphenated_text() {
        let b = *uuid::Uuid::parse_str("0f8f4d8e-1c2b-4a5d-9e6f-7a8b9c0d1e2f")
            .unwrap()
            .as_bytes();
        assert_eq!(uuid_string(&b), "0f8f4d8e-1c2b-4a5d-9e6f-7a8b9c0d1e2f");
    }
}
