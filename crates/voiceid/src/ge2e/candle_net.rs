//! The GE2E forward pass with candle's stock layers: `candle_nn::LSTM` (one step at a time,
//! as PyTorch's equations) and `candle_nn::Linear`, on the CPU. It is the straightforward
//! implementation the fast backend is checked and measured against.

use std::collections::HashMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::rnn::{LSTMConfig, RNN};

use super::weights::Ge2eWeights;
use crate::error::Result;

/// The network as candle modules.
pub(crate) struct CandleNet {
    layers: Vec<candle_nn::LSTM>,
    linear: candle_nn::Linear,
    n_mels: usize,
}

impl std::fmt::Debug for CandleNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleNet")
            .field("layers", &self.layers.len())
            .finish()
    }
}

impl CandleNet {
    pub(crate) fn new(w: &Ge2eWeights) -> Result<Self> {
        let dev = Device::Cpu;
        let mut map = HashMap::new();
        for t in w.to_tensors() {
            map.insert(t.name, Tensor::from_vec(t.data, t.shape, &dev)?);
        }
        let vb = candle_nn::VarBuilder::from_tensors(map, DType::F32, &dev);
        let layers = w
            .layers
            .iter()
            .enumerate()
            .map(|(k, l)| {
                candle_nn::lstm(
                    l.input,
                    w.hidden,
                    LSTMConfig {
                        layer_idx: k,
                        ..Default::default()
                    },
                    vb.pp("lstm"),
                )
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        let linear = candle_nn::linear(w.hidden, w.embedding, vb.pp("linear"))?;
        Ok(CandleNet {
            layers,
            linear,
            n_mels: w.n_mels(),
        })
    }

    /// Same contract as `FastNet::forward`.
    pub(crate) fn forward(&self, mel: &[f32], starts: &[usize], frames: usize) -> Result<Vec<f32>> {
        let b = starts.len();
        if b == 0 || frames == 0 {
            return Ok(Vec::new());
        }
        let n = self.n_mels;
        let mut batch = Vec::with_capacity(b * frames * n);
        for &s in starts {
            batch.extend_from_slice(&mel[s * n..(s + frames) * n]);
        }
        let mut x = Tensor::from_vec(batch, (b, frames, n), &Device::Cpu)?;
        let mut last_h = None;
        for layer in &self.layers {
            let states = layer.seq(&x)?;
            x = layer.states_to_tensor(&states)?;
            last_h = states.last().map(|s| s.h().clone());
        }
        let h = last_h.expect("at least one layer and one frame");
        let e = self.linear.forward(&h)?.relu()?;
        Ok(e.flatten_all()?.to_vec1::<f32>()?)
    }
}
