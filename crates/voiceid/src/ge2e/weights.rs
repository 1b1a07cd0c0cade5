//! GE2E encoder weights: PyTorch names and layouts, read from and written to safetensors.

use crate::error::{Result, VoiceIdError};
use crate::torch_legacy::{tensors_to_safetensors, NamedTensor};

/// One LSTM layer in PyTorch's layout: gates stacked `i, f, g, o` along the rows.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmLayerWeights {
    /// `weight_ih_l{k}`: `[4 * hidden, input]` row-major.
    pub w_ih: Vec<f32>,
    /// `weight_hh_l{k}`: `[4 * hidden, hidden]` row-major.
    pub w_hh: Vec<f32>,
    /// `bias_ih_l{k}`: `[4 * hidden]`.
    pub b_ih: Vec<f32>,
    /// `bias_hh_l{k}`: `[4 * hidden]`.
    pub b_hh: Vec<f32>,
    /// Input size of this layer (mel bands for the first, `hidden` after).
    pub input: usize,
}

/// The GE2E d-vector network (resemblyzer's `VoiceEncoder`): a stacked unidirectional LSTM,
/// a linear layer on the last layer's final hidden state, ReLU, L2 norm.
#[derive(Clone, Debug, PartialEq)]
pub struct Ge2eWeights {
    /// LSTM layers, first to last.
    pub layers: Vec<LstmLayerWeights>,
    /// `linear.weight`: `[embedding, hidden]` row-major.
    pub linear_w: Vec<f32>,
    /// `linear.bias`: `[embedding]`.
    pub linear_b: Vec<f32>,
    /// LSTM hidden size.
    pub hidden: usize,
    /// Embedding size.
    pub embedding: usize,
}

/// Most LSTM layers accepted in a weights file.
pub const MAX_LAYERS: usize = 16;
/// Largest hidden, input or embedding size accepted.
pub const MAX_WIDTH: usize = 4096;

fn tensor<'a>(st: &'a safetensors::SafeTensors<'a>, name: &str) -> Result<(Vec<usize>, Vec<f32>)> {
    let view = st
        .tensor(name)
        .map_err(|_| VoiceIdError::Weights(format!("tensor `{name}` is missing")))?;
    if view.dtype() != safetensors::Dtype::F32 {
        return Err(VoiceIdError::Weights(format!(
            "tensor `{name}` is {:?}, F32 expected",
            view.dtype()
        )));
    }
    let data = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((view.shape().to_vec(), data))
}

fn expect_shape(name: &str, got: &[usize], want: &[usize]) -> Result<()> {
    if got != want {
        return Err(VoiceIdError::Weights(format!(
            "tensor `{name}` has shape {got:?}, {want:?} expected"
        )));
    }
    Ok(())
}

impl Ge2eWeights {
    /// Mel bands the first layer expects.
    pub fn n_mels(&self) -> usize {
        self.layers.first().map_or(0, |l| l.input)
    }

    /// Read PyTorch-named tensors (`lstm.weight_ih_l0`, ..., `linear.weight`, `linear.bias`)
    /// from a safetensors file; the layer count and sizes come from the shapes, which must be
    /// consistent. Other tensors (resemblyzer's `similarity_weight`/`_bias`) are ignored.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| VoiceIdError::Weights(format!("not a safetensors file: {e}")))?;
        let mut layers = Vec::new();
        let (hshape, _) = tensor(&st, "lstm.weight_hh_l0")?;
        if hshape.len() != 2 || hshape[0] != 4 * hshape[1] || hshape[1] == 0 {
            return Err(VoiceIdError::Weights(format!(
                "tensor `lstm.weight_hh_l0` has shape {hshape:?}, [4 * hidden, hidden] expected"
            )));
        }
        let hidden = hshape[1];
        if hidden > MAX_WIDTH {
            return Err(VoiceIdError::Weights(format!(
                "hidden size {hidden} above {MAX_WIDTH}"
            )));
        }
        for k in 0..MAX_LAYERS {
            let name_ih = format!("lstm.weight_ih_l{k}");
            if st.tensor(&name_ih).is_err() {
                break;
            }
            let (s, w_ih) = tensor(&st, &name_ih)?;
            let input = if k == 0 {
                if s.len() != 2 || s[0] != 4 * hidden || s[1] == 0 || s[1] > MAX_WIDTH {
                    return Err(VoiceIdError::Weights(format!(
                        "tensor `{name_ih}` has shape {s:?}, [{}, n_mels] expected",
                        4 * hidden
                    )));
                }
                s[1]
            } else {
                expect_shape(&name_ih, &s, &[4 * hidden, hidden])?;
                hidden
            };
            let name = format!("lstm.weight_hh_l{k}");
            let (s, w_hh) = tensor(&st, &name)?;
            expect_shape(&name, &s, &[4 * hidden, hidden])?;
            let name = format!("lstm.bias_ih_l{k}");
            let (s, b_ih) = tensor(&st, &name)?;
            expect_shape(&name, &s, &[4 * hidden])?;
            let name = format!("lstm.bias_hh_l{k}");
            let (s, b_hh) = tensor(&st, &name)?;
            expect_shape(&name, &s, &[4 * hidden])?;
            layers.push(LstmLayerWeights {
                w_ih,
                w_hh,
                b_ih,
                b_hh,
                input,
            });
        }
        if layers.is_empty() {
            return Err(VoiceIdError::Weights(
                "tensor `lstm.weight_ih_l0` is missing".into(),
            ));
        }
        let (s, linear_w) = tensor(&st, "linear.weight")?;
        if s.len() != 2 || s[1] != hidden || s[0] == 0 || s[0] > MAX_WIDTH {
            return Err(VoiceIdError::Weights(format!(
                "tensor `linear.weight` has shape {s:?}, [embedding, {hidden}] expected"
            )));
        }
        let embedding = s[0];
        let (s, linear_b) = tensor(&st, "linear.bias")?;
        expect_shape("linear.bias", &s, &[embedding])?;
        for (name, v) in std::iter::once(("linear.weight", &linear_w))
            .chain(std::iter::once(("linear.bias", &linear_b)))
            .chain(layers.iter().flat_map(|l| {
                [
                    ("lstm", &l.w_ih),
                    ("lstm", &l.w_hh),
                    ("lstm", &l.b_ih),
                    ("lstm", &l.b_hh),
                ]
            }))
        {
            if v.iter().any(|x| !x.is_finite()) {
                return Err(VoiceIdError::Weights(format!(
                    "a `{name}` tensor holds a non-finite value"
                )));
            }
        }
        Ok(Ge2eWeights {
            layers,
            linear_w,
            linear_b,
            hidden,
            embedding,
        })
    }

    /// The tensors under their PyTorch names.
    pub fn to_tensors(&self) -> Vec<NamedTensor> {
        let h4 = 4 * self.hidden;
        let mut out = Vec::new();
        for (k, l) in self.layers.iter().enumerate() {
            out.push(NamedTensor {
                name: format!("lstm.weight_ih_l{k}"),
                shape: vec![h4, l.input],
                data: l.w_ih.clone(),
            });
            out.push(NamedTensor {
                name: format!("lstm.weight_hh_l{k}"),
                shape: vec![h4, self.hidden],
                data: l.w_hh.clone(),
            });
            out.push(NamedTensor {
                name: format!("lstm.bias_ih_l{k}"),
                shape: vec![h4],
                data: l.b_ih.clone(),
            });
            out.push(NamedTensor {
                name: format!("lstm.bias_hh_l{k}"),
                shape: vec![h4],
                data: l.b_hh.clone(),
            });
        }
        out.push(NamedTensor {
            name: "linear.weight".into(),
            shape: vec![self.embedding, self.hidden],
            data: self.linear_w.clone(),
        });
        out.push(NamedTensor {
            name: "linear.bias".into(),
            shape: vec![self.embedding],
            data: self.linear_b.clone(),
        });
        out
    }

    /// Serialise as safetensors with PyTorch names (what [`from_safetensors`](Self::from_safetensors) reads).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        tensors_to_safetensors(&self.to_tensors())
    }

    /// Random weights of the given sizes, uniform in ±1/√hidden like PyTorch's LSTM and
    /// linear initialisation, from a seeded generator (tests and benchmarks run the real
    /// network shapes without the downloaded file). Errors on a zero or oversized dimension.
    pub fn random(
        seed: u64,
        n_mels: usize,
        hidden: usize,
        layers: usize,
        embedding: usize,
    ) -> Result<Self> {
        for (name, v, max) in [
            ("n_mels", n_mels, MAX_WIDTH),
            ("hidden", hidden, MAX_WIDTH),
            ("layers", layers, MAX_LAYERS),
            ("embedding", embedding, MAX_WIDTH),
        ] {
            if v == 0 || v > max {
                return Err(crate::error::invalid(name, format!("{v} not in 1..={max}")));
            }
        }
        let mut rng = tympan_audio::synth::Prng::new(seed);
        let bound = 1.0 / (hidden as f64).sqrt();
        let mut fill = |n: usize| -> Vec<f32> {
            (0..n)
                .map(|_| ((rng.uniform() * 2.0 - 1.0) * bound) as f32)
                .collect()
        };
        let h4 = 4 * hidden;
        let layers = (0..layers)
            .map(|k| {
                let input = if k == 0 { n_mels } else { hidden };
                LstmLayerWeights {
                    w_ih: fill(h4 * input),
                    w_hh: fill(h4 * hidden),
                    b_ih: fill(h4),
                    b_hh: fill(h4),
                    input,
                }
            })
            .collect();
        Ok(Ge2eWeights {
            layers,
            linear_w: fill(embedding * hidden),
            linear_b: fill(embedding),
            hidden,
            embedding,
        })
    }
}
