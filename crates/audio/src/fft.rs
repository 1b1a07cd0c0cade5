//! Forward FFT of a real signal (even length, a multiple of four), bit-identical to
//! `realfft`'s `RealToComplexEven` but with its post-processing step vectorised.
//!
//! The method is `realfft`'s (and the textbook one): the `n` real samples are read as `n / 2`
//! complex ones, transformed with a complex FFT of half the length (`rustfft`, planned the way
//! `realfft` plans it, so the same algorithm runs), and each pair of bins `k`, `n/2 - k` is
//! untangled with one twiddle factor. `realfft` runs that last loop one pair at a time
//! (scalar: the second index runs backwards through interleaved complex numbers, which the
//! compiler does not vectorise), and it cost about three times the complex FFT itself in the
//! VAD and beep detector. [`RealFft`] does the same operations, in the same order per bin, four
//! pairs at a time in SSE2 registers (every x86-64 CPU has SSE2, so there is no run-time
//! detection), with a scalar loop for the rest and for other targets; a test pins both paths,
//! and `realfft`, to the same bits.

use std::sync::Arc;

use realfft::num_complex::Complex;
use rustfft::{Fft, FftPlanner};

/// A planned forward real FFT of one length; see the module docs.
pub struct RealFft {
    n: usize,
    fft: Arc<dyn Fft<f32>>,
    /// Real and imaginary parts of the twiddle factors (halved), for bins `1 .. n/4`.
    tw_re: Vec<f32>,
    tw_im: Vec<f32>,
    /// The input as `n / 2` complex samples.
    buf: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
}

impl std::fmt::Debug for RealFft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealFft").field("n", &self.n).finish()
    }
}

impl RealFft {
    /// A transform of `n` real samples. Panics unless `n` is a positive multiple of 4 (the
    /// callers use powers of two).
    pub fn new(n: usize) -> Self {
        assert!(
            n >= 4 && n.is_multiple_of(4),
            "real FFT length {n} is not a multiple of 4"
        );
        let fft = FftPlanner::<f32>::new().plan_fft_forward(n / 2);
        let scratch = vec![Complex::new(0.0, 0.0); fft.get_outofplace_scratch_len()];
        // realfft's twiddles: e^{-2πi k / n} in f64, rounded to f32, times 1/2 (exact).
        let (tw_re, tw_im) = (1..n / 4)
            .map(|k| {
                let angle = -2f64 * std::f64::consts::PI / n as f64 * k as f64;
                (angle.cos() as f32 * 0.5, angle.sin() as f32 * 0.5)
            })
            .unzip();
        RealFft {
            n,
            fft,
            tw_re,
            tw_im,
            buf: vec![Complex::new(0.0, 0.0); n / 2],
            scratch,
        }
    }

    /// Number of real input samples.
    pub fn len(&self) -> usize {
        self.n
    }

    /// Always false (the length is at least 4); for API symmetry with [`RealFft::len`].
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Number of output bins, `n / 2 + 1` (0 Hz to Nyquist).
    pub fn spectrum_len(&self) -> usize {
        self.n / 2 + 1
    }

    /// The spectrum of `input` (`n` samples) into `output` (`n / 2 + 1` bins), unnormalised.
    /// Panics if the lengths differ from those.
    pub fn process(&mut self, input: &[f32], output: &mut [Complex<f32>]) {
        self.process_with(input, output, true);
    }

    fn process_with(&mut self, input: &[f32], output: &mut [Complex<f32>], simd: bool) {
        let (n, half) = (self.n, self.n / 2);
        assert_eq!(input.len(), n, "real FFT input length");
        assert_eq!(output.len(), half + 1, "real FFT output length");
        for (c, p) in self.buf.iter_mut().zip(input.chunks_exact(2)) {
            *c = Complex::new(p[0], p[1]);
        }
        self.fft.process_outofplace_with_scratch(
            &mut self.buf,
            &mut output[..half],
            &mut self.scratch,
        );
        let first = output[0];
        output[0] = Complex::new(first.re + first.im, 0.0);
        output[half] = Complex::new(first.re - first.im, 0.0);
        let mut k = 1;
        #[cfg(target_arch = "x86_64")]
        if simd {
            k = untangle_sse2(output, &self.tw_re, &self.tw_im);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = simd;
        while k < n / 4 {
            untangle_one(output, k, self.tw_re[k - 1], self.tw_im[k - 1]);
            k += 1;
        }
        // the centre bin n/4 (output length n/2 + 1 is odd)
        output[n / 4].im = -output[n / 4].im;
    }
}

/// Bins `k` and `n/2 - k` from the half-length complex FFT, with the halved twiddle `(wr, wi)`:
/// `realfft`'s arithmetic, operation for operation.
#[inline(always)]
fn untangle_one(out: &mut [Complex<f32>], k: usize, wr: f32, wi: f32) {
    let r = out.len() - 1 - k;
    let (a, b) = (out[k], out[r]);
    let (sum_re, sum_im) = (a.re + b.re, a.im + b.im);
    let (diff_re, diff_im) = (a.re - b.re, a.im - b.im);
    let half_sum_re = 0.5 * sum_re;
    let half_diff_im = 0.5 * diff_im;
    let otr = sum_im * wr + diff_re * wi;
    let oti = sum_im * wi - diff_re * wr;
    out[k] = Complex::new(half_sum_re + otr, half_diff_im + oti);
    out[r] = Complex::new(half_sum_re - otr, oti - half_diff_im);
}

/// [`untangle_one`] for `k = 1, 2, …` four at a time while all four lie below `n/4`; returns
/// the first `k` not done.
#[cfg(target_arch = "x86_64")]
fn untangle_sse2(out: &mut [Complex<f32>], tw_re: &[f32], tw_im: &[f32]) -> usize {
    use std::arch::x86_64::*;
    let quarter = (out.len() - 1) / 2;
    let last = out.len() - 1;
    let p = out.as_mut_ptr() as *mut f32;
    let mut k = 1;
    while k + 4 <= quarter {
        // SAFETY: SSE2 is part of the x86-64 baseline. `Complex<f32>` is `repr(C)` (re, im),
        // so bin `i` is the two f32 at `p + 2i`. The loads and stores touch bins k..k+4 and
        // last-k-3 ..= last-k, all inside `out` (k + 3 < quarter < last - k - 3), and the
        // twiddle loads read indices k-1 .. k+3 < quarter - 1 = tw_re.len().
        unsafe {
            let a0 = _mm_loadu_ps(p.add(2 * k));
            let a1 = _mm_loadu_ps(p.add(2 * k + 4));
            let r0 = last - k - 3;
            let b0 = _mm_loadu_ps(p.add(2 * r0));
            let b1 = _mm_loadu_ps(p.add(2 * r0 + 4));
            // lane j: bin k + j, and bin last - k - j
            let are = _mm_shuffle_ps::<0b10_00_10_00>(a0, a1);
            let aim = _mm_shuffle_ps::<0b11_01_11_01>(a0, a1);
            let bre = _mm_shuffle_ps::<0b00_10_00_10>(b1, b0);
            let bim = _mm_shuffle_ps::<0b01_11_01_11>(b1, b0);
            let wr = _mm_loadu_ps(tw_re.as_ptr().add(k - 1));
            let wi = _mm_loadu_ps(tw_im.as_ptr().add(k - 1));
            let half = _mm_set1_ps(0.5);
            let sum_re = _mm_add_ps(are, bre);
            let sum_im = _mm_add_ps(aim, bim);
            let diff_re = _mm_sub_ps(are, bre);
            let diff_im = _mm_sub_ps(aim, bim);
            let half_sum_re = _mm_mul_ps(half, sum_re);
            let half_diff_im = _mm_mul_ps(half, diff_im);
            let otr = _mm_add_ps(_mm_mul_ps(sum_im, wr), _mm_mul_ps(diff_re, wi));
            let oti = _mm_sub_ps(_mm_mul_ps(sum_im, wi), _mm_mul_ps(diff_re, wr));
            let o_re = _mm_add_ps(half_sum_re, otr);
            let o_im = _mm_add_ps(half_diff_im, oti);
            let r_re = _mm_sub_ps(half_sum_re, otr);
            let r_im = _mm_sub_ps(oti, half_diff_im);
            _mm_storeu_ps(p.add(2 * k), _mm_unpacklo_ps(o_re, o_im));
            _mm_storeu_ps(p.add(2 * k + 4), _mm_unpackhi_ps(o_re, o_im));
            // bins r0, r0 + 1 are lanes 3, 2; bins r0 + 2, r0 + 3 are lanes 1, 0
            let hi = _mm_unpackhi_ps(r_re, r_im);
            let lo = _mm_unpacklo_ps(r_re, r_im);
            _mm_storeu_ps(p.add(2 * r0), _mm_shuffle_ps::<0b01_00_11_10>(hi, hi));
            _mm_storeu_ps(p.add(2 * r0 + 4), _mm_shuffle_ps::<0b01_00_11_10>(lo, lo));
        }
        k += 4;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::RealFftPlanner;

    fn signal(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761).max(1);
        (0..n)
            .map(|i| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                let noise = (s as f32 / u32::MAX as f32) * 2.0 - 1.0;
                0.3 * noise + 0.5 * (i as f32 * 0.37).sin()
            })
            .collect()
    }

    /// The vectorised path, the scalar path and realfft give the same bits, for the lengths the
    /// detectors use and for lengths whose pair count is not a multiple of four.
    #[test]
    fn matches_realfft_bit_for_bit() {
        for n in [4, 8, 12, 16, 20, 28, 64, 256, 512, 1024] {
            let reference = RealFftPlanner::<f32>::new().plan_fft_forward(n);
            let mut ours = RealFft::new(n);
            assert_eq!(ours.len(), n);
            assert_eq!(ours.spectrum_len(), reference.complex_len());
            for seed in 1..4 {
                let x = signal(n, seed);
                let mut want = reference.make_output_vec();
                reference
                    .process(&mut x.clone(), &mut want)
                    .expect("realfft sizes");
                let mut simd = vec![Complex::new(f32::NAN, f32::NAN); n / 2 + 1];
                ours.process_with(&x, &mut simd, true);
                let mut scalar = vec![Complex::new(f32::NAN, f32::NAN); n / 2 + 1];
                ours.process_with(&x, &mut scalar, false);
                for k in 0..=n / 2 {
                    for (name, got) in [("simd", simd[k]), ("scalar", scalar[k])] {
                        assert_eq!(
                            (got.re.to_bits(), got.im.to_bits()),
                            (want[k].re.to_bits(), want[k].im.to_bits()),
                            "{name} n {n} seed {seed} bin {k}: {got} vs {}",
                            want[k]
                        );
                    }
                }
            }
        }
    }

    /// A unit cosine at bin 5 lands in bin 5 with magnitude n/2 (a check independent of
    /// realfft).
    #[test]
    fn cosine_lands_in_its_bin() {
        let n = 256;
        let x: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * 5.0 * i as f64 / n as f64).cos() as f32)
            .collect();
        let mut f = RealFft::new(n);
        let mut out = vec![Complex::new(0.0, 0.0); f.spectrum_len()];
        f.process(&x, &mut out);
        for (k, c) in out.iter().enumerate() {
            let m = c.norm();
            if k == 5 {
                assert!((m - n as f32 / 2.0).abs() < 1e-3, "bin 5: {m}");
            } else {
                assert!(m < 1e-3, "bin {k}: {m}");
            }
        }
    }
}
