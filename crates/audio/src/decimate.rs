//! Streaming decimation by two behind a linear-phase half-band FIR (16 kHz → 8 kHz).
//!
//! [`HalfRate`] low-passes its input with a Kaiser-windowed half-band sinc of [`TAPS`] taps
//! and keeps every other sample, computing only the samples it keeps. A half-band filter has
//! every other tap zero except the centre one (which is exactly 1/2), and its taps are
//! symmetric, so one output sample costs [`PAIRS`] multiplies of a folded pair
//! `x[c - o] + x[c + o]` plus the centre: 16 multiply-adds instead of 63 (or the 113 of a
//! filter with its whole stopband above 4 kHz). The input is split into its even and odd
//! samples as it arrives; the centre taps read one phase, the pairs the other, and the inner
//! loop runs over contiguous slices of that phase, eight outputs at a time (vectorised, no
//! per-sample modulo or branch). Sans I/O and allocation-free once the buffers have grown to
//! the largest chunk; the output does not depend on how the input is chunked (tested).
//!
//! Response, relative to the input rate `fs` (at 16 kHz in brackets), as measured by the tests:
//! - passband `0 ..= 0.2125·fs` (0–3400 Hz, the telephone band): flat within
//!   [`PASSBAND_RIPPLE_DB`];
//! - stopband from `0.2875·fs` (4600 Hz) up: at least [`STOPBAND_ATTENUATION_DB`] down;
//! - 3400–4600 Hz is the transition band, symmetric about `0.25·fs` (4000 Hz, the new Nyquist
//!   frequency), where the gain is exactly 1/2 (−6.02 dB). What lies in 4000–4600 Hz is not
//!   fully removed and folds back into 3400–4000 Hz: a tone at `4000 + d` Hz comes out at
//!   `4000 − d` Hz with gain [`response_db`]`(4000 + d)` (about −15 dB for 4200 Hz, −32 dB
//!   for 4400 Hz, at least 70 dB down from 4600 Hz). That is above the beep (≤ 2.5 kHz) and call-progress
//!   tone bands, but inside the VAD's 200–4000 Hz band; telephone audio carries little there
//!   (a 16 kHz copy of an 8 kHz call carries nothing), and the AMD eval on 16 kHz copies is
//!   the same as with the 113-tap filter this one replaced.
//!
//! Latency: the filter delays by [`DELAY_INPUT_SAMPLES`] input samples (1.94 ms at 16 kHz).
//! - [`HalfRate::new`]: output sample `k` is the filter output at input sample `2k`, so it
//!   stands for input time `2k - DELAY_INPUT_SAMPLES`; times measured on the output are
//!   [`delay_ms`] late.
//! - [`HalfRate::aligned`] samples the other phase of the filter output instead, the one at
//!   input `2k + DELAY_INPUT_SAMPLES` (the delay is odd): output `k` stands for input time
//!   `2k` exactly, so times measured on the output need no correction. The price is the same
//!   latency in arrival: output `k` comes out when input `2k + DELAY_INPUT_SAMPLES` goes in,
//!   and the last [`delay_ms`] of a stream never come out.
//!
//! The history before the stream is zeros.

/// Folded tap pairs: the non-zero taps off the centre, at offsets `±1, ±3, …, ±(2·PAIRS − 1)`.
pub const PAIRS: usize = 16;
/// Filter length, taps (`4·PAIRS − 1`: odd, with non-zero end taps).
pub const TAPS: usize = 4 * PAIRS - 1;
/// Group delay of the filter, input samples (`(TAPS - 1) / 2`, odd).
pub const DELAY_INPUT_SAMPLES: usize = (TAPS - 1) / 2;
/// Passband edge as a fraction of the input rate (3400 Hz at 16 kHz).
pub const PASSBAND_EDGE: f64 = 0.2125;
/// Stopband edge as a fraction of the input rate (4600 Hz at 16 kHz): the passband edge
/// mirrored about the output's Nyquist frequency, as for every half-band filter.
pub const STOPBAND_EDGE: f64 = 0.5 - PASSBAND_EDGE;
/// Largest deviation from 0 dB in the passband (guaranteed by the tests), dB.
pub const PASSBAND_RIPPLE_DB: f64 = 0.005;
/// Smallest attenuation in the stopband (guaranteed by the tests), dB.
pub const STOPBAND_ATTENUATION_DB: f64 = 70.0;
/// Kaiser window shape parameter (with [`TAPS`]: 0.0026 dB ripple, 70.3 dB down; the
/// best of β in 5.5..8 in steps of 0.5).
const KAISER_BETA: f64 = 7.0;
/// Outputs computed together in the inner loop (two 128-bit vectors of f32; 4, 12 and 16
/// measured slower).
const BLOCK: usize = 8;
/// Samples of the pair phase one output reads.
const WINDOW: usize = 2 * PAIRS;

/// Latency of [`HalfRate`] at input rate `fs`, ms (1.9375 at 16 kHz).
pub fn delay_ms(fs: u32) -> f64 {
    DELAY_INPUT_SAMPLES as f64 * 1000.0 / fs as f64
}

/// Whether the CPU has AVX (checked once per decimator; `false` off x86-64).
fn has_avx() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
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

/// The filter's taps: Kaiser-windowed half-band sinc (cutoff `0.25·fs`). Symmetric; the
/// centre tap is exactly 1/2 and every other tap from it is exactly zero; the others are
/// scaled to sum to 1/2, for unit gain at DC.
pub fn taps() -> [f64; TAPS] {
    let mid = DELAY_INPUT_SAMPLES as f64;
    let norm = bessel_i0(KAISER_BETA);
    let mut h = [0.0; TAPS];
    for (n, v) in h.iter_mut().enumerate() {
        let t = n as i64 - DELAY_INPUT_SAMPLES as i64;
        if t % 2 == 0 {
            continue;
        }
        let t = t as f64;
        let sinc = (std::f64::consts::FRAC_PI_2 * t).sin() / (std::f64::consts::PI * t);
        let r = t / mid;
        *v = sinc * bessel_i0(KAISER_BETA * (1.0 - r * r).max(0.0).sqrt()) / norm;
    }
    let off: f64 = h.iter().sum();
    h.iter_mut().for_each(|v| *v *= 0.5 / off);
    h[DELAY_INPUT_SAMPLES] = 0.5;
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

/// One tap in the eight lanes of a block (two 128-bit or one 256-bit vector), aligned so it
/// can be a vector operand.
#[derive(Clone, Copy, Debug)]
#[repr(align(32))]
struct Lanes([f32; BLOCK]);

/// Streaming decimator by two (see the module docs for its response and latency).
#[derive(Clone, Debug)]
pub struct HalfRate {
    /// `g[j]`: the tap at offsets `±(2j + 1)` from the centre, in every lane of a vector.
    g: [Lanes; PAIRS],
    /// Input samples of the phase the pairs read: those of the next output's window (the
    /// first `WINDOW - 1` of them, zeros before the stream), then any newer ones.
    pair: Vec<f32>,
    /// Input samples of the phase the centre tap reads, from the next output's on.
    centre: Vec<f32>,
    /// Whether the next input sample belongs to the pair phase.
    next_is_pair: bool,
    /// Whether the CPU has AVX (then the filter loop runs in 256-bit vectors).
    avx: bool,
}

impl Default for HalfRate {
    fn default() -> Self {
        Self::new()
    }
}

impl HalfRate {
    fn with_phase(pair_history: usize, centre_history: usize, first_is_pair: bool) -> Self {
        let h = taps();
        HalfRate {
            g: std::array::from_fn(|j| Lanes([h[DELAY_INPUT_SAMPLES + 2 * j + 1] as f32; BLOCK])),
            pair: vec![0.0; pair_history],
            centre: vec![0.0; centre_history],
            next_is_pair: first_is_pair,
            avx: has_avx(),
        }
    }

    /// A decimator at the start of a stream: output `k` is the filter output at input `2k`
    /// (centre tap on the odd samples, pairs on the even ones).
    pub fn new() -> Self {
        // Output 0 reads the even inputs -62..=0 (31 zeros before the stream) and input -31.
        Self::with_phase(WINDOW - 1, PAIRS, true)
    }

    /// A decimator whose output is aligned with its input: output `k` is the filter output
    /// at input `2k + DELAY_INPUT_SAMPLES`, centred on input `2k` (see the module docs).
    pub fn aligned() -> Self {
        // Output 0 reads the odd inputs -31..=31 (16 zeros before the stream) and input 0.
        Self::with_phase(PAIRS, 0, false)
    }

    /// Number of output samples `n` more input samples will produce.
    pub fn output_len(&self, n: usize) -> usize {
        let (to_pair, to_centre) = if self.next_is_pair {
            (n.div_ceil(2), n / 2)
        } else {
            (n / 2, n.div_ceil(2))
        };
        Self::ready(self.pair.len() + to_pair, self.centre.len() + to_centre)
    }

    /// Outputs computable from buffers of these lengths.
    fn ready(pair: usize, centre: usize) -> usize {
        pair.saturating_sub(WINDOW - 1).min(centre)
    }

    /// Filter `input` and append the filtered samples of the kept phase to `out`.
    pub fn process(&mut self, input: &[f32], out: &mut Vec<f32>) {
        if input.is_empty() {
            return;
        }
        let (first, second) = if self.next_is_pair {
            (&mut self.pair, &mut self.centre)
        } else {
            (&mut self.centre, &mut self.pair)
        };
        let pairs = input.chunks_exact(2);
        let last = pairs.remainder().first().copied();
        first.extend(pairs.clone().map(|x| x[0]));
        first.extend(last);
        second.extend(pairs.map(|x| x[1]));
        self.next_is_pair ^= input.len() % 2 == 1;
        let n = Self::ready(self.pair.len(), self.centre.len());
        let start = out.len();
        out.resize(start + n, 0.0);
        self.filter_into(&mut out[start..], self.avx);
        self.pair.drain(..n);
        self.centre.drain(..n);
    }

    /// Computes the next `dst.len()` outputs (all ready), with the AVX build of the loop when
    /// `avx` (the CPU must have it) and the baseline one otherwise. Both do the same
    /// operations in the same order (no fused multiply-add), so they give the same bits.
    fn filter_into(&self, dst: &mut [f32], avx: bool) {
        #[cfg(target_arch = "x86_64")]
        if avx {
            // SAFETY: `avx` is only true when the CPU reports AVX (`has_avx`).
            unsafe { self.filter_avx(dst) };
            return;
        }
        let _ = avx;
        self.filter(dst);
    }

    /// [`Self::filter`] compiled for AVX.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn filter_avx(&self, dst: &mut [f32]) {
        self.filter(dst);
    }

    #[inline(always)]
    fn filter(&self, dst: &mut [f32]) {
        let mut blocks = dst.chunks_exact_mut(BLOCK);
        let mut k = 0;
        for d in &mut blocks {
            d.copy_from_slice(&self.block::<BLOCK>(k));
            k += BLOCK;
        }
        for d in blocks.into_remainder() {
            *d = self.block::<1>(k)[0];
            k += 1;
        }
    }

    /// Outputs `k .. k + L`. Every lane adds in the same order whatever `L`, so an output
    /// does not depend on which block computed it.
    #[inline(always)]
    fn block<const L: usize>(&self, k: usize) -> [f32; L] {
        let c: &[f32; L] = self.centre[k..k + L].try_into().expect("L samples");
        let w = &self.pair[k..k + WINDOW - 1 + L];
        let mut acc: [f32; L] = std::array::from_fn(|l| 0.5 * c[l]);
        for (j, g) in self.g.iter().enumerate() {
            let late: &[f32; L] = w[PAIRS + j..PAIRS + j + L].try_into().expect("L samples");
            let early: &[f32; L] = w[PAIRS - 1 - j..PAIRS - 1 - j + L]
                .try_into()
                .expect("L samples");
            for l in 0..L {
                acc[l] += g.0[l] * (late[l] + early[l]);
            }
        }
        acc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FS: f64 = 16_000.0;

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

    fn run_all(x: &[f32], chunk: usize) -> Vec<f32> {
        run_with(HalfRate::new(), x, chunk)
    }

    fn sine(f: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / FS).sin() as f32)
            .collect()
    }

    fn noise(n: usize) -> Vec<f32> {
        let mut s = 0x1234_5678u32;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// RMS gain of the decimated steady-state output for a unit sine at `f` Hz, dB (for `f`
    /// above 4 kHz: the gain of its alias at `8000 - f` Hz).
    fn measured_gain_db(d: HalfRate, f: f64) -> f64 {
        let x = sine(f, 16_000);
        let y = run_with(d, &x, 160);
        let steady = &y[TAPS..];
        let p: f64 = steady.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / steady.len() as f64;
        10.0 * (p / 0.5).log10()
    }

    /// Filter output at input `n` by direct convolution of the full taps (zeros before 0).
    fn direct(x: &[f32], n: usize) -> f64 {
        let h = taps();
        (0..TAPS)
            .filter(|&j| j <= n && n - j < x.len())
            .map(|j| h[j] * x[n - j] as f64)
            .sum()
    }

    #[test]
    fn taps_are_a_symmetric_half_band_with_unit_dc_gain() {
        let h = taps();
        assert_eq!(h[DELAY_INPUT_SAMPLES], 0.5);
        for t in 1..=DELAY_INPUT_SAMPLES {
            assert_eq!(
                h[DELAY_INPUT_SAMPLES + t],
                h[DELAY_INPUT_SAMPLES - t],
                "tap ±{t}"
            );
            if t % 2 == 0 {
                assert_eq!(h[DELAY_INPUT_SAMPLES + t], 0.0, "tap +{t}");
            } else {
                assert!(h[DELAY_INPUT_SAMPLES + t] != 0.0, "tap +{t}");
            }
        }
        assert!((h.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(h[0] != 0.0, "end taps are not wasted zeros");
    }

    #[test]
    fn passband_is_flat_within_the_stated_ripple() {
        let mut worst: f64 = 0.0;
        for i in 0..=400 {
            let f = PASSBAND_EDGE * i as f64 / 400.0;
            worst = worst.max(response_db(f).abs());
        }
        assert!(worst <= PASSBAND_RIPPLE_DB, "passband ripple {worst:.4} dB");
        // and on real samples through the streaming path (f32 arithmetic), both phases
        for f in [100.0, 300.0, 1000.0, 2500.0, 3400.0] {
            for (name, d) in [("new", HalfRate::new()), ("aligned", HalfRate::aligned())] {
                let g = measured_gain_db(d, f);
                assert!(
                    g.abs() <= PASSBAND_RIPPLE_DB + 0.01,
                    "{name} {f} Hz: {g:.4} dB"
                );
            }
        }
    }

    #[test]
    fn stopband_is_attenuated_by_the_stated_figure_from_4_6_khz_up() {
        let mut least = f64::INFINITY;
        for i in 0..=2000 {
            let f = STOPBAND_EDGE + (0.5 - STOPBAND_EDGE) * i as f64 / 2000.0;
            least = least.min(-response_db(f));
        }
        assert!(least >= STOPBAND_ATTENUATION_DB, "stopband {least:.1} dB");
        assert_eq!(STOPBAND_EDGE * FS, 4600.0);
        // a 4.6 kHz tone would alias to 3.4 kHz: it comes out at least that far down
        for f in [4600.0, 5000.0, 6000.0, 7900.0] {
            for (name, d) in [("new", HalfRate::new()), ("aligned", HalfRate::aligned())] {
                let g = measured_gain_db(d, f);
                assert!(g <= -STOPBAND_ATTENUATION_DB, "{name} {f} Hz: {g:.1} dB");
            }
        }
    }

    #[test]
    fn transition_band_folds_as_documented() {
        // half-band: exactly 1/2 at the new Nyquist frequency, and H(f) + H(fs/2 - f) = 1
        assert!((response_db(0.25) - 20.0 * 0.5f64.log10()).abs() < 1e-9);
        for f in [3400.0, 3600.0, 3800.0] {
            let a = 10f64.powf(response_db(f / FS) / 20.0);
            let b = 10f64.powf(response_db(0.5 - f / FS) / 20.0);
            assert!((a + b - 1.0).abs() < 1e-3, "{f} Hz: {a} + {b}");
        }
        // the figures the module docs quote
        let quoted = [(4200.0, -15.0), (4400.0, -32.0)];
        for (f, db) in quoted {
            let r = response_db(f / FS);
            assert!((r - db).abs() < 1.0, "{f} Hz: {r:.1} dB, docs say {db}");
        }
        // a tone in 4.0-4.6 kHz comes out as its alias, at the filter's gain there
        for f in [4200.0, 4400.0] {
            let g = measured_gain_db(HalfRate::aligned(), f);
            let want = response_db(f / FS);
            assert!((g - want).abs() < 0.2, "{f} Hz: {g:.2} dB vs {want:.2} dB");
            let y = run_with(HalfRate::aligned(), &sine(f, 16_000), 160);
            // its frequency is 8000 - f: count zero crossings over the steady part
            let steady = &y[TAPS..];
            let crossings = steady
                .windows(2)
                .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
                .count() as f64;
            let alias = crossings / 2.0 / (steady.len() as f64 / 8000.0);
            assert!(
                (alias - (8000.0 - f)).abs() < 5.0,
                "{f} Hz aliases to {alias}"
            );
        }
    }

    #[test]
    fn output_is_identical_whatever_the_chunking() {
        let x = noise(5_003);
        for (name, make, len) in [
            (
                "new",
                HalfRate::new as fn() -> HalfRate,
                x.len().div_ceil(2),
            ),
            (
                "aligned",
                HalfRate::aligned,
                (x.len() - DELAY_INPUT_SAMPLES).div_ceil(2),
            ),
        ] {
            let whole = run_with(make(), &x, x.len());
            assert_eq!(whole.len(), len, "{name}");
            for chunk in [1, 2, 3, 7, 8, 9, 15, 16, 17, 80, 159, 160, 161, 320, 1000] {
                assert_eq!(run_with(make(), &x, chunk), whole, "{name} chunk {chunk}");
            }
            // irregular chunk sizes too, empty ones included
            let mut d = make();
            let mut out = Vec::new();
            let mut rest = &x[..];
            let mut k = 0;
            while !rest.is_empty() {
                let n = (k * 37 % 211).min(rest.len());
                assert_eq!(d.output_len(n), {
                    let before = out.len();
                    d.process(&rest[..n], &mut out);
                    out.len() - before
                });
                rest = &rest[n..];
                k += 1;
            }
            assert_eq!(out, whole, "{name} irregular");
        }
    }

    #[test]
    fn delay_is_the_stated_latency() {
        assert_eq!(DELAY_INPUT_SAMPLES, 31);
        assert_eq!(delay_ms(16_000), 1.9375);
        let m = 200;
        // new: an impulse at odd input 2m + 1 meets only the centre tap, at output
        // (2m + 1 + delay) / 2; every other output is exactly zero (the half-band's zeros)
        let mut x = vec![0f32; 1000];
        x[2 * m + 1] = 1.0;
        let y = run_all(&x, 160);
        let at = (2 * m + 1 + DELAY_INPUT_SAMPLES) / 2;
        assert_eq!(y[at], 0.5);
        assert!(y.iter().enumerate().all(|(i, &v)| i == at || v == 0.0));
        // aligned: an impulse at even input 2m comes out at output m, alone
        let mut x = vec![0f32; 1000];
        x[2 * m] = 1.0;
        let ya = run_with(HalfRate::aligned(), &x, 160);
        assert_eq!(ya[m], 0.5);
        assert!(ya.iter().enumerate().all(|(i, &v)| i == m || v == 0.0));
        for chunk in [1, 3, 10, 27, 29, 31, 33] {
            assert_eq!(
                run_with(HalfRate::aligned(), &x, chunk),
                ya,
                "chunk {chunk}"
            );
        }
        // ... and an impulse at odd input 2m + 1 spreads symmetrically about input 2m + 1:
        // outputs m - j and m + 1 + j carry the same tap
        let mut x = vec![0f32; 1000];
        x[2 * m + 1] = 1.0;
        let ya = run_with(HalfRate::aligned(), &x, 160);
        let h = taps();
        for j in 0..PAIRS {
            let tap = h[DELAY_INPUT_SAMPLES + 2 * j + 1] as f32;
            assert_eq!(ya[m - j], tap, "output m - {j}");
            assert_eq!(ya[m + 1 + j], tap, "output m + 1 + {j}");
        }
        // DC passes with unit gain in both phases
        for d in [HalfRate::new(), HalfRate::aligned()] {
            let y = run_with(d, &vec![0.5f32; 1000], 160);
            assert!((y[400] - 0.5).abs() < 1e-6, "{}", y[400]);
        }
    }

    /// The AVX build of the filter loop gives the same bits as the baseline one (on a CPU
    /// without AVX there is only the baseline build, and this checks it against itself).
    #[test]
    fn avx_path_equals_the_baseline_path() {
        let x = noise(4_001);
        for make in [HalfRate::new as fn() -> HalfRate, HalfRate::aligned] {
            let run = |avx: bool| {
                let mut d = make();
                d.avx = avx && has_avx();
                run_with(d, &x, 161)
            };
            let (base, fast) = (run(false), run(true));
            assert_eq!(base.len(), fast.len());
            for (k, (a, b)) in base.iter().zip(&fast).enumerate() {
                assert_eq!(a.to_bits(), b.to_bits(), "output {k}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn matches_a_direct_convolution() {
        for x in [sine(1234.5, 777), noise(777)] {
            let y = run_all(&x, 50);
            assert_eq!(y.len(), x.len().div_ceil(2));
            for (k, &got) in y.iter().enumerate() {
                let want = direct(&x, 2 * k);
                assert!(
                    (got as f64 - want).abs() < 1e-5,
                    "new k {k}: {got} vs {want}"
                );
            }
            let y = run_with(HalfRate::aligned(), &x, 50);
            assert_eq!(y.len(), (x.len() - DELAY_INPUT_SAMPLES).div_ceil(2));
            for (k, &got) in y.iter().enumerate() {
                let want = direct(&x, 2 * k + DELAY_INPUT_SAMPLES);
                assert!(
                    (got as f64 - want).abs() < 1e-5,
                    "aligned k {k}: {got} vs {want}"
                );
            }
        }
    }
}
