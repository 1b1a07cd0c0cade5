//! Goertzel filter: one DFT coefficient at an arbitrary (non-integer-bin) frequency, computed
//! with a second-order recursion. Used by the DTMF and call-progress detectors.
//!
//! For a block `x[0..N]` the filter returns `X = Σ x[n]·e^{-jωn}` with `ω = 2π f / fs`. A sine of
//! peak amplitude `a` exactly at `f` gives `|X| = a·N/2`, so [`Goertzel::amplitude`] returns
//! `2|X|/N`, an estimate of the sine's peak amplitude.

use crate::AudioError;

/// A single-frequency Goertzel filter for a given sample rate.
#[derive(Clone, Copy, Debug)]
pub struct Goertzel {
    freq_hz: f32,
    omega: f64,
    coeff: f64,
}

impl Goertzel {
    /// A filter at `freq_hz` for audio at `sample_rate` Hz.
    pub fn new(freq_hz: f32, sample_rate: u32) -> Self {
        let omega = 2.0 * std::f64::consts::PI * freq_hz as f64 / sample_rate.max(1) as f64;
        Goertzel {
            freq_hz,
            omega,
            coeff: 2.0 * omega.cos(),
        }
    }

    /// The filter's frequency in Hz.
    pub fn freq_hz(&self) -> f32 {
        self.freq_hz
    }

    /// Angular frequency in radians per sample.
    pub fn omega(&self) -> f64 {
        self.omega
    }

    /// The recursion `s[n] = x[n] + 2cos(ω)·s[n-1] - s[n-2]` over `block` (non-finite samples
    /// count as 0); returns the last two states `(s[N-1], s[N-2])`.
    fn run(&self, block: &[f32]) -> (f64, f64) {
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        // Callers usually pass clean blocks: test them all at once (a vectorisable pass) and
        // then run the recursion without the per-sample test. Same arithmetic either way.
        if block.iter().fold(true, |ok, x| ok & x.is_finite()) {
            for &x in block {
                let s0 = x as f64 + self.coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
        } else {
            for &x in block {
                let x = if x.is_finite() { x as f64 } else { 0.0 };
                let s0 = x + self.coeff * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
        }
        (s1, s2)
    }

    /// Complex DFT value `(re, im)` of `block` at this frequency, phase referenced to the
    /// block's first sample. Non-finite samples count as 0.
    pub fn dft(&self, block: &[f32]) -> (f64, f64) {
        let (s1, s2) = self.run(block);
        // y[N-1] = s1 - e^{-jω} s2 is X·e^{-jω(N-1)}; rotate back to reference sample 0.
        let (c, s) = (self.omega.cos(), self.omega.sin());
        let yr = s1 - c * s2;
        let yi = s * s2;
        let phi = self.omega * (block.len() as f64 - 1.0);
        let (pc, ps) = (phi.cos(), phi.sin());
        // X = y·e^{-jφ}
        (yr * pc + yi * ps, yi * pc - yr * ps)
    }

    /// Squared magnitude `|X|²` of `block` at this frequency.
    pub fn power(&self, block: &[f32]) -> f64 {
        let (s1, s2) = self.run(block);
        s1 * s1 + s2 * s2 - self.coeff * s1 * s2
    }

    /// Estimated peak amplitude `2|X|/N` of a sine at this frequency in `block`.
    pub fn amplitude(&self, block: &[f32]) -> f64 {
        if block.is_empty() {
            return 0.0;
        }
        2.0 * self.power(block).sqrt() / block.len() as f64
    }
}

/// Filters a [`GoertzelBank`] runs side by side in one pass over a block.
pub const BANK_LANES: usize = 12;

/// Several Goertzel filters run together: one pass over the block updates every filter's state,
/// so the filters' recursions (each a chain of dependent multiply-adds) overlap instead of
/// running one after another. Each filter does exactly the arithmetic of [`Goertzel::power`],
/// in the same order, so the results are bit-identical to running the filters one by one.
#[derive(Clone, Debug)]
pub struct GoertzelBank {
    filters: Vec<Goertzel>,
    /// `2cos(ω)` per filter, in groups of [`BANK_LANES`] (unused lanes hold 0).
    coeffs: Vec<[f64; BANK_LANES]>,
    /// Whether the CPU has AVX (then the pass runs in 256-bit vectors).
    avx: bool,
}

impl GoertzelBank {
    /// Filters at `freqs_hz` for audio at `sample_rate` Hz.
    pub fn new(freqs_hz: &[f32], sample_rate: u32) -> Self {
        let filters: Vec<Goertzel> = freqs_hz
            .iter()
            .map(|&f| Goertzel::new(f, sample_rate))
            .collect();
        let coeffs = filters
            .chunks(BANK_LANES)
            .map(|group| {
                let mut c = [0.0; BANK_LANES];
                for (c, g) in c.iter_mut().zip(group) {
                    *c = g.coeff;
                }
                c
            })
            .collect();
        #[cfg(target_arch = "x86_64")]
        let avx = std::arch::is_x86_feature_detected!("avx");
        #[cfg(not(target_arch = "x86_64"))]
        let avx = false;
        GoertzelBank {
            filters,
            coeffs,
            avx,
        }
    }

    /// The filters, in the order given.
    pub fn filters(&self) -> &[Goertzel] {
        &self.filters
    }

    /// `|X|²` of `block` at every frequency, into `out` (one per filter; `out` must be at least
    /// that long). Non-finite samples count as 0.
    pub fn power_into(&self, block: &[f32], out: &mut [f64]) {
        assert!(
            out.len() >= self.filters.len(),
            "output shorter than the bank"
        );
        #[cfg(target_arch = "x86_64")]
        if self.avx {
            // SAFETY: `avx` is only true when the CPU reports AVX.
            unsafe { self.power_into_avx(block, out) };
            return;
        }
        self.power_into_base(block, out);
    }

    /// [`Self::power_into_base`] compiled for AVX (three 256-bit vectors per group of lanes
    /// instead of six 128-bit ones). The same operations in the same order: the same bits.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx")]
    unsafe fn power_into_avx(&self, block: &[f32], out: &mut [f64]) {
        self.power_into_base(block, out);
    }

    #[inline(always)]
    fn power_into_base(&self, block: &[f32], out: &mut [f64]) {
        let all_finite = block.iter().fold(true, |ok, x| ok & x.is_finite());
        for (gi, c) in self.coeffs.iter().enumerate() {
            let (mut s1, mut s2) = ([0.0f64; BANK_LANES], [0.0f64; BANK_LANES]);
            // plain loops (no closures), so that the AVX build inlines them all
            for &x in block {
                let x = if all_finite || x.is_finite() {
                    x as f64
                } else {
                    0.0
                };
                for j in 0..BANK_LANES {
                    let s0 = x + c[j] * s1[j] - s2[j];
                    s2[j] = s1[j];
                    s1[j] = s0;
                }
            }
            let lo = gi * BANK_LANES;
            let n = (self.filters.len() - lo).min(BANK_LANES);
            for j in 0..n {
                out[lo + j] = s1[j] * s1[j] + s2[j] * s2[j] - c[j] * s1[j] * s2[j];
            }
        }
    }

    /// Estimated peak amplitude `2|X|/N` at every frequency (see [`Goertzel::amplitude`]).
    pub fn amplitude_into(&self, block: &[f32], out: &mut [f64]) {
        if block.is_empty() {
            out[..self.filters.len()].fill(0.0);
            return;
        }
        self.power_into(block, out);
        for v in &mut out[..self.filters.len()] {
            *v = 2.0 * v.sqrt() / block.len() as f64;
        }
    }
}

/// Short-time energy envelope kept for the last `capacity` sub-blocks, used to place tone edges
/// more finely than the analysis blocks (crate-internal helper).
#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    sub: usize,
    acc: f64,
    acc_n: usize,
    /// Index (in sub-blocks since stream start) of `values[0]`.
    first: u64,
    values: std::collections::VecDeque<f32>,
    capacity: usize,
}

impl Envelope {
    pub(crate) fn new(sub: usize, capacity: usize) -> Self {
        Envelope {
            sub: sub.max(1),
            acc: 0.0,
            acc_n: 0,
            first: 0,
            values: Default::default(),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn sub_len(&self) -> usize {
        self.sub
    }

    pub(crate) fn push(&mut self, x: f32) {
        self.acc += (x as f64) * (x as f64);
        self.acc_n += 1;
        if self.acc_n == self.sub {
            self.close_sub();
        }
    }

    /// Same as [`Envelope::push`] on each sample of `xs` in turn (same sums, fewer branches).
    pub(crate) fn push_slice(&mut self, xs: &[f32]) {
        let mut rest = xs;
        while !rest.is_empty() {
            let take = (self.sub - self.acc_n).min(rest.len());
            // four squares at a time, added in sample order as `push` does
            let mut acc = self.acc;
            let mut quads = rest[..take].chunks_exact(4);
            for q in &mut quads {
                let sq = [q[0], q[1], q[2], q[3]].map(|x| (x as f64) * (x as f64));
                acc = acc + sq[0] + sq[1] + sq[2] + sq[3];
            }
            for &x in quads.remainder() {
                acc += (x as f64) * (x as f64);
            }
            self.acc = acc;
            self.acc_n += take;
            rest = &rest[take..];
            if self.acc_n == self.sub {
                self.close_sub();
            }
        }
    }

    fn close_sub(&mut self) {
        self.values.push_back((self.acc / self.sub as f64) as f32);
        self.acc = 0.0;
        self.acc_n = 0;
        if self.values.len() > self.capacity {
            self.values.pop_front();
            self.first += 1;
        }
    }

    /// Mean square of sub-block `idx`, if still held.
    pub(crate) fn get(&self, idx: u64) -> Option<f32> {
        if idx < self.first {
            return None;
        }
        self.values.get((idx - self.first) as usize).copied()
    }

    /// Walk from sub-block `from` backwards while the mean square is ≥ `thr`, at most `max`
    /// steps; returns the first sample of the earliest qualifying sub-block (or of `from`).
    pub(crate) fn extend_back(&self, from: u64, thr: f32, max: u64) -> u64 {
        let mut i = from;
        let mut steps = 0;
        while i > 0 && steps < max {
            match self.get(i - 1) {
                Some(v) if v >= thr => {
                    i -= 1;
                    steps += 1;
                }
                _ => break,
            }
        }
        i * self.sub as u64
    }

    /// Walk from sub-block `from` forwards while the mean square is ≥ `thr`, at most `max`
    /// steps; returns the sample just after the last qualifying sub-block.
    pub(crate) fn extend_fwd(&self, from: u64, thr: f32, max: u64) -> u64 {
        let mut i = from;
        let mut steps = 0;
        while steps < max {
            match self.get(i + 1) {
                Some(v) if v >= thr => {
                    i += 1;
                    steps += 1;
                }
                _ => break,
            }
        }
        (i + 1) * self.sub as u64
    }
}

/// `Ok` if `sample_rate` is in `supported`, else an [`AudioError::InvalidParam`] naming it.
pub(crate) fn check_sample_rate(
    sample_rate: u32,
    supported: &std::ops::RangeInclusive<u32>,
) -> Result<(), AudioError> {
    if supported.contains(&sample_rate) {
        Ok(())
    } else {
        Err(AudioError::InvalidParam {
            name: "sample_rate",
            why: format!("{sample_rate} Hz is outside {supported:?}"),
        })
    }
}

/// Index and value of the first largest element of `p` (None when empty). The same answer as
/// a left-to-right scan keeping strictly greater values, for finite inputs, but the maximum is
/// found in four independent lanes (no loop-carried compare chain).
pub(crate) fn first_max(p: &[f64]) -> Option<(usize, f64)> {
    let first = *p.first()?;
    let mut lanes = [first; 4];
    let mut quads = p.chunks_exact(4);
    for q in &mut quads {
        for j in 0..4 {
            // by comparison (no NaN handling): packed max instructions
            if q[j] > lanes[j] {
                lanes[j] = q[j];
            }
        }
    }
    let mut m = lanes[0].max(lanes[1]).max(lanes[2].max(lanes[3]));
    for &v in quads.remainder() {
        m = m.max(v);
    }
    p.iter().position(|&v| v == m).map(|i| (i, m))
}

/// Sum of squares of `x` in f64, accumulated in four lanes (vectorisable; the rounding differs
/// from a sequential sum by a few ulps).
pub(crate) fn sum_squares(x: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let mut quads = x.chunks_exact(4);
    for q in &mut quads {
        for j in 0..4 {
            lanes[j] += (q[j] as f64) * (q[j] as f64);
        }
    }
    let tail: f64 = quads
        .remainder()
        .iter()
        .map(|&v| (v as f64) * (v as f64))
        .sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// Sum of `p` accumulated in four lanes (see [`sum_squares`]).
pub(crate) fn sum_lanes(p: &[f64]) -> f64 {
    let mut lanes = [0.0f64; 4];
    let mut quads = p.chunks_exact(4);
    for q in &mut quads {
        for j in 0..4 {
            lanes[j] += q[j];
        }
    }
    let tail: f64 = quads.remainder().iter().sum();
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// Replace non-finite samples by 0 so that one bad sample cannot poison detector state.
pub(crate) fn clean(x: f32) -> f32 {
    if x.is_finite() {
        x.clamp(-8.0, 8.0)
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `first_max` agrees with a plain scan (first of equal maxima), ties and odd lengths too.
    #[test]
    fn first_max_is_the_first_largest() {
        let mut rng = crate::synth::Prng::new(9);
        assert_eq!(first_max(&[]), None);
        for len in 1..40 {
            for _ in 0..20 {
                // coarse values so that ties happen
                let p: Vec<f64> = (0..len).map(|_| (rng.uniform() * 6.0).floor()).collect();
                let mut best = (0, p[0]);
                for (i, &v) in p.iter().enumerate() {
                    if v > best.1 {
                        best = (i, v);
                    }
                }
                assert_eq!(first_max(&p), Some(best), "{p:?}");
                let seq: f64 = p.iter().sum();
                assert!((sum_lanes(&p) - seq).abs() <= 1e-12 * seq.abs().max(1.0));
                let x: Vec<f32> = p.iter().map(|&v| v as f32 - 2.5).collect();
                let sq: f64 = x.iter().map(|&v| (v as f64) * (v as f64)).sum();
                assert!((sum_squares(&x) - sq).abs() <= 1e-12 * sq.max(1.0));
            }
        }
    }

    /// The bank gives bit-identical powers to the filters run one by one, for more filters than
    /// one pass holds, blocks of odd lengths and blocks with non-finite samples.
    #[test]
    fn bank_matches_single_filters() {
        let freqs: Vec<f32> = (0..29).map(|i| 170.0 + 113.7 * i as f32).collect();
        let detected = GoertzelBank::new(&freqs, 8000);
        // the baseline build of the pass too, where the CPU has AVX
        let baseline = GoertzelBank {
            avx: false,
            ..detected.clone()
        };
        for bank in [detected, baseline] {
            let mut rng = crate::synth::Prng::new(5);
            let mut out = vec![0.0; freqs.len()];
            let mut amp = vec![0.0; freqs.len()];
            for len in [0usize, 1, 7, 200, 333] {
                let mut block: Vec<f32> = (0..len).map(|_| rng.uniform() as f32 - 0.5).collect();
                for poisoned in [false, true] {
                    if poisoned && len > 3 {
                        block[1] = f32::NAN;
                        block[len - 2] = f32::INFINITY;
                    }
                    bank.power_into(&block, &mut out);
                    bank.amplitude_into(&block, &mut amp);
                    for (k, g) in bank.filters().iter().enumerate() {
                        assert_eq!(
                            out[k].to_bits(),
                            g.power(&block).to_bits(),
                            "len {len} k {k}"
                        );
                        assert_eq!(amp[k].to_bits(), g.amplitude(&block).to_bits(), "len {len}");
                    }
                }
            }
        }
    }

    #[test]
    fn amplitude_and_phase() {
        let fs = 8000;
        let n = 205;
        let f = 770.0f32;
        let a = 0.3f64;
        let phase = 0.7f64;
        let x: Vec<f32> = (0..n)
            .map(|i| {
                (a * (2.0 * std::f64::consts::PI * f as f64 * i as f64 / fs as f64 + phase).cos())
                    as f32
            })
            .collect();
        let g = Goertzel::new(f, fs);
        assert!((g.amplitude(&x) - a).abs() < 0.01, "{}", g.amplitude(&x));
        // brute-force DFT
        let (mut re, mut im) = (0.0, 0.0);
        for (i, &v) in x.iter().enumerate() {
            let w = g.omega() * i as f64;
            re += v as f64 * w.cos();
            im -= v as f64 * w.sin();
        }
        let (gr, gi) = g.dft(&x);
        assert!(
            (gr - re).abs() < 1e-6 && (gi - im).abs() < 1e-6,
            "{gr},{gi} vs {re},{im}"
        );
        assert!((g.power(&x) - (re * re + im * im)).abs() < 1e-6);
        // another frequency is rejected
        assert!(Goertzel::new(1209.0, fs).amplitude(&x) < 0.02);
        assert_eq!(g.amplitude(&[]), 0.0);
        assert_eq!(g.power(&[f32::NAN, 1.0]), g.power(&[0.0, 1.0]));
    }

    #[test]
    fn envelope_push_slice_matches_push() {
        let x: Vec<f32> = (0..1000)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) / 60.0)
            .collect();
        let mut one = Envelope::new(16, 20);
        let mut many = Envelope::new(16, 20);
        for &v in &x {
            one.push(v);
        }
        let mut rest = &x[..];
        let mut k = 1;
        while !rest.is_empty() {
            let take = k.min(rest.len());
            many.push_slice(&rest[..take]);
            rest = &rest[take..];
            k = k % 41 + 3;
        }
        assert_eq!((one.first, one.acc_n), (many.first, many.acc_n));
        assert_eq!(one.acc.to_bits(), many.acc.to_bits());
        assert_eq!(one.values, many.values);
        assert_eq!(one.values.len(), 20);
        assert!(one.get(one.first).is_some_and(|v| v > 0.0));
    }
}
