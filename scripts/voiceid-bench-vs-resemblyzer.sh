#!/usr/bin/env bash
# Side by side with the reference: resemblyzer's VoiceEncoder (PyTorch, CPU) and Tympan's GE2E
# encoder on the same files, one core each. Reports
#   * cosine distance between the two embeddings of the same input (the volume-normalised,
#     untrimmed waveform: the two silence trimmers differ on purpose, see crates/voiceid
#     src/ge2e/mod.rs) — target <= 1e-4;
#   * the same for the full pipelines (webrtcvad vs our VAD trimming), for information;
#   * real-time factor (CPU seconds per audio second) of the full pipelines and the speed-up
#     — target >= 3x.
#
# Usage: scripts/voiceid-bench-vs-resemblyzer.sh [--json] [FILE ...]
#   Without files: the first 3 utterances (sorted) of each speaker of
#   ../shared/data/librispeech-dev (36 files, 16 kHz FLAC; TYMPAN_SHARED overrides ../shared).
# Environment: VOICEID_VENV (default /var/tmp/voiceid-venv) holds torch (CPU) + resemblyzer;
#   created on first use (a large download: torch from PyPI pulls its CUDA libraries when the
#   CPU-only index is unreachable). TYMPAN_MODELS as in scripts/voiceid-weights.sh.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VOICEID_VENV:-/var/tmp/voiceid-venv}"
json=""
if [ "${1:-}" = "--json" ]; then json="--json"; shift; fi
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1
export RAYON_NUM_THREADS=1

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import torch, resemblyzer" 2>/dev/null; then
  echo "bench: setting up $venv (torch CPU + resemblyzer)" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --index-url https://download.pytorch.org/whl/cpu torch \
    || "$venv/bin/pip" install --quiet torch
  "$venv/bin/pip" install --quiet resemblyzer
fi

weights="$("$root/scripts/voiceid-weights.sh")"

if [ "$#" -eq 0 ]; then
  # ../shared next to the main checkout, or two levels up from a worktree (wt/NAME).
  shared="${TYMPAN_SHARED:-}"
  if [ -z "$shared" ]; then
    for s in "$root/../shared" "$root/../../shared"; do
      if [ -d "$s/data" ]; then shared="$s"; break; fi
    done
  fi
  data="$shared/data/librispeech-dev"
  [ -d "$data" ] || { echo "bench: no files given and $data not found" >&2; exit 2; }
  files=()
  for spk in $(find "$data" -mindepth 1 -maxdepth 1 -type d | sort); do
    mapfile -t -O "${#files[@]}" files < <(find "$spk" -name '*.flac' | sort | head -n 3)
  done
else
  files=("$@")
fi

cd "$root"
nice -n 19 cargo build --release --quiet -p tympan-voiceid --example embed-files
target="${CARGO_TARGET_DIR:-$root/target}"
ours="$(mktemp /tmp/voiceid-bench.XXXXXX.jsonl)"
trap 'rm -f "$ours"' EXIT
taskset -c 0 "$target/release/examples/embed-files" --weights "$weights" "${files[@]}" > "$ours"
taskset -c 0 "$venv/bin/python" "$root/scripts/voiceid_resemblyzer_ref.py" "$ours" $json
