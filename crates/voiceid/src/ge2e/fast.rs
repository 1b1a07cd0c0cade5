//! The fast GE2E forward pass: a hand-written LSTM over [`kernels`](super::kernels), batched
//! over the partial windows of one utterance.
//!
//! Layer by layer, time-major: the input projections of a whole layer are one large product
//! (`[T·B, in] · W_ihᵀ`), and each time step adds `h · W_hhᵀ` for the `B` windows at once and
//! runs the cell. The first layer's input projection depends only on the mel frame, so it is
//! computed once per frame and shared by the overlapping windows (resemblyzer's windows
//! overlap by about half).

use super::kernels::{lstm_cell_with, matmul_acc_with, Isa, PackedB};
use super::weights::Ge2eWeights;

#[derive(Clone, Debug)]
struct Layer {
    w_ih: PackedB,
    w_hh: PackedB,
    /// `b_ih + b_hh`.
    bias: Vec<f32>,
    input: usize,
}

/// Weights packed for the fast kernels.
#[derive(Clone, Debug)]
pub(crate) struct FastNet {
    layers: Vec<Layer>,
    linear: PackedB,
    linear_b: Vec<f32>,
    hidden: usize,
    embedding: usize,
    /// Kernel build in use (checked against the CPU by `Ge2eConfig::validate`).
    isa: Isa,
}

impl FastNet {
    pub(crate) fn new(w: &Ge2eWeights, isa: Isa) -> Self {
        let h4 = 4 * w.hidden;
        let layers = w
            .layers
            .iter()
            .map(|l| Layer {
                w_ih: PackedB::from_weight(&l.w_ih, h4, l.input),
                w_hh: PackedB::from_weight(&l.w_hh, h4, w.hidden),
                bias: l.b_ih.iter().zip(&l.b_hh).map(|(a, b)| a + b).collect(),
                input: l.input,
            })
            .collect();
        FastNet {
            layers,
            linear: PackedB::from_weight(&w.linear_w, w.embedding, w.hidden),
            linear_b: w.linear_b.clone(),
            hidden: w.hidden,
            embedding: w.embedding,
            isa,
        }
    }

    /// Raw (ReLU'd, not normalised) embeddings of the windows `mel[s .. s + frames]` for each
    /// start `s` in `starts`; `mel` is `[n_frames, n_mels]` row-major and must cover every
    /// window. Returns `[starts.len(), embedding]` row-major.
    pub(crate) fn forward(&self, mel: &[f32], starts: &[usize], frames: usize) -> Vec<f32> {
        let b = starts.len();
        let h = self.hidden;
        let h4 = 4 * h;
        let n_mels = self.layers[0].input;
        let isa = self.isa;
        let matmul_acc = |a: &[f32], m, lda, b: &PackedB, c: &mut [f32], ldc| {
            matmul_acc_with(isa, a, m, lda, b, c, ldc)
        };
        let lstm_cell =
            |g: &[f32], c: &mut [f32], h: &mut [f32], hidden| lstm_cell_with(isa, g, c, h, hidden);
        if b == 0 || frames == 0 {
            return Vec::new();
        }
        let first = *starts.iter().min().expect("non-empty");
        let last = *starts.iter().max().expect("non-empty") + frames;
        assert!(
            last * n_mels <= mel.len(),
            "windows run past the mel frames"
        );

        // Layer 0 input projection, once per frame of the covered span.
        let span = last - first;
        let mut x0 = Vec::with_capacity(span * h4);
        for _ in 0..span {
            x0.extend_from_slice(&self.layers[0].bias);
        }
        matmul_acc(
            &mel[first * n_mels..last * n_mels],
            span,
            n_mels,
            &self.layers[0].w_ih,
            &mut x0,
            h4,
        );

        let mut gates = vec![0.0f32; b * h4];
        let mut hs = vec![0.0f32; b * h];
        let mut cs = vec![0.0f32; b * h];
        // Outputs of the current layer, time-major `[frames, b, h]` (not kept for the last).
        let mut seq = vec![0.0f32; frames * b * h];
        let mut xproj = Vec::new();
        let n_layers = self.layers.len();
        for (li, layer) in self.layers.iter().enumerate() {
            let keep = li + 1 < n_layers;
            if li > 0 {
                // The whole layer's input projection in one product.
                xproj.clear();
                for _ in 0..frames * b {
                    xproj.extend_from_slice(&layer.bias);
                }
                matmul_acc(&seq, frames * b, layer.input, &layer.w_ih, &mut xproj, h4);
            }
            hs.iter_mut().for_each(|v| *v = 0.0);
            cs.iter_mut().for_each(|v| *v = 0.0);
            for t in 0..frames {
                if li == 0 {
                    for (row, &s) in gates.chunks_exact_mut(h4).zip(starts) {
                        let at = (s - first + t) * h4;
                        row.copy_from_slice(&x0[at..at + h4]);
                    }
                } else {
                    gates.copy_from_slice(&xproj[t * b * h4..(t + 1) * b * h4]);
                }
                if t > 0 {
                    matmul_acc(&hs, b, h, &layer.w_hh, &mut gates, h4);
                }
                lstm_cell(&gates, &mut cs, &mut hs, h);
                if keep {
                    seq[t * b * h..(t + 1) * b * h].copy_from_slice(&hs);
                }
            }
        }
        // Linear + ReLU on the last layer's final hidden state.
        let e = self.embedding;
        let mut out = Vec::with_capacity(b * e);
        for _ in 0..b {
            out.extend_from_slice(&self.linear_b);
        }
        matmul_acc(&hs, b, h, &self.linear, &mut out, e);
        out.iter_mut().for_each(|v| *v = v.max(0.0));
        out
    }
}
