//! Convert resemblyzer's legacy-format `pretrained.pt` to `voiceid-ge2e.safetensors` (shell
//! code: reads and writes the files; the conversion is `torch_legacy`), then load the result
//! as a GE2E encoder to check it. Used by `scripts/voiceid-weights.sh`.
//!
//! `cargo run --release -p tympan-voiceid --example convert-weights -- IN.pt OUT.safetensors`

use std::process::ExitCode;

use tympan_voiceid::ge2e::Ge2eWeights;
use tympan_voiceid::torch_legacy::legacy_checkpoint_to_safetensors;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        eprintln!("usage: convert-weights IN.pt OUT.safetensors");
        return ExitCode::from(2);
    };
    let run = || -> Result<String, String> {
        let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
        let st = legacy_checkpoint_to_safetensors(&bytes, "model_state")
            .map_err(|e| format!("{input}: {e}"))?;
        let w = Ge2eWeights::from_safetensors(&st).map_err(|e| format!("{input}: {e}"))?;
        std::fs::write(output, &st).map_err(|e| format!("{output}: {e}"))?;
        Ok(format!(
            "{output}: GE2E, {} LSTM layers of {} units over {} mel bands, {}-d embedding ({} bytes)",
            w.layers.len(),
            w.hidden,
            w.n_mels(),
            w.embedding,
            st.len()
        ))
    };
    match run() {
        Ok(msg) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
