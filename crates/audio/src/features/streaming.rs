//! Push-based log-mel and MFCC extractors for fixed framing (e.g. 25 ms / 10 ms telephone
//! framing). Feed chunks of any size with `push`, call `finish` at end of stream; the frames
//! appended equal the batch [`MelSpectrogram::compute_db`](super::MelSpectrogram::compute_db) /
//! [`Mfcc::compute`](super::Mfcc::compute) output with `top_db: None` (frame-major here).

use super::mfcc::{db_no_clip, DbParams, Dct2Ortho, MelFrontend, MelParams, MfccParams};
use crate::AudioError;

/// Sliding frame buffer: holds the samples from the next frame's start onwards.
#[derive(Debug)]
struct Framer {
    buf: Vec<f32>,
    /// Index in `buf` where the next frame starts (may exceed `buf.len()` when hop > n_fft).
    next: usize,
    n_fft: usize,
    hop: usize,
    center: bool,
    finished: bool,
}

impl Framer {
    fn new(n_fft: usize, hop: usize, center: bool) -> Self {
        let mut f = Framer {
            buf: Vec::with_capacity(4 * n_fft),
            next: 0,
            n_fft,
            hop,
            center,
            finished: false,
        };
        f.reset();
        f
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.next = 0;
        self.finished = false;
        if self.center {
            self.buf.resize(self.n_fft / 2, 0.0);
        }
    }

    /// Append samples, then call `each` on every complete frame; compact afterwards.
    fn feed(&mut self, samples: &[f32], mut each: impl FnMut(&[f32])) -> usize {
        self.buf.extend_from_slice(samples);
        let mut n = 0;
        while self.next + self.n_fft <= self.buf.len() {
            each(&self.buf[self.next..self.next + self.n_fft]);
            self.next += self.hop;
            n += 1;
        }
        let drop = self.next.min(self.buf.len());
        self.buf.drain(..drop);
        self.next -= drop;
        n
    }
}

/// Streaming log-mel in dB (librosa `power_to_db(melspectrogram(...))` without `top_db`).
#[derive(Debug)]
pub struct OnlineLogMel {
    front: MelFrontend,
    framer: Framer,
    amin: f32,
    offset_db: f32,
}

fn streaming_db(db: &DbParams) -> Result<(), AudioError> {
    db.validate()?;
    if db.top_db.is_some() {
        return Err(AudioError::InvalidParam {
            name: "top_db",
            why: "needs the maximum over the whole signal; streaming extractors require None"
                .into(),
        });
    }
    Ok(())
}

impl OnlineLogMel {
    /// Build for `params` and dB conversion `db` (`db.top_db` must be `None`).
    pub fn new(params: MelParams, db: DbParams) -> Result<Self, AudioError> {
        streaming_db(&db)?;
        let framer = Framer::new(params.n_fft, params.hop_length, params.center);
        Ok(OnlineLogMel {
            front: MelFrontend::new(params)?,
            framer,
            amin: db.amin,
            offset_db: db.offset_db(),
        })
    }

    /// Values per frame (`n_mels`).
    pub fn dim(&self) -> usize {
        self.front.params.n_mels
    }

    /// Append samples; every frame that became complete is appended to `out` (`dim` values
    /// each). Returns the number of frames appended.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> usize {
        if self.framer.finished {
            return 0;
        }
        let dim = self.dim();
        let (front, amin, off) = (&mut self.front, self.amin, self.offset_db);
        self.framer.feed(samples, |frame| {
            let at = out.len();
            out.resize(at + dim, 0.0);
            let dst = &mut out[at..];
            front.frame(frame, dst);
            db_no_clip(dst, amin, off);
        })
    }

    /// End of stream: with `center`, pads `n_fft / 2` zeros and emits the remaining frames.
    /// Further pushes are ignored until [`reset`](Self::reset).
    pub fn finish(&mut self, out: &mut Vec<f32>) -> usize {
        if self.framer.finished {
            return 0;
        }
        let pad = vec![
            0.0;
            if self.framer.center {
                self.framer.n_fft / 2
            } else {
                0
            }
        ];
        let n = self.push(&pad, out);
        self.framer.finished = true;
        n
    }

    /// Start a new stream with the same parameters.
    pub fn reset(&mut self) {
        self.framer.reset();
    }
}

/// Streaming MFCC (librosa `mfcc` without `top_db`), `n_mfcc` values per frame.
#[derive(Debug)]
pub struct OnlineMfcc {
    logmel: OnlineLogMel,
    dct: Dct2Ortho,
    mel_frame: Vec<f32>,
}

impl OnlineMfcc {
    /// Build for `params` (`params.db.top_db` must be `None`).
    pub fn new(params: MfccParams) -> Result<Self, AudioError> {
        let dct = Dct2Ortho::new(params.mel.n_mels, params.n_mfcc)?;
        let mel_frame = Vec::with_capacity(params.mel.n_mels);
        Ok(OnlineMfcc {
            logmel: OnlineLogMel::new(params.mel, params.db)?,
            dct,
            mel_frame,
        })
    }

    /// Values per frame (`n_mfcc`).
    pub fn dim(&self) -> usize {
        self.dct.n_out()
    }

    fn convert(&mut self, n: usize, out: &mut Vec<f32>) {
        let n_mels = self.dct.n_in();
        let n_mfcc = self.dct.n_out();
        // Each frame's log-mel values were staged in `mel_frame`; turn them into coefficients.
        for t in 0..n {
            let at = out.len();
            out.resize(at + n_mfcc, 0.0);
            self.dct.apply(
                &self.mel_frame[t * n_mels..(t + 1) * n_mels],
                &mut out[at..],
            );
        }
        self.mel_frame.clear();
    }

    /// Append samples; coefficients of every completed frame are appended to `out`.
    /// Returns the number of frames appended.
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) -> usize {
        let mut staged = std::mem::take(&mut self.mel_frame);
        let n = self.logmel.push(samples, &mut staged);
        self.mel_frame = staged;
        self.convert(n, out);
        n
    }

    /// End of stream (see [`OnlineLogMel::finish`]).
    pub fn finish(&mut self, out: &mut Vec<f32>) -> usize {
        let mut staged = std::mem::take(&mut self.mel_frame);
        let n = self.logmel.finish(&mut staged);
        self.mel_frame = staged;
        self.convert(n, out);
        n
    }

    /// Start a new stream with the same parameters.
    pub fn reset(&mut self) {
        self.logmel.reset();
        self.mel_frame.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::mfcc::{MelSpectrogram, Mfcc};
    use super::*;

    fn signal(n: usize) -> Vec<f32> {
        // Deterministic pseudo-random noise plus a chirp.
        let mut s = 0x1234_5678u32;
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let noise = (s as f32 / u32::MAX as f32 - 0.5) * 0.1;
                let t = i as f32 / 8000.0;
                noise + 0.4 * (2.0 * std::f32::consts::PI * (300.0 + 400.0 * t) * t).sin()
            })
            .collect()
    }

    fn chunk_sizes(seed: u32) -> impl FnMut() -> usize {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            1 + (s >> 8) as usize % 700
        }
    }

    fn no_top_db() -> DbParams {
        DbParams {
            top_db: None,
            ..Default::default()
        }
    }

    #[test]
    fn streaming_mfcc_equals_batch_for_random_chunks() {
        for (sr, n) in [(8000u32, 16000usize), (16000, 12345), (8000, 37)] {
            let mut params = MfccParams::telephone(sr);
            params.db = no_top_db();
            let y = signal(n);
            let batch = Mfcc::new(params.clone()).unwrap().compute(&y);
            for seed in 1..4 {
                let mut online = OnlineMfcc::new(params.clone()).unwrap();
                let mut out = Vec::new();
                let mut next = chunk_sizes(seed);
                let mut i = 0;
                let mut frames = 0;
                while i < y.len() {
                    let c = next().min(y.len() - i);
                    frames += online.push(&y[i..i + c], &mut out);
                    i += c;
                }
                frames += online.finish(&mut out);
                assert_eq!(frames, batch.cols, "sr {sr} n {n}");
                assert_eq!(out.len(), frames * 13);
                for t in 0..frames {
                    for k in 0..13 {
                        assert_eq!(out[t * 13 + k], batch.get(k, t), "frame {t} coef {k}");
                    }
                }
            }
        }
    }

    #[test]
    fn streaming_logmel_equals_batch_and_resets() {
        let mut params = MelParams::telephone(16000);
        params.center = false;
        let y = signal(5000);
        let batch = MelSpectrogram::new(params.clone())
            .unwrap()
            .compute_db(&y, &no_top_db());
        let mut online = OnlineLogMel::new(params, no_top_db()).unwrap();
        for _round in 0..2 {
            let mut out = Vec::new();
            for c in y.chunks(97) {
                online.push(c, &mut out);
            }
            online.finish(&mut out);
            assert_eq!(out.len(), batch.cols * 40);
            for t in 0..batch.cols {
                for b in 0..40 {
                    assert_eq!(out[t * 40 + b], batch.get(b, t));
                }
            }
            assert_eq!(
                online.push(&y[..1000], &mut out),
                0,
                "push after finish is ignored"
            );
            online.reset();
        }
    }

    #[test]
    fn streaming_rejects_top_db() {
        assert!(matches!(
            OnlineMfcc::new(MfccParams::telephone(8000)),
            Err(AudioError::InvalidParam { name: "top_db", .. })
        ));
    }
}
