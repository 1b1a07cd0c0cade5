#!/usr/bin/env bash
# Side-by-side throughput of Tympan's answering-machine detector (Rust) and the SEED pipeline
# (Vonage/Nexmo sample: WebRTC VAD -> clips -> mean of 40 MFCCs -> Gaussian naive Bayes,
# re-implemented in scripts/seed_pipeline.py) on the same recordings, single-threaded and pinned
# to one core. Reports audio-seconds per CPU-second for each and their ratio (target >= 20x).
# Usage:
#   scripts/bench-amd-vs-seed.sh [CALLS_DIR]
# Without CALLS_DIR the calls are generated into /var/tmp/tympan-amd-bench-calls with
#   tympan amd eval --data ../shared/data --calls 300 --seed 1 --dump DIR
# (the folder is emptied first). Env: CALLS (default 300), CPU (core to pin to, default 0),
# TYMPAN (a tympan binary to use instead of building this tree's), RATE (8000 or 16000, default 8000): with RATE=16000 every call is upsampled to 16 kHz (with
# sox when installed, else `tympan audio convert --rate`) into DIR-16k first, and both sides
# run on those copies — 16 kHz is how Vonage and the seed deliver audio.
# Python modules (librosa, webrtcvad, scikit-learn) are used from python3 when importable, else
# pip-installed into a venv under /var/tmp (nothing is installed system-wide).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMBA_NUM_THREADS=1
export RAYON_NUM_THREADS=1
shared="${TYMPAN_SHARED:-$root/../shared}"
cpu="${CPU:-0}"
calls="${CALLS:-300}"
rate="${RATE:-8000}"
case "$rate" in 8000|16000) ;; *) echo "RATE=$rate: use 8000 or 16000" >&2; exit 2 ;; esac

py=python3
if ! "$py" -c 'import librosa, webrtcvad, sklearn, soundfile' 2>/dev/null; then
  venv=/var/tmp/tympan-seedbench-venv
  if ! "$venv/bin/python" -c 'import librosa, webrtcvad, sklearn, soundfile' 2>/dev/null; then
    echo "python modules missing: installing librosa, webrtcvad-wheels, scikit-learn into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q librosa webrtcvad-wheels scikit-learn
  fi
  py="$venv/bin/python"
fi

cd "$root"
if [ -n "${TYMPAN:-}" ]; then
  tympan="$TYMPAN"
else
  cargo build --release -q -p tympan
  target="${CARGO_TARGET_DIR:-$root/target}"
  tympan="$target/release/tympan"
fi

if [ "$#" -ge 1 ]; then
  dir="$1"
else
  dir=/var/tmp/tympan-amd-bench-calls
  [ -d "$shared/data" ] || { echo "$shared/data not found (set TYMPAN_SHARED)" >&2; exit 2; }
  rm -rf "$dir"
  mkdir -p "$dir"
  echo "making $calls calls in $dir ..." >&2
  "$tympan" amd eval --data "$shared/data" --calls "$calls" --seed 1 --dump "$dir" --json >/dev/null
fi
n="$(find "$dir" -maxdepth 1 -iname '*.wav' | wc -l)"
[ "$n" -gt 0 ] || { echo "no WAV files in $dir" >&2; exit 2; }
if [ "$rate" = 16000 ]; then
  up="${dir%/}-16k"
  rm -rf "$up"
  mkdir -p "$up"
  if command -v sox >/dev/null; then how=sox; else how="tympan audio convert"; fi
  echo "upsampling $n calls to 16 kHz into $up ($how) ..." >&2
  for f in "$dir"/*.wav "$dir"/*.WAV; do
    [ -e "$f" ] || continue
    if [ "$how" = sox ]; then
      sox "$f" -r 16000 -b 16 "$up/$(basename "$f")"
    else
      "$tympan" audio convert "$f" "$up/$(basename "$f")" --rate 16000 >/dev/null
    fi
  done
  dir="$up"
fi

rust_out="$(taskset -c "$cpu" "$tympan" amd bench --dir "$dir" --json)"
echo "tympan:"
echo "$rust_out"
py_out="$(taskset -c "$cpu" "$py" "$root/scripts/seed_pipeline.py" "$dir" --data "$shared/data")"
echo "seed:"
echo "$py_out"

"$py" - "$rust_out" "$py_out" "$rate" <<'EOF'
import json, sys
r, s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert r["files"] == s["files"], "both sides must see the same files"
print(f"files: {r['files']}, audio: {r['audio_s']:.1f} s at {sys.argv[3]} Hz")
print(f"tympan ({r['mode']}): {r['audio_s_per_cpu_s']:.0f} audio-s/CPU-s")
print(f"seed:   {s['audio_s_per_cpu_s']:.0f} audio-s/CPU-s "
      f"({s['clips']} clips: {s['clips_beep']} beep, {s['clips_speech']} speech)")
print(f"ratio:  {r['audio_s_per_cpu_s'] / s['audio_s_per_cpu_s']:.1f}x (target >= 20x)")
EOF
