#!/usr/bin/env bash
# Compare MFCC throughput (n_mfcc=40, librosa defaults) of the Rust extractor and librosa on the
# same WAV files, single-threaded. Usage:
#   scripts/bench-mfcc-vs-librosa.sh [FILE.wav ...]
# Without arguments: the first 200 files (sorted) of ../shared/data/fsdd/recordings.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
export RAYON_NUM_THREADS=1

if [ "$#" -eq 0 ]; then
  shared="${TYMPAN_SHARED:-$root/../shared}"
  dir="$shared/data/fsdd/recordings"
  [ -d "$dir" ] || { echo "no files given and $dir not found" >&2; exit 2; }
  mapfile -t files < <(find "$dir" -maxdepth 1 -name '*.wav' | sort | head -n 200)
else
  files=("$@")
fi
[ "${#files[@]}" -gt 0 ] || { echo "no WAV files" >&2; exit 2; }

cd "$root"
cargo build --release -q -p tympan-audio --example mfcc_throughput
target="${CARGO_TARGET_DIR:-$root/target}"
rust_out="$("$target/release/examples/mfcc_throughput" "${files[@]}")"
echo "$rust_out"
py_out="$(python3 "$root/scripts/librosa_mfcc_throughput.py" "${files[@]}")"
echo "$py_out"
rust_tp="$(awk '/^THROUGHPUT/ {print $2}' <<<"$rust_out")"
py_tp="$(awk '/^THROUGHPUT/ {print $2}' <<<"$py_out")"
echo "files: ${#files[@]}"
echo "rust:    $rust_tp audio-s/CPU-s"
echo "librosa: $py_tp audio-s/CPU-s"
awk -v r="$rust_tp" -v p="$py_tp" 'BEGIN { printf "ratio:   %.1fx (target >= 20x)\n", r / p }'
