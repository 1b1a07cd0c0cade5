#!/usr/bin/env bash
# Re-estimates crates/speech/models/telephone-8k.mllr: a global MLLR mean transform that adapts
# Debian's pocketsphinx-en-us (16 kHz, wideband) model to 8 kHz µ-law call audio as the
# recogniser hears it (upsampled to 16 kHz with the comfort noise, asr::sphinx::model_audio).
#
# Data: LibriSpeech dev-clean (../shared/data/librispeech-dev, CC BY 4.0); utterances with a
# word missing from the dictionary are skipped. Tools: sphinxtrain (bw, mllr_solve) and
# pocketsphinx (pocketsphinx_mdef_convert) from Debian, python3.
#
# usage: scripts/speech-adapt.sh [LIBRISPEECH_DIR] [WORK_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
LS=${1:-../shared/data/librispeech-dev}
WORK=${2:-$(mktemp -d /var/tmp/speech-adapt.XXXXXX)}
MODEL=/usr/share/pocketsphinx/model/en-us
BW=/usr/lib/sphinxtrain/bw
SOLVE=/usr/lib/sphinxtrain/mllr_solve
for t in "$BW" "$SOLVE" "$(command -v pocketsphinx_mdef_convert || true)" "$(command -v sphinx_fe || true)"; do
  [ -n "$t" ] && [ -x "$t" ] || { echo "speech-adapt: missing tools; apt-get install -y sphinxtrain pocketsphinx sphinxbase-utils" >&2; exit 1; }
done
[ -f "$LS/transcripts.txt" ] || { echo "speech-adapt: $LS/transcripts.txt not found" >&2; exit 1; }
echo "speech-adapt: working in $WORK" >&2

# 1. The utterances through the call path (the binary does the audio; logic in tympan-speech).
cargo run -q -p tympan -- speech adapt-data --librispeech "$LS" --out "$WORK"

# 2. Features exactly as the decoder computes them (the model's feat.params; noise removal on,
#    silence removal off, one stream per utterance).
mkdir -p "$WORK/mfc"
sphinx_fe -argfile "$MODEL/en-us/feat.params" -samprate 16000 -c "$WORK/adapt.fileids" \
  -di "$WORK/raw" -do "$WORK/mfc" -ei raw -eo mfc -raw yes -input_endian little \
  -remove_silence no -remove_noise yes >"$WORK/fe.log" 2>&1

# 3. A model copy sphinxtrain reads: text mdef, float mixture weights.
mkdir -p "$WORK/hmm"
cp "$MODEL"/en-us/{means,variances,transition_matrices,noisedict,feat.params} "$WORK/hmm/"
pocketsphinx_mdef_convert -text "$MODEL/en-us/mdef" "$WORK/hmm/mdef" >/dev/null 2>&1
python3 scripts/sendump-to-mixw.py "$MODEL/en-us/sendump" "$WORK/hmm/mixture_weights"

# 4. Baum-Welch statistics and the MLLR solution.
mkdir -p "$WORK/acc"
"$BW" -hmmdir "$WORK/hmm" -moddeffn "$WORK/hmm/mdef" -ts2cbfn .ptm. -feat 1s_c_d_dd \
  -svspec 0-12/13-25/26-38 -cmn batch -agc none -dictfn "$MODEL/cmudict-en-us.dict" \
  -fdictfn "$WORK/hmm/noisedict" -ctlfn "$WORK/adapt.fileids" -lsnfn "$WORK/adapt.transcription" \
  -cepdir "$WORK/mfc" -accumdir "$WORK/acc" >"$WORK/bw.log" 2>&1
"$SOLVE" -meanfn "$WORK/hmm/means" -varfn "$WORK/hmm/variances" \
  -outmllrfn crates/speech/models/telephone-8k.mllr -accumdir "$WORK/acc" >"$WORK/mllr.log" 2>&1
echo "speech-adapt: wrote crates/speech/models/telephone-8k.mllr ($(grep -c 'ignored' "$WORK/bw.log" || true) utterances could not be aligned)" >&2
