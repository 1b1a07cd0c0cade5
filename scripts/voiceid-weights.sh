#!/usr/bin/env bash
# Fetches the pretrained GE2E speaker encoder that ships inside resemblyzer's PyPI wheel
# (resemblyzer 0.1.4, Apache-2.0: resemblyzer/pretrained.pt, a legacy-format PyTorch
# checkpoint), checks its SHA-256 and converts its state dict to safetensors with Tympan's own
# reader (tympan_voiceid::torch_legacy, run by the crate's `convert-weights` example).
#
# Output: ${TYMPAN_MODELS:-$HOME/.cache/tympan}/voiceid-ge2e.safetensors
# Usage:  scripts/voiceid-weights.sh [--force]
# Needs:  python3 with pip (only to download the wheel; nothing is installed), cargo.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
models="${TYMPAN_MODELS:-$HOME/.cache/tympan}"
out="$models/voiceid-ge2e.safetensors"
# SHA-256 of resemblyzer 0.1.4's pretrained.pt.
want_sha=39373b86598fa3da9fcddee6142382efe09777e8d37dc9c0561f41f0070f134e

if [ -s "$out" ] && [ "${1:-}" != "--force" ]; then
  echo "voiceid-weights: $out already exists (--force to redo)" >&2
  echo "$out"
  exit 0
fi
mkdir -p "$models"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "voiceid-weights: downloading the resemblyzer 0.1.4 wheel" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: "resemblyzer==0.1.4" -d "$tmp"
whl="$(find "$tmp" -maxdepth 1 -iname 'resemblyzer-0.1.4-*.whl' | head -n 1)"
[ -n "$whl" ] || { echo "voiceid-weights: wheel not found after pip download" >&2; exit 1; }
python3 - "$whl" "$tmp/pretrained.pt" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("resemblyzer/pretrained.pt")
open(sys.argv[2], "wb").write(data)
PY
got_sha="$(sha256sum "$tmp/pretrained.pt" | cut -d' ' -f1)"
if [ "$got_sha" != "$want_sha" ]; then
  echo "voiceid-weights: pretrained.pt has SHA-256 $got_sha, expected $want_sha" >&2
  exit 1
fi

cd "$root"
nice -n 19 cargo run --release --quiet -p tympan-voiceid --example convert-weights -- \
  "$tmp/pretrained.pt" "$out.tmp"
mv "$out.tmp" "$out"
echo "voiceid-weights: wrote $out" >&2
echo "$out"
