//! Streaming decimation by two behind a linear-phase FIR anti-alias filter (16 kHz → 8 kHz).
//!
//! [`HalfRate`] low-passes its input with a Kaiser-windowed sinc of [`TAPS`] taps and keeps
//! every other sample, computing only the samples it keeps (polyphase: one dot product of
//! [`TAPS`] multiply-adds per output sample). Sans I/O and allocation-free after the first
//! chunk; the output does not depend on how the input is chunked (tested).
//!
//! Response, relative to the input rate `fs` (at 16 kHz in brackets), as measured by the tests:
//! - passband `0 ..= 0.2125·fs` (0–3400 Hz, the telephone band): flat within
//!   [`PASSBAND_RIPPLE_DB`];
//! - stopband from `0.25·fs` (4000 Hz, the new Nyquist frequency) up: at least
//!   [`STOPBAND_ATTENUATION_DB`] down, so nothing aliases back above that level;
//! - 3400–4000 Hz is the transition band.
//!
//! Latency: the filter delays by [`DELAY_INPUT_SAMPLES`] input samples (3.5 ms at 16 kHz).
//! - [`HalfRate::new`]: output sample `k` is the filter output at input sample `2k`, so it
//!   stands for input time `2k - DELAY_INPUT_SAMPLES`; times measured on the output are
//!   [`delay_ms`] late.
//! - [`HalfRate::aligned`] drops the first `DELAY_INPUT_SAMPLES / 2` outputs instead: output
//!   `k` stands for input time `2k` exactly, so times measured on the output need no
//!   correction. The price is the same latency in arrival: output `k` comes out when input
//!   `2k + DELAY_INPUT_SAMPLES` goes in, and the last [`delay_ms`] of a stream never come out.
//!
//! The history before the stream is zeros.

/// Filter length, taps (odd: linear phase with a whole-sample delay).
pub const TAPS: usize = 113;
/// Group delay of the filter, input samples (`(TAPS - 1) / 2`).
pub const DELAY_INPUT_SAMPLES: usize = (TAPS - 1) / 2;
/// Passband edge as a fraction of the input rate (3400 Hz at 16 kHz).
pub const PASSBAND_EDGE: f64 = 0.2125;
/// Stopband edge as a fraction of the input rate: the output's Nyquist frequency.
pub const STOPBAND_EDGE: f64 = 0.25;
/// Largest deviation from 0 dB in the passband (guaranteed by the tests), dB.
pub const PASSBAND_RIPPLE_DB: f64 = 0.01;
/// Smallest attenuation in the stopband (guaranteed by the tests), dB.
pub const STOPBAND_ATTENUATION_DB: f64 = 65.0;
/// Kaiser window shape parameter (with [`TAPS`]: 67 dB down at the stopband edge).
const KAISER_BETA: f64 = 6.5;
/// Taps rounded up to whole 8-lane blocks (zeros in front), for the dot product.
const PADDED: usize = TAPS.div_ceil(LANES) * LANES;
const LANES: usize = 8;

/// Latency of [`HalfRate`] at input rate `fs`, ms (3.5 at 16 kHz).
pub fn delay_ms(fs: u32) -> f64 {
    DELAY_INPUT_SAMPLES as f64 * 1000.0 / fs as f64
}

/// Modified Bessel function of the first kind, order 0 (power series; converges for the
/// arguments a Kaiser window needs).
fn bessel_i0(x: f64) -> f64 {
    let q = x * x / 4.0;
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..64 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// The filter's taps: Kaiser-windowed sinc, cutoff halfway through the transition band,
/// normalised to unit gain at DC. Symmetric.
pub fn taps() -> [f64; TAPS] {
    let fc = (PASSBAND_EDGE + STOPBAND_EDGE) / 2.0;
    let mid = DELAY_INPUT_SAMPLES as f64;
    let norm = bessel_i0(KAISER_BETA);
    let mut h = [0.0; TAPS];
    for (n, v) in h.iter_mut().enumerate() {
        let t = n as f64 - mid;
        let sinc = if t == 0.0 {
            2.0 * fc
        } else {
            (2.0 * std::f64::consts::PI * fc * t).sin() / (std::f64::consts::PI * t)
        };
        let r = t / mid;
        *v = sinc * bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / norm;
    }
    let sum: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v /= sum);
    h
}

/// Gain of [`taps`] at `f` (fraction of the input rate), dB.
pub fn response_db(f: f64) -> f64 {
    let (mut re, mut im) = (0.0, 0.0);
    for (n, &v) in taps().iter().enumerate() {
        let w = 2.0 * std::f64::consts::PI * f * n as f64;
        re += v * w.cos();
        im -= v * w.sin();
    }
    10.0 * (re * re + im * im).max(1e-30).log10()
}

/// Streaming decimator by two (see the module docs for its response and latency).
#[derive(Clone, Debug)]
pub struct HalfRate {
    /// Taps in 8-lane blocks, zeros first (symmetric, so no reversal is needed).
    taps: Vec<[f32; LANES]>,
    /// The last `PADDED - 1` input samples (zeros before the stream), then the new chunk.
    buf: Vec<f32>,
    /// Whether the next input sample has an odd index in the stream.
    odd: bool,
    /// Output samples still to drop (see [`HalfRate::aligned`]).
    skip: usize,
}

impl Default for HalfRate {
    fn default() -> Self {
        Self::new()
    }
}

impl HalfRate {
    /// A decimator at the start of a stream.
    pub fn new() -> Self {
        let mut padded = vec![0f32; PADDED];
        for (d, s) in padded[PADDED - TAPS..].iter_mut().zip(taps()) {
            *d = s as f32;
        }
        HalfRate {
            taps: padded
                .chunks_exact(LANES)
                .map(|c| c.try_into().expect("8 lanes"))
                .collect(),
            buf: vec![0.0; PADDED - 1],
            odd: false,
            skip: 0,
        }
    }

    /// A decimator whose output is aligned with its input: the filter delay is dropped from
    /// the start of the output (see the module docs).
    pub fn aligned() -> Self {
        HalfRate {
            skip: DELAY_INPUT_SAMPLES / 2,
            ..Self::new()
        }
    }

    /// Number of output samples `n` more input samples will produce.
    pub fn output_len(&self, n: usize) -> usize {
        ((n + usize::from(!self.odd)) / 2).saturating_sub(self.skip)
    }

    /// Filter `input` and append every other filtered sample (the even-indexed ones of the
    /// stream) to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if input.is_empty() {
            return;
        }
        let hist = PADDED - 1;
        self.buf.extend_from_slice(input);
        // Index in `buf` of the first even-indexed new sample.
        let mut p = hist + usize::from(self.odd);
        out.reserve(input.len() / 2 + 1);
        while self.skip > 0 && p < self.buf.len() {
            self.skip -= 1;
            p += 2;
        }
        while p < self.buf.len() {
            out.push(self.dot(p + 1 - PADDED));
            p += 2;
        }
        self.odd ^= input.len() % 2 == 1;
        let drop = self.buf.len() - hist;
        self.buf.drain(..drop);
    }

    /// Dot product of the taps with `buf[start .. start + PADDED]`, in eight lanes.
    #[inline]
    fn dot(&self, start: usize) -> f32 {
        let x = &self.buf[start..start + PADDED];
        let mut acc = [0f32; LANES];
        for (h, xs) in self.taps.iter().zip(x.chunks_exact(LANES)) {
            for l in 0..LANES {
                acc[l] += h[l] * xs[l];
            }
        }
        let a: [f32; 4] = std::array::from_fn(|l| acc[l] + acc[l + 4]);
        (a[0] + a[2]) + (a[1] + a[3])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 16_000.0;

    fn run_all(x: &[f32], chunk: usize) -> Vec<f32> {
        run_with(HalfRate::new(), x, chunk)
    }

    fn run_with(mut d: HalfRate, x: &[f32], chunk: usize) -> Vec<f32> {
        let mut out = Vec::new();
        for c in x.chunks(chunk.max(1)) {
            let before = out.len();
            let expect = d.output_len(c.len());
            d.process(c, &mut out);
            assert_eq!(out.len() - before, expect, "output_len for chunk {chunk}");
        }
        out
    }

    fn sine(f: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / FS).sin() as f32)
            .collect()
    }

    /// RMS gain of the decimated steady-state output for a unit sine at `f` Hz, dB.
    fn measured_gain_db(f: f64) -> f64 {
        let n = 16_000;
        let x = sine(f, n);
        let y = run_all(&x, 160);
        let steady = &y[TAPS..];
        let p: f64 = steady.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / steady.len() as f64;
        10.0 * (p / 0.5).log10()
    }

    #[test]
    fn passband_is_flat_within_the_stated_ripple() {
        let mut worst: f64 = 0.0;
        for i in 0..=200 {
            let f = PASSBAND_EDGE * i as f64 / 200.0;
            worst = worst.max(response_db(f).abs());
        }
        assert!(worst <= PASSBAND_RIPPLE_DB, "passband ripple {worst:.4} dB");
        // and on real samples through the streaming path (f32 arithmetic)
        for f in [100.0, 300.0, 1000.0, 2500.0, 3400.0] {
            let g = measured_gain_db(f);
            assert!(g.abs() <= PASSBAND_RIPPLE_DB + 0.01, "{f} Hz: {g:.4} dB");
        }
    }

    #[test]
    fn stopband_is_attenuated_by_the_stated_figure_from_4_khz_up() {
        let mut least = f64::INFINITY;
        for i in 0..=2000 {
            let f = STOPBAND_EDGE + (0.5 - STOPBAND_EDGE) * i as f64 / 2000.0;
            least = least.min(-response_db(f));
        }
        assert!(least >= STOPBAND_ATTENUATION_DB, "stopband {least:.1} dB");
        // a 4.5 kHz tone would alias to 3.5 kHz: it must come out at least that far down
        for f in [4000.0, 4500.0, 6000.0, 7900.0] {
            let g = measured_gain_db(f);
            assert!(g <= -STOPBAND_ATTENUATION_DB, "{f} Hz: {g:.1} dB");
        }
    }

    #[test]
    fn output_is_identical_whatever_the_chunking() {
        let x: Vec<f32> = {
            let mut s = 0x1234_5678u32;
            (0..5_003)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 17;
                    s ^= s << 5;
                    (s as f32 / u32::MAX as f32) * 2.0 - 1.0
                })
                .collect()
        };
        let whole = run_all(&x, x.len());
        assert_eq!(whole.len(), x.len().div_ceil(2));
        for chunk in [1, 2, 3, 7, 80, 159, 160, 161, 320, 1000] {
            assert_eq!(run_all(&x, chunk), whole, "chunk {chunk}");
        }
        // irregular chunk sizes too
        let mut d = HalfRate::new();
        let mut out = Vec::new();
        let mut rest = &x[..];
        let mut k = 0;
        while !rest.is_empty() {
            let n = (k * 37 % 211).min(rest.len());
            d.process(&rest[..n], &mut out);
            rest = &rest[n..];
            k += 1;
        }
        assert_eq!(out, whole);
    }

    #[test]
    fn delay_is_the_stated_latency() {
        // An impulse at input sample 2m comes out centred at output sample m + delay/2.
        let m = 200;
        let mut x = vec![0f32; 1000];
        x[2 * m] = 1.0;
        let y = run_all(&x, 160);
        let peak = y
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .unwrap();
        assert_eq!(peak * 2, 2 * m + DELAY_INPUT_SAMPLES);
        assert_eq!(delay_ms(16_000), 3.5);
        // aligned: the peak sits at output m, and the output is the plain one minus its head
        let ya = run_with(HalfRate::aligned(), &x, 160);
        let peak_a = ya
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .map(|(i, _)| i)
            .unwrap();
        assert_eq!(peak_a, m);
        assert_eq!(ya[..], y[DELAY_INPUT_SAMPLES / 2..]);
        for chunk in [1, 3, 10, 27, 29, 160] {
            assert_eq!(
                run_with(HalfRate::aligned(), &x, chunk),
                ya,
                "chunk {chunk}"
            );
        }
        // DC passes with unit gain
        let y = run_all(&vec![0.5f32; 1000], 160);
        assert!((y[400] - 0.5).abs() < 1e-5, "{}", y[400]);
    }

    #[test]
    fn matches_a_direct_convolution() {
        let x = sine(1234.5, 777);
        let h = taps();
        let y = run_all(&x, 50);
        for (k, &got) in y.iter().enumerate() {
            let n = 2 * k;
            let want: f64 = (0..TAPS)
                .filter(|&j| j <= n)
                .map(|j| h[j] * x[n - j] as f64)
                .sum();
            assert!((got as f64 - want).abs() < 1e-5, "k {k}: {got} vs {want}");
        }
    }
}
