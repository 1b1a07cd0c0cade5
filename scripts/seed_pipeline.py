#!/usr/bin/env python3
"""Throughput of the SEED answering-machine pipeline (Vonage/Nexmo sample, ../shared/SEEDS.md §4),
re-implemented from its description, in audio-seconds per CPU-second on one thread.

Pipeline, per call:
  * the call audio arrives as 20 ms frames of 16-bit little-endian PCM, one per websocket message;
  * WebRTC VAD (mode 3) marks each frame speech / non-speech;
  * a clip starts at the first speech frame and ends once 300 ms of non-speech has followed it
    (the trailing non-speech is not part of the clip); clips shorter than 200 ms are dropped; a
    clip is cut at 10 s; a clip still open when the call ends is handled like a finished one;
  * each clip is converted to float (x / 32768), resampled to 22050 Hz with librosa's default
    resampler (what librosa.load(sr=22050) does), reduced to the mean over time of its 40 MFCCs
    (librosa defaults otherwise), and labelled by a Gaussian naive Bayes model: beep = 0,
    speech = 1.

The model is trained first (not timed) on clips this script makes itself: synthetic beeps
(numpy sines of 300-2500 Hz, some with harmonics, 0.2-1.5 s, varied levels) and speech clips
cut by the same VAD clipper from ../shared/data/librispeech-dev and ../shared/data/fsdd.

Then every *.wav of DIR (sorted) is decoded and streamed through the pipeline; the CPU time of
this process (time.process_time) is summed over decode + pipeline of each file only, after a
warm-up pass over the first file (librosa's numba JIT and caches). Prints one JSON object.

Usage: seed_pipeline.py DIR [--data ../shared/data] [--seed 1]
"""
import os

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import wave  # noqa: E402

import librosa  # noqa: E402
import numpy as np  # noqa: E402
import sklearn  # noqa: E402
import soundfile  # noqa: E402
import webrtcvad  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402

FRAME_MS = 20  # one websocket message
VAD_MODE = 3  # most aggressive
END_SILENCE_MS = 300  # non-speech that closes a clip
MIN_CLIP_MS = 200  # shorter clips are dropped
MAX_CLIP_MS = 10_000  # longer clips are cut here
FEATURE_RATE = 22050
N_MFCC = 40
BEEP, SPEECH = 0, 1
VAD_RATES = (8000, 16000, 32000, 48000)  # what webrtcvad accepts


class CallSession:
    """The per-call state of the websocket handler: VAD + clip cutting + classification.

    `on_message(frame)` takes one 20 ms frame of int16 LE bytes; `on_close()` ends the call.
    Every finished clip is passed to `on_clip(pcm_bytes)`.
    """

    def __init__(self, rate, on_clip):
        self.rate = rate
        self.frame_bytes = rate * FRAME_MS // 1000 * 2
        self.vad = webrtcvad.Vad(VAD_MODE)
        self.on_clip = on_clip
        self.frames = []  # frames of the open clip (speech and the non-speech inside it)
        self.quiet = 0  # non-speech frames at the end of the open clip

    def on_message(self, frame):
        speech = self.vad.is_speech(frame, self.rate)
        if not self.frames and not speech:
            return
        self.frames.append(frame)
        self.quiet = 0 if speech else self.quiet + 1
        if self.quiet * FRAME_MS >= END_SILENCE_MS:
            self._emit()
        elif len(self.frames) * FRAME_MS >= MAX_CLIP_MS:
            self._emit()

    def on_close(self):
        if self.frames:
            self._emit()

    def _emit(self):
        voiced = self.frames[: len(self.frames) - self.quiet]
        self.frames = []
        self.quiet = 0
        if len(voiced) * FRAME_MS >= MIN_CLIP_MS:
            self.on_clip(b"".join(voiced))


def clip_features(pcm, rate):
    """Mean over time of 40 MFCCs of a clip, after resampling it to 22050 Hz."""
    y = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
    y = librosa.resample(y, orig_sr=rate, target_sr=FEATURE_RATE)
    return librosa.feature.mfcc(y=y, sr=FEATURE_RATE, n_mfcc=N_MFCC).mean(axis=1)


def to_pcm(x):
    """Float samples in [-1, 1] to int16 LE bytes."""
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype("<i2").tobytes()


def cut_clips(pcm, rate):
    """Clips the live VAD clipper makes from a whole recording (int16 LE bytes)."""
    clips = []
    s = CallSession(rate, clips.append)
    n = s.frame_bytes
    for i in range(0, len(pcm) - n + 1, n):
        s.on_message(pcm[i : i + n])
    s.on_close()
    return clips


def synth_beeps(rate, n, rng):
    """`n` beep clips: sines of 300-2500 Hz (a third with harmonics), 0.2-1.5 s, -30..-3 dBFS."""
    out = []
    for k in range(n):
        f = rng.uniform(300.0, 2500.0)
        dur = rng.uniform(0.2, 1.5)
        t = np.arange(int(dur * rate)) / rate
        x = np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
        if k % 3 == 0:
            for h, a in ((2, 0.4), (3, 0.2), (4, 0.1)):
                if h * f < 0.45 * rate:
                    x += a * np.sin(2 * np.pi * h * f * t)
        x /= np.max(np.abs(x))
        ramp = min(len(x) // 4, int(0.005 * rate))
        if ramp:
            w = np.linspace(0.0, 1.0, ramp)
            x[:ramp] *= w
            x[-ramp:] *= w[::-1]
        x *= 10 ** (rng.uniform(-30.0, -3.0) / 20)
        x += rng.normal(0.0, 10 ** (-60 / 20), len(x))  # line noise floor
        out.append(to_pcm(x))
    return out


def spread(paths, n):
    paths = sorted(paths)
    step = max(1, len(paths) // max(1, n))
    return paths[::step][:n]


def speech_clips(data, rate, rng):
    """Speech clips cut by the VAD clipper from LibriSpeech (long) and FSDD (short) recordings."""
    libri_dir = os.path.join(data, "librispeech-dev")
    fsdd_dir = os.path.join(data, "fsdd", "recordings")
    libri = [
        os.path.join(d, f)
        for d, _, fs in os.walk(libri_dir)
        for f in fs
        if f.endswith(".flac")
    ]
    fsdd = [os.path.join(fsdd_dir, f) for f in os.listdir(fsdd_dir) if f.endswith(".wav")]
    if not libri or not fsdd:
        raise SystemExit(f"{data}: no librispeech-dev FLAC or fsdd WAV files found")
    pad = np.zeros(int(0.4 * rate), dtype=np.float32)
    out = []
    for p in spread(libri, 40):
        x, sr = soundfile.read(p, dtype="float32")
        if sr != rate:
            x = librosa.resample(x, orig_sr=sr, target_sr=rate)
        out.extend(cut_clips(to_pcm(x), rate)[:3])
    for p in spread(fsdd, 100):
        x, sr = soundfile.read(p, dtype="float32")
        if sr != rate:
            x = librosa.resample(x, orig_sr=sr, target_sr=rate)
        out.extend(cut_clips(to_pcm(np.concatenate([pad, x, pad])), rate))
    rng.shuffle(out)
    return out


def train(data, rate, seed):
    rng = np.random.default_rng(seed)
    # Beeps go through the same VAD clipper as live audio (with silence around them), so their
    # clips carry the VAD's hangover like the recorded training clips of a live system would.
    pad = np.zeros(int(0.4 * rate), dtype="<i2").tobytes()
    beeps = [c for b in synth_beeps(rate, 200, rng) for c in cut_clips(pad + b + pad, rate)][:150]
    speech = speech_clips(data, rate, rng)
    X = np.array([clip_features(c, rate) for c in beeps + speech])
    y = np.array([BEEP] * len(beeps) + [SPEECH] * len(speech))
    order = rng.permutation(len(y))
    cut = len(y) * 4 // 5
    held = GaussianNB().fit(X[order[:cut]], y[order[:cut]])
    holdout_acc = float((held.predict(X[order[cut:]]) == y[order[cut:]]).mean())
    model = GaussianNB().fit(X, y)
    return model, {
        "beep_clips": len(beeps),
        "speech_clips": len(speech),
        "holdout_accuracy": round(holdout_acc, 4),
    }


def read_wav(path):
    """(rate, int16 LE bytes) of a mono 16-bit PCM WAV at a rate WebRTC VAD accepts."""
    try:
        with wave.open(path, "rb") as w:
            ch, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            pcm = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as e:
        raise SystemExit(f"{path}: not a readable PCM WAV ({e})")
    if ch != 1 or width != 2 or rate not in VAD_RATES:
        raise SystemExit(
            f"{path}: need mono 16-bit PCM at one of {VAD_RATES} Hz, got {ch} ch, "
            f"{8 * width}-bit, {rate} Hz"
        )
    return rate, pcm


def run_call(path, model, counts, pcm_at_rate=None):
    """Decode one recording and stream it through the pipeline; returns its duration in s.

    `pcm_at_rate` = (rate, bytes) replaces the decode with audio prepared beforehand.
    """
    rate, pcm = pcm_at_rate if pcm_at_rate is not None else read_wav(path)

    def on_clip(clip):
        label = int(model.predict(clip_features(clip, rate)[None, :])[0])
        counts["clips"] += 1
        counts["beep" if label == BEEP else "speech"] += 1
        counts["call_beep"] = counts["call_beep"] or label == BEEP

    s = CallSession(rate, on_clip)
    n = s.frame_bytes
    for i in range(0, len(pcm) - n + 1, n):  # one websocket message per 20 ms frame
        s.on_message(pcm[i : i + n])
    s.on_close()
    return len(pcm) / 2 / rate


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    shared = os.environ.get("TYMPAN_SHARED", os.path.join(here, "..", "..", "shared"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", help="folder of WAV recordings (mono 16-bit PCM)")
    ap.add_argument("--data", default=os.path.join(shared, "data"), help="training data folder")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--stream-rate",
        type=int,
        choices=VAD_RATES,
        help="resample every recording to this rate before timing and stream it at that rate "
        "(the Vonage websocket of the seed sends 16000); decode is then not timed",
    )
    a = ap.parse_args(argv)

    files = sorted(
        os.path.join(a.dir, f) for f in os.listdir(a.dir) if f.lower().endswith(".wav")
    )
    if not files:
        raise SystemExit(f"{a.dir}: no .wav files found")
    rate, _ = read_wav(files[0])
    prepared = None
    if a.stream_rate:
        rate = a.stream_rate
        prepared = {}
        for p in files:
            r, pcm = read_wav(p)
            x = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            prepared[p] = (rate, to_pcm(librosa.resample(x, orig_sr=r, target_sr=rate)))
    model, train_info = train(a.data, rate, a.seed)

    def prep(p):
        return prepared[p] if prepared else None

    warm = {"clips": 0, "beep": 0, "speech": 0, "call_beep": False}
    run_call(files[0], model, warm, prep(files[0]))  # warm-up: numba JIT, caches

    totals = {"clips": 0, "beep": 0, "speech": 0}
    files_with_beep = 0
    audio_s = 0.0
    cpu_s = 0.0
    for p in files:
        counts = {"clips": 0, "beep": 0, "speech": 0, "call_beep": False}
        t0 = time.process_time()
        audio_s += run_call(p, model, counts, prep(p))
        cpu_s += time.process_time() - t0
        for k in totals:
            totals[k] += counts[k]
        files_with_beep += counts["call_beep"]

    print(
        json.dumps(
            {
                "pipeline": "seed (webrtcvad mode 3 -> clips -> mean 40 MFCC @22050 Hz -> GaussianNB)",
                "files": len(files),
                "audio_s": round(audio_s, 3),
                "cpu_s": round(cpu_s, 3),
                "audio_s_per_cpu_s": round(audio_s / cpu_s, 2) if cpu_s > 0 else 0.0,
                "clips": totals["clips"],
                "clips_beep": totals["beep"],
                "clips_speech": totals["speech"],
                "files_with_beep_clip": files_with_beep,
                "stream_rate": rate,
                "decode_timed": prepared is None,
                "train": train_info,
                "versions": {
                    "python": sys.version.split()[0],
                    "librosa": librosa.__version__,
                    "numpy": np.__version__,
                    "scikit-learn": sklearn.__version__,
                },
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
