"""Reference side of scripts/voiceid-bench-vs-resemblyzer.sh: resemblyzer's VoiceEncoder
(PyTorch, CPU, one thread) on the same files Tympan embedded, then the side-by-side report.

Usage: python voiceid_resemblyzer_ref.py OURS.jsonl [--json]

OURS.jsonl holds one JSON object per file from the `embed-files` example:
  {"file", "seconds", "same": [...], "full": [...], "cpu_s_full": float}
"same" is Tympan's embedding of the volume-normalised, untrimmed waveform; "full" the whole
pipeline (our VAD trims silences). Here the reference computes
  same: encoder.embed_utterance(normalize_volume(wav, -30, increase_only=True))
  full: encoder.embed_utterance(preprocess_wav(wav, sr))   (webrtcvad trims)
and its CPU time for the full pipeline (preprocess + embed).
"""
import json
import sys
import time

import numpy as np
import torch

torch.set_num_threads(1)
torch.set_num_interop_threads(1)

import librosa  # noqa: E402
from resemblyzer import VoiceEncoder, normalize_volume, preprocess_wav  # noqa: E402
from resemblyzer.hparams import audio_norm_target_dBFS  # noqa: E402


def cos_dist(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return 1.0 - float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    path = sys.argv[1]
    as_json = "--json" in sys.argv[2:]
    ours = [json.loads(line) for line in open(path) if line.strip()]
    enc = VoiceEncoder(device="cpu", verbose=False)
    # Warm-up (not timed).
    wav0, sr0 = librosa.load(ours[0]["file"], sr=None)
    enc.embed_utterance(preprocess_wav(wav0, sr0))
    rows = []
    total_audio = 0.0
    total_cpu = 0.0
    for o in ours:
        wav, sr = librosa.load(o["file"], sr=None)
        same = enc.embed_utterance(normalize_volume(wav, audio_norm_target_dBFS, increase_only=True))
        t0 = time.process_time()
        full = enc.embed_utterance(preprocess_wav(wav, sr))
        cpu = time.process_time() - t0
        total_audio += len(wav) / sr
        total_cpu += cpu
        rows.append(
            {
                "file": o["file"],
                "seconds": len(wav) / sr,
                "dist_same_input": cos_dist(same, o["same"]),
                "dist_full_pipeline": cos_dist(full, o["full"]),
                "cpu_s_ref": cpu,
                "cpu_s_ours": o["cpu_s_full"],
            }
        )
    ours_cpu = sum(r["cpu_s_ours"] for r in rows)
    d_same = [r["dist_same_input"] for r in rows]
    d_full = [r["dist_full_pipeline"] for r in rows]
    summary = {
        "files": len(rows),
        "audio_s": total_audio,
        "torch": torch.__version__,
        "librosa": librosa.__version__,
        "same_input_cosine_distance": {"max": max(d_same), "mean": float(np.mean(d_same))},
        "full_pipeline_cosine_distance": {"max": max(d_full), "mean": float(np.mean(d_full))},
        "reference_rtf": total_cpu / total_audio,
        "ours_rtf": ours_cpu / total_audio,
        "speedup": total_cpu / ours_cpu if ours_cpu > 0 else None,
        "target_same_input_max": 1e-4,
        "target_speedup": 3.0,
    }
    if as_json:
        print(json.dumps({"summary": summary, "files": rows}, indent=2))
        return
    print(f"{'file':48} {'sec':>6} {'dist same input':>16} {'dist full':>10} {'ref ms':>8} {'ours ms':>8}")
    for r in rows:
        name = r["file"].split("/")[-1]
        print(
            f"{name:48} {r['seconds']:6.2f} {r['dist_same_input']:16.2e} "
            f"{r['dist_full_pipeline']:10.2e} {1000 * r['cpu_s_ref']:8.1f} {1000 * r['cpu_s_ours']:8.1f}"
        )
    s = summary
    print()
    print(f"files: {s['files']}, audio: {s['audio_s']:.1f} s (torch {s['torch']}, librosa {s['librosa']})")
    print(
        f"same input:    cosine distance max {s['same_input_cosine_distance']['max']:.2e}, "
        f"mean {s['same_input_cosine_distance']['mean']:.2e} (target <= 1e-4)"
    )
    print(
        f"full pipeline: cosine distance max {s['full_pipeline_cosine_distance']['max']:.2e}, "
        f"mean {s['full_pipeline_cosine_distance']['mean']:.2e} (our VAD vs webrtcvad trimming)"
    )
    print(
        f"one core, full pipeline: reference RTF {s['reference_rtf']:.4f}, ours {s['ours_rtf']:.4f}, "
        f"speed-up {s['speedup']:.2f}x (target >= 3x)"
    )


if __name__ == "__main__":
    main()
