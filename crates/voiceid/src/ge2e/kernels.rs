//! Numeric kernels of the fast GE2E backend: a matrix product against weights packed once at
//! load time, and the LSTM cell (vectorised sigmoid/tanh).
//!
//! Each has an AVX-512F build, an AVX2+FMA build and a portable build of the same arithmetic;
//! the best one the CPU runs is picked at run time ([`Isa::detect`]), and the tests compare
//! every available build with the others and with f64 references.
//!
//! `matmul_acc` computes `C += A · B` where `A` is row-major `[m, k]` and `B` `[k, n]` is
//! stored in panels of [`NR`] columns (`k × NR` floats each, zero-padded past `n`), so that the
//! inner loop reads `B` contiguously and keeps a `MR × NR` block of `C` in registers.

/// Columns per packed panel (two 8-float AVX registers).
pub const NR: usize = 16;
/// Rows of `C` per register block.
pub const MR: usize = 6;
/// Rows of `A` processed per cache block (keeps the `A` block in L2 while every panel of `B`
/// passes over it).
const M_BLOCK: usize = 96;

/// `B` (`[k, n]`) in panels of [`NR`] columns.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedB {
    k: usize,
    n: usize,
    panels: Vec<f32>,
}

impl PackedB {
    /// Pack `B = Wᵀ` from a PyTorch weight `W` (`[n, k]` row-major: `n` outputs × `k` inputs).
    pub fn from_weight(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "weight shape");
        let n_panels = n.div_ceil(NR);
        let mut panels = vec![0.0f32; n_panels * k * NR];
        for p in 0..n_panels {
            let base = p * k * NR;
            for kk in 0..k {
                for j in 0..NR {
                    let col = p * NR + j;
                    if col < n {
                        panels[base + kk * NR + j] = w[col * k + kk];
                    }
                }
            }
        }
        PackedB { k, n, panels }
    }

    /// Inner dimension.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output columns.
    pub fn n(&self) -> usize {
        self.n
    }
}

/// Instruction sets the kernels are built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// Plain Rust (the compiler's baseline vectorisation).
    Portable,
    /// AVX2 + FMA (256-bit).
    Avx2,
    /// AVX-512F (512-bit, 32 registers).
    Avx512,
}

impl Isa {
    /// The best instruction set this CPU runs.
    pub fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                return Isa::Avx2;
            }
        }
        Isa::Portable
    }

    /// Every instruction set this CPU runs, best first (the tests compare them).
    pub fn available() -> Vec<Isa> {
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                v.push(Isa::Avx2);
            }
        }
        v.push(Isa::Portable);
        v
    }
}

/// `C[m, n] += A[m, k] · B` with row strides `lda` and `ldc`, on the best instruction set.
pub fn matmul_acc(a: &[f32], m: usize, lda: usize, b: &PackedB, c: &mut [f32], ldc: usize) {
    matmul_acc_with(Isa::detect(), a, m, lda, b, c, ldc)
}

/// [`matmul_acc`] on a chosen instruction set. Panics if the CPU does not run `isa`.
pub fn matmul_acc_with(
    isa: Isa,
    a: &[f32],
    m: usize,
    lda: usize,
    b: &PackedB,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || b.n == 0 {
        return;
    }
    assert!(lda >= b.k && ldc >= b.n, "strides");
    assert!(a.len() >= (m - 1) * lda + b.k, "A too short");
    assert!(c.len() >= (m - 1) * ldc + b.n, "C too short");
    assert!(
        Isa::available().contains(&isa),
        "{isa:?} is not supported by this CPU"
    );
    match isa {
        Isa::Portable => portable::matmul_acc(a, m, lda, b, c, ldc),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU runs AVX2 and FMA (asserted above); bounds asserted.
        Isa::Avx2 => unsafe { avx2::matmul_acc(a, m, lda, b, c, ldc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU runs AVX-512F (asserted above); bounds asserted.
        Isa::Avx512 => unsafe { avx512::matmul_acc(a, m, lda, b, c, ldc) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable build exists off x86_64"),
    }
}

/// One LSTM step for `rows` sequences: `gates` (`[rows, 4h]`, PyTorch order i, f, g, o,
/// pre-activation) update `c` and `h` (`[rows, h]`) in place, on the best instruction set.
pub fn lstm_cell(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    lstm_cell_with(Isa::detect(), gates, c, h, hidden)
}

/// [`lstm_cell`] on a chosen instruction set. Panics if the CPU does not run `isa`.
pub fn lstm_cell_with(isa: Isa, gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    assert_eq!(gates.len(), 4 * c.len());
    assert_eq!(c.len(), h.len());
    assert!(
        Isa::available().contains(&isa),
        "{isa:?} is not supported by this CPU"
    );
    match isa {
        Isa::Portable => cell_body(gates, c, h, hidden),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU runs AVX2 and FMA (asserted above).
        Isa::Avx2 => unsafe { avx2::lstm_cell(gates, c, h, hidden) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU runs AVX-512F (asserted above).
        Isa::Avx512 => unsafe { avx512::lstm_cell(gates, c, h, hidden) },
        #[cfg(not(target_arch = "x86_64"))]
        _ => unreachable!("only the portable build exists off x86_64"),
    }
}

/// `exp(x)` for f32, branch-free so that loops over it vectorise: Cody–Waite range reduction
/// to `r ∈ [-ln2/2, ln2/2]`, a degree-6 polynomial (Cephes `expf` coefficients) and the
/// exponent put in by bit arithmetic. Relative error below 2e-7 on [-87, 88]; inputs are
/// clamped to that range.
#[inline(always)]
pub fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 * 2^23: adding and subtracting rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND;
    // `t` and ROUND share their exponent, so their bit patterns differ by exactly the
    // integer `n` (in [-126, 127] after the clamp): integer arithmetic, no float-to-int
    // conversion (whose saturating semantics keep a loop from vectorising).
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_2e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5; // Cephes: 5.0000001e-1, the same f32
    let y = p * r * r + r + 1.0;
    let bits = ((ni + 127) as u32) << 23;
    y * f32::from_bits(bits)
}

/// Logistic sigmoid via [`exp_approx`].
#[inline(always)]
pub fn sigmoid_approx(x: f32) -> f32 {
    1.0 / (1.0 + exp_approx(-x))
}

/// `tanh(x) = 1 - 2 / (1 + exp(2x))` via [`exp_approx`] (absolute error below 3e-7).
#[inline(always)]
pub fn tanh_approx(x: f32) -> f32 {
    1.0 - 2.0 / (1.0 + exp_approx(2.0 * x))
}

#[inline(always)]
fn cell_body(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
    for ((g, c), h) in gates
        .chunks_exact(4 * hidden)
        .zip(c.chunks_exact_mut(hidden))
        .zip(h.chunks_exact_mut(hidden))
    {
        let (gi, rest) = g.split_at(hidden);
        let (gf, rest) = rest.split_at(hidden);
        let (gg, go) = rest.split_at(hidden);
        for j in 0..hidden {
            let i = sigmoid_approx(gi[j]);
            let f = sigmoid_approx(gf[j]);
            let g = tanh_approx(gg[j]);
            let o = sigmoid_approx(go[j]);
            let cn = f * c[j] + i * g;
            c[j] = cn;
            h[j] = o * tanh_approx(cn);
        }
    }
}

/// The register-blocked product, written once for both builds.
macro_rules! blocked_matmul {
    ($block:ident) => {
        #[inline(always)]
        fn body(a: &[f32], m: usize, lda: usize, b: &super::PackedB, c: &mut [f32], ldc: usize) {
            let k = b.k;
            let n_panels = b.n.div_ceil(super::NR);
            let mut m0 = 0;
            while m0 < m {
                let m1 = (m0 + super::M_BLOCK).min(m);
                for p in 0..n_panels {
                    let panel = &b.panels[p * k * super::NR..(p + 1) * k * super::NR];
                    let col = p * super::NR;
                    let width = (b.n - col).min(super::NR);
                    let mut r = m0;
                    while r < m1 {
                        let rows = (m1 - r).min(super::MR);
                        match rows {
                            6 => $block::<6>(a, r, lda, panel, k, c, ldc, col, width),
                            5 => $block::<5>(a, r, lda, panel, k, c, ldc, col, width),
                            4 => $block::<4>(a, r, lda, panel, k, c, ldc, col, width),
                            3 => $block::<3>(a, r, lda, panel, k, c, ldc, col, width),
                            2 => $block::<2>(a, r, lda, panel, k, c, ldc, col, width),
                            _ => $block::<1>(a, r, lda, panel, k, c, ldc, col, width),
                        }
                        r += rows;
                    }
                }
                m0 = m1;
            }
        }
    };
}

mod portable {
    use super::NR;

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn block<const R: usize>(
        a: &[f32],
        r0: usize,
        lda: usize,
        panel: &[f32],
        k: usize,
        c: &mut [f32],
        ldc: usize,
        col: usize,
        width: usize,
    ) {
        let mut acc = [[0.0f32; NR]; R];
        for (kk, bv) in panel.chunks_exact(NR).take(k).enumerate() {
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let av = a[(r0 + r) * lda + kk];
                for j in 0..NR {
                    acc_r[j] += av * bv[j];
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            let row = &mut c[(r0 + r) * ldc + col..(r0 + r) * ldc + col + width];
            for (o, v) in row.iter_mut().zip(acc_r) {
                *o += v;
            }
        }
    }

    blocked_matmul!(block);

    pub(super) fn matmul_acc(
        a: &[f32],
        m: usize,
        lda: usize,
        b: &super::PackedB,
        c: &mut [f32],
        ldc: usize,
    ) {
        body(a, m, lda, b, c, ldc)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::NR;

    /// `R × 16` block of `C += A · panel`; `width < 16` columns are stored through a buffer.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn block<const R: usize>(
        a: &[f32],
        r0: usize,
        lda: usize,
        panel: &[f32],
        k: usize,
        c: &mut [f32],
        ldc: usize,
        col: usize,
        width: usize,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        let pp = panel.as_ptr();
        let ap = a.as_ptr();
        for kk in 0..k {
            // SAFETY: the panel holds k * NR floats; rows r0..r0+R of A hold at least k.
            let b0 = _mm256_loadu_ps(pp.add(kk * NR));
            let b1 = _mm256_loadu_ps(pp.add(kk * NR + 8));
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*ap.add((r0 + r) * lda + kk));
                acc_r[0] = _mm256_fmadd_ps(av, b0, acc_r[0]);
                acc_r[1] = _mm256_fmadd_ps(av, b1, acc_r[1]);
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            let off = (r0 + r) * ldc + col;
            if width == NR {
                // SAFETY: c holds the full 16 columns of this row (asserted by the caller).
                let cp = c.as_mut_ptr().add(off);
                _mm256_storeu_ps(cp, _mm256_add_ps(_mm256_loadu_ps(cp), acc_r[0]));
                _mm256_storeu_ps(
                    cp.add(8),
                    _mm256_add_ps(_mm256_loadu_ps(cp.add(8)), acc_r[1]),
                );
            } else {
                let mut buf = [0.0f32; NR];
                _mm256_storeu_ps(buf.as_mut_ptr(), acc_r[0]);
                _mm256_storeu_ps(buf.as_mut_ptr().add(8), acc_r[1]);
                for (o, v) in c[off..off + width].iter_mut().zip(&buf) {
                    *o += v;
                }
            }
        }
    }

    macro_rules! safe_block {
        () => {
            #[allow(clippy::too_many_arguments)]
            #[inline(always)]
            fn call<const R: usize>(
                a: &[f32],
                r0: usize,
                lda: usize,
                panel: &[f32],
                k: usize,
                c: &mut [f32],
                ldc: usize,
                col: usize,
                width: usize,
            ) {
                // SAFETY: only reached from `matmul_acc` below, whose caller checked AVX2+FMA.
                unsafe { block::<R>(a, r0, lda, panel, k, c, ldc, col, width) }
            }
        };
    }
    safe_block!();
    blocked_matmul!(call);

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn matmul_acc(
        a: &[f32],
        m: usize,
        lda: usize,
        b: &super::PackedB,
        c: &mut [f32],
        ldc: usize,
    ) {
        body(a, m, lda, b, c, ldc)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn lstm_cell(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
        super::cell_body(gates, c, h, hidden)
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::NR;

    /// Rows of `C` per register block: 12 rows × 2 panels = 24 accumulators of the 32
    /// registers.
    const MR512: usize = 12;

    /// `R` rows × `P` adjacent panels (16 columns each) of `C += A · B`. `panels` starts at
    /// the first panel; `widths[q]` columns of panel `q` are real (masked stores past `n`).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const R: usize, const P: usize>(
        a: &[f32],
        r0: usize,
        lda: usize,
        panels: &[f32],
        k: usize,
        c: &mut [f32],
        ldc: usize,
        col: usize,
        widths: [usize; 2],
    ) {
        let mut acc = [[_mm512_setzero_ps(); P]; R];
        let pp = panels.as_ptr();
        let ap = a.as_ptr();
        for kk in 0..k {
            let mut b = [_mm512_setzero_ps(); P];
            for (q, bq) in b.iter_mut().enumerate() {
                // SAFETY: panel q holds k * NR floats.
                *bq = _mm512_loadu_ps(pp.add(q * k * NR + kk * NR));
            }
            for (r, acc_r) in acc.iter_mut().enumerate() {
                // SAFETY: row r0 + r of A holds at least k floats.
                let av = _mm512_set1_ps(*ap.add((r0 + r) * lda + kk));
                for q in 0..P {
                    acc_r[q] = _mm512_fmadd_ps(av, b[q], acc_r[q]);
                }
            }
        }
        for (r, acc_r) in acc.iter().enumerate() {
            for (q, &v) in acc_r.iter().enumerate() {
                let off = (r0 + r) * ldc + col + q * NR;
                // SAFETY: C holds `widths[q]` columns from `off` (asserted by the caller).
                let cp = c.as_mut_ptr().add(off);
                if widths[q] == NR {
                    _mm512_storeu_ps(cp, _mm512_add_ps(_mm512_loadu_ps(cp), v));
                } else {
                    let mask: __mmask16 = ((1u32 << widths[q]) - 1) as __mmask16;
                    let old = _mm512_maskz_loadu_ps(mask, cp);
                    _mm512_mask_storeu_ps(cp, mask, _mm512_add_ps(old, v));
                }
            }
        }
    }

    macro_rules! dispatch {
        ($rows:expr, $p:literal, $($args:expr),*) => {
            match $rows {
                12 => block::<12, $p>($($args),*),
                11 => block::<11, $p>($($args),*),
                10 => block::<10, $p>($($args),*),
                9 => block::<9, $p>($($args),*),
                8 => block::<8, $p>($($args),*),
                7 => block::<7, $p>($($args),*),
                6 => block::<6, $p>($($args),*),
                5 => block::<5, $p>($($args),*),
                4 => block::<4, $p>($($args),*),
                3 => block::<3, $p>($($args),*),
                2 => block::<2, $p>($($args),*),
                _ => block::<1, $p>($($args),*),
            }
        };
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn matmul_acc(
        a: &[f32],
        m: usize,
        lda: usize,
        b: &super::PackedB,
        c: &mut [f32],
        ldc: usize,
    ) {
        let k = b.k;
        let n_panels = b.n.div_ceil(NR);
        let width = |p: usize| (b.n - p * NR).min(NR);
        let mut m0 = 0;
        while m0 < m {
            let m1 = (m0 + super::M_BLOCK).min(m);
            let mut p = 0;
            while p < n_panels {
                let two = p + 1 < n_panels;
                let panels = &b.panels[p * k * NR..];
                let col = p * NR;
                let widths = [width(p), if two { width(p + 1) } else { 0 }];
                let mut r = m0;
                while r < m1 {
                    let rows = (m1 - r).min(MR512);
                    if two {
                        dispatch!(rows, 2, a, r, lda, panels, k, c, ldc, col, widths);
                    } else {
                        dispatch!(rows, 1, a, r, lda, panels, k, c, ldc, col, widths);
                    }
                    r += rows;
                }
                p += if two { 2 } else { 1 };
            }
            m0 = m1;
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn lstm_cell(gates: &[f32], c: &mut [f32], h: &mut [f32], hidden: usize) {
        super::cell_body(gates, c, h, hidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = tympan_audio::synth::Prng::new(seed);
        (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) as f32).collect()
    }

    fn reference(a: &[f32], m: usize, k: usize, w: &[f32], n: usize, c0: &[f32]) -> Vec<f64> {
        let mut out: Vec<f64> = c0.iter().map(|&v| v as f64).collect();
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|kk| a[i * k + kk] as f64 * w[j * k + kk] as f64)
                    .sum();
                out[i * n + j] += s;
            }
        }
        out
    }

    #[test]
    fn matmul_matches_f64_reference_on_awkward_shapes() {
        for &(m, k, n) in &[
            (1, 1, 1),
            (7, 40, 1024),
            (13, 256, 256),
            (25, 256, 1024),
            (6, 3, 17),
            (97, 5, 33),
            (130, 7, 48),
        ] {
            let a = rand_vec(m * k, 1);
            let w = rand_vec(n * k, 2);
            let c0 = rand_vec(m * n, 3);
            let b = PackedB::from_weight(&w, n, k);
            let want = reference(&a, m, k, &w, n, &c0);
            for isa in Isa::available() {
                let mut c = c0.clone();
                matmul_acc_with(isa, &a, m, k, &b, &mut c, n);
                for (i, (&got, &want)) in c.iter().zip(&want).enumerate() {
                    assert!(
                        (got as f64 - want).abs() < 1e-5 * (k as f64).sqrt().max(1.0),
                        "{isa:?} ({m},{k},{n}) element {i}: {got} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn strided_rows_touch_only_their_columns() {
        // A with lda > k and C with ldc > n: the padding columns stay untouched.
        let (m, k, n, lda, ldc) = (5, 8, 20, 11, 27);
        let a = rand_vec(m * lda, 4);
        let w = rand_vec(n * k, 5);
        let b = PackedB::from_weight(&w, n, k);
        for isa in Isa::available() {
            let mut c = vec![7.0f32; m * ldc];
            matmul_acc_with(isa, &a, m, lda, &b, &mut c, ldc);
            for i in 0..m {
                for j in n..ldc {
                    assert_eq!(c[i * ldc + j], 7.0, "{isa:?}");
                }
                let s: f64 = (0..k).map(|kk| a[i * lda + kk] as f64 * w[kk] as f64).sum();
                assert!((c[i * ldc] as f64 - 7.0 - s).abs() < 1e-5, "{isa:?}");
            }
        }
    }

    #[test]
    fn exp_sigmoid_tanh_are_accurate() {
        let mut worst_exp = 0f64;
        let mut worst_tanh = 0f64;
        let mut worst_sig = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let e = (x as f64).exp();
            worst_exp = worst_exp.max(((exp_approx(x) as f64) - e).abs() / e);
            worst_tanh = worst_tanh.max((tanh_approx(x) as f64 - (x as f64).tanh()).abs());
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            worst_sig = worst_sig.max((sigmoid_approx(x) as f64 - s).abs());
            x += 0.0137;
        }
        assert!(worst_exp < 2e-7, "exp relative error {worst_exp}");
        assert!(worst_tanh < 3e-7, "tanh absolute error {worst_tanh}");
        assert!(worst_sig < 2e-7, "sigmoid absolute error {worst_sig}");
        assert_eq!(tanh_approx(1000.0), 1.0);
        assert_eq!(tanh_approx(-1000.0), -1.0);
        // exp is clamped at 88: σ(−1000) is e^−88 ≈ 6e-39, an absolute error far below f32 ε.
        assert!((0.0..1e-37).contains(&sigmoid_approx(-1000.0)));
        assert_eq!(sigmoid_approx(1000.0), 1.0);
    }

    #[test]
    fn cell_matches_the_lstm_equations() {
        let hidden = 19;
        let rows = 3;
        let gates = rand_vec(rows * 4 * hidden, 6)
            .into_iter()
            .map(|v| v * 4.0)
            .collect::<Vec<_>>();
        let c0 = rand_vec(rows * hidden, 7);
        let (mut c, mut h) = (c0.clone(), vec![0.0; rows * hidden]);
        lstm_cell(&gates, &mut c, &mut h, hidden);
        let (mut cp, mut hp) = (c0.clone(), vec![0.0; rows * hidden]);
        lstm_cell_with(Isa::Portable, &gates, &mut cp, &mut hp, hidden);
        let sig = |x: f32| 1.0 / (1.0 + (-(x as f64)).exp());
        for r in 0..rows {
            for j in 0..hidden {
                let g = |q: usize| gates[r * 4 * hidden + q * hidden + j];
                let cn = sig(g(1)) * c0[r * hidden + j] as f64 + sig(g(0)) * (g(2) as f64).tanh();
                let hn = sig(g(3)) * cn.tanh();
                assert!((c[r * hidden + j] as f64 - cn).abs() < 1e-6);
                assert!((h[r * hidden + j] as f64 - hn).abs() < 1e-6);
            }
        }
        // Every build computes the same floats (no contraction into FMA without fast-math).
        for isa in Isa::available() {
            let (mut ci, mut hi) = (c0.clone(), vec![0.0; rows * hidden]);
            lstm_cell_with(isa, &gates, &mut ci, &mut hi, hidden);
            assert_eq!(ci, cp, "{isa:?}");
            assert_eq!(hi, hp, "{isa:?}");
        }
        assert_eq!(c, cp);
        assert_eq!(h, hp);
    }
}
