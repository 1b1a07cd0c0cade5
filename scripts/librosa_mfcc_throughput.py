#!/usr/bin/env python3
"""librosa MFCC throughput: audio-seconds per CPU-second of librosa.feature.mfcc(n_mfcc=40).

Loads every file first (librosa.load, native rate, mono float32), warms librosa up, then
times only the feature computation with time.process_time(), repeating passes until at least
two CPU seconds are measured. Run with OMP/OPENBLAS/MKL_NUM_THREADS=1 for a single thread.
"""
import sys
import time

import librosa


def main(paths):
    if not paths:
        print("usage: librosa_mfcc_throughput.py FILE.wav [...]", file=sys.stderr)
        return 2
    clips = [librosa.load(p, sr=None, mono=True) for p in paths]
    audio_s = sum(len(y) / sr for y, sr in clips)
    for y, sr in clips[:10]:  # warm-up: imports, numba/scipy caches, FFT plans
        librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
    passes = 0
    t0 = time.process_time()
    while True:
        for y, sr in clips:
            librosa.feature.mfcc(y=y, sr=sr, n_mfcc=40)
        passes += 1
        spent = time.process_time() - t0
        if spent >= 2.0 and passes >= 1:
            break
    print(f"files {len(clips)} audio {audio_s:.2f} s passes {passes} process CPU time {spent:.3f} s")
    print(f"THROUGHPUT {audio_s * passes / spent:.1f} audio-seconds per CPU-second (librosa {librosa.__version__} mfcc n_mfcc=40)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
