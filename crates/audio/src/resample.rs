//! Sample-rate conversion with anti-aliasing (rubato's synchronous FFT resampler).
//!
//! [`StreamResampler`] takes input in chunks of any size (e.g. 20 ms frames) and returns
//! output samples as they become available. It removes its own filter delay, so output
//! sample `k` corresponds to input time `k / to`, and after [`StreamResampler::flush`] the
//! total output length is exactly `ceil(n_in * to / from)`. [`resample`] is the same
//! machine run over a whole buffer, so streaming and batch results agree.
//!
//! The low-pass filter is a windowed sinc (Blackman-Harris²) applied in the frequency domain
//! with a cutoff just below the lower of the two Nyquist frequencies.

use crate::{Audio, AudioError};
use rubato::{FftFixedIn, Resampler};

/// Highest sample rate accepted, in Hz.
pub const MAX_RATE: u32 = 768_000;

/// Largest reduced rate ratio term (`rate / gcd(from, to)`) accepted. The FFT resampler works
/// in units of this many samples, so rates with a tiny common divisor (e.g. 44101 and 48000)
/// would need huge transforms and are refused.
pub const MAX_RATIO_TERM: u32 = 4096;

/// Input block length the resampler works on, in seconds (rounded up to whole units).
/// Longer blocks give a longer filter (sharper anti-aliasing) and a longer delay.
const BLOCK_S: f64 = 0.04;

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn check_rate(name: &'static str, r: u32) -> Result<(), AudioError> {
    if r == 0 || r > MAX_RATE {
        return Err(AudioError::InvalidParam {
            name,
            why: format!("{r} Hz; must be between 1 and {MAX_RATE} Hz"),
        });
    }
    Ok(())
}

/// Output length for `n_in` input samples: `ceil(n_in * to / from)`.
pub fn output_len(n_in: usize, from: u32, to: u32) -> usize {
    ((n_in as u128 * to as u128).div_ceil(from as u128)) as usize
}

/// Streaming mono resampler. Feed any number of samples with [`push`](Self::push) or
/// [`push_into`](Self::push_into); call [`flush`](Self::flush) at the end of the stream.
pub struct StreamResampler {
    from: u32,
    to: u32,
    /// `None` when `from == to` (pass-through).
    inner: Option<FftFixedIn<f32>>,
    chunk_in: usize,
    pending: Vec<f32>,
    out_buf: Vec<Vec<f32>>,
    delay: usize,
    to_skip: usize,
    in_total: u64,
    out_total: u64,
}

impl StreamResampler {
    /// A resampler from `from` Hz to `to` Hz.
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        check_rate("from", from)?;
        check_rate("to", to)?;
        let g = gcd(from, to);
        let (uf, ut) = (from / g, to / g);
        if uf > MAX_RATIO_TERM || ut > MAX_RATIO_TERM {
            return Err(AudioError::InvalidParam {
                name: "rate",
                why: format!(
                    "{from} -> {to} Hz reduces to {uf}:{ut}; terms above {MAX_RATIO_TERM} are not supported"
                ),
            });
        }
        if from == to {
            return Ok(StreamResampler {
                from,
                to,
                inner: None,
                chunk_in: 0,
                pending: Vec::new(),
                out_buf: Vec::new(),
                delay: 0,
                to_skip: 0,
                in_total: 0,
                out_total: 0,
            });
        }
        let target = (from as f64 * BLOCK_S).ceil() as usize;
        let units = target.div_ceil(uf as usize).max(1);
        let chunk_in = units * uf as usize;
        let inner =
            FftFixedIn::<f32>::new(from as usize, to as usize, chunk_in, 1, 1).map_err(|e| {
                AudioError::InvalidParam {
                    name: "rate",
                    why: format!("{from} -> {to} Hz: {e}"),
                }
            })?;
        let delay = inner.output_delay();
        let out_buf = inner.output_buffer_allocate(true);
        Ok(StreamResampler {
            from,
            to,
            inner: Some(inner),
            chunk_in,
            pending: Vec::with_capacity(chunk_in),
            out_buf,
            delay,
            to_skip: delay,
            in_total: 0,
            out_total: 0,
        })
    }

    /// Input rate in Hz.
    pub fn from_rate(&self) -> u32 {
        self.from
    }

    /// Output rate in Hz.
    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// Latency in output samples: how far the output lags behind the input while streaming
    /// (the filter delay, which is removed from the output, plus up to one block of input
    /// buffering, [`block_len`](Self::block_len)).
    pub fn delay(&self) -> usize {
        self.delay
    }

    /// Input samples processed per internal block (0 for pass-through).
    pub fn block_len(&self) -> usize {
        self.chunk_in
    }

    fn run_chunk(&mut self, chunk: &[f32], out: &mut Vec<f32>) {
        let inner = self
            .inner
            .as_mut()
            .expect("resampling path has a resampler");
        let (_, produced) = inner
            .process_into_buffer(&[chunk], &mut self.out_buf, None)
            .expect("buffers are sized by the resampler itself");
        let produced = &self.out_buf[0][..produced];
        let skip = self.to_skip.min(produced.len());
        self.to_skip -= skip;
        out.extend_from_slice(&produced[skip..]);
        self.out_total += (produced.len() - skip) as u64;
    }

    /// Feed input samples, appending the output now available to `out`.
    pub fn push_into(&mut self, input: &[f32], out: &mut Vec<f32>) {
        self.in_total += input.len() as u64;
        if self.inner.is_none() {
            out.extend_from_slice(input);
            self.out_total += input.len() as u64;
            return;
        }
        let mut rest = input;
        if !self.pending.is_empty() {
            let need = (self.chunk_in - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..need]);
            rest = &rest[need..];
            if self.pending.len() < self.chunk_in {
                return;
            }
            let chunk = std::mem::take(&mut self.pending);
            self.run_chunk(&chunk, out);
            self.pending = chunk;
            self.pending.clear();
        }
        let mut blocks = rest.chunks_exact(self.chunk_in);
        for chunk in blocks.by_ref() {
            self.run_chunk(chunk, out);
        }
        self.pending.extend_from_slice(blocks.remainder());
    }

    /// Feed input samples; returns the output now available.
    pub fn push(&mut self, input: &[f32]) -> Vec<f32> {
        let mut out = Vec::new();
        self.push_into(input, &mut out);
        out
    }

    /// End of stream: returns the remaining output, so that the total output since the start
    /// (or the previous flush) is exactly `ceil(n_in * to / from)` samples. The resampler is
    /// then reset and can take a new stream.
    pub fn flush(&mut self) -> Vec<f32> {
        let want = output_len(self.in_total as usize, self.from, self.to) as u64;
        let mut out = Vec::new();
        if self.inner.is_some() {
            while self.out_total < want {
                let mut chunk = std::mem::take(&mut self.pending);
                chunk.resize(self.chunk_in, 0.0);
                self.run_chunk(&chunk, &mut out);
                chunk.clear();
                self.pending = chunk;
            }
            let extra = (self.out_total - want) as usize;
            out.truncate(out.len() - extra);
            if let Some(inner) = self.inner.as_mut() {
                inner.reset();
            }
        }
        self.pending.clear();
        self.to_skip = self.delay;
        self.in_total = 0;
        self.out_total = 0;
        out
    }
}

/// Resample a whole mono signal from `from` Hz to `to` Hz. Output length is
/// `ceil(samples.len() * to / from)`.
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    let mut r = StreamResampler::new(from, to)?;
    let mut out = Vec::with_capacity(output_len(samples.len(), from, to));
    r.push_into(samples, &mut out);
    out.extend(r.flush());
    Ok(out)
}

/// [`resample`] for 16-bit PCM: converted to floats, resampled and converted back (saturating);
/// the same rate gives the samples unchanged.
pub fn resample_i16(samples: &[i16], from: u32, to: u32) -> Result<Vec<i16>, AudioError> {
    if from == to {
        return Ok(samples.to_vec());
    }
    let x: Vec<f32> = samples.iter().map(|&s| crate::pcm::i16_to_f32(s)).collect();
    Ok(resample(&x, from, to)?
        .iter()
        .map(|&v| crate::pcm::f32_to_i16(v))
        .collect())
}

/// Resample every channel of `audio` to `to` Hz.
pub fn resample_audio(audio: &Audio, to: u32) -> Result<Audio, AudioError> {
    let channels = audio
        .channels
        .iter()
        .map(|c| resample(c, audio.sample_rate, to))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Audio {
        sample_rate: to,
        channels,
    })
}
