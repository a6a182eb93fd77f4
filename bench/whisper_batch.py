"""Whisper batched across regions: N speech regions transcribed one by one vs as one batch.

The regions are espeak-ng sentences of 1.5-6 s (the lengths live speech cuts, `--speech-max-region`
6 s), with word timings as final captions ask for them. For each N, the N regions are transcribed
one after another with `Transcriber.transcribe` (the path before batching) and as one
`Transcriber.transcribe_many` call (what the ASR worker does with the regions waiting together),
`--rounds` times each; the medians of the process's CPU seconds (all threads) and of wall time are
reported, with the batched transcripts checked against the one-by-one ones (JSON in
bench/results/whisper_batch.json).

    .venv/bin/python bench/whisper_batch.py                      # tiny.en, N = 1 2 4 8, 3 rounds
    .venv/bin/python bench/whisper_batch.py --model base --sizes 1 4 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.sample_media import load_audio
from vigil_models import SAMPLE_RATE, SpeechRequest, Transcriber, pick_device
from vigil_models.catalog import speech_model_dir

SENTENCES = [
    "The lighthouse keeper painted the door bright orange.",
    "Seven green bottles stood on the kitchen table.",
    "Please remember to lock the back gate before you leave tonight.",
    "The train to the airport leaves from platform four every twenty minutes, except on Sundays.",
    "Good morning.",
    "Our guest today is a scientist who studies how bees find their way home across the fields.",
    "Turn left at the bakery and the museum is on your right.",
    "The weather will stay dry and sunny with a light breeze.",
]


def measure(fn: object) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()  # type: ignore[operator]
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny.en", choices=["tiny.en", "base"])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cpu-threads", type=int, default=0, help="CTranslate2 threads (0: the server's default)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        audios = []
        for i, text in enumerate(SENTENCES):
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), text], check=True)
            audios.append(load_audio(wav))
        model_dir = speech_model_dir(args.model, Path(tmp) / "cache")
        model = Transcriber(model_dir, pick_device(), args.model == "base", cpu_threads=args.cpu_threads)
        model.transcribe(audios[0], "", True)  # warm up
        rows = []
        for n in args.sizes:
            batch = [audios[i % len(audios)] for i in range(n)]
            requests = [SpeechRequest(a, "", words=True) for a in batch]
            alone: list[tuple[float, float]] = []
            together: list[tuple[float, float]] = []
            same = True
            for _ in range(args.rounds):
                out: list[object] = []
                alone.append(measure(lambda: out.extend(model.transcribe(a, "", True) for a in batch)))  # noqa: B023
                got: list[object] = []
                together.append(measure(lambda: got.extend(model.transcribe_many(requests))))  # noqa: B023
                same = same and [[p.text for p in r] for r in out] == [[p.text for p in r] for r in got]  # type: ignore[attr-defined]
            row = {
                "regions": n,
                "audio_s": round(sum(a.size for a in batch) / SAMPLE_RATE, 1),
                "one_by_one_cpu_s": round(statistics.median(c for c, _ in alone), 2),
                "batched_cpu_s": round(statistics.median(c for c, _ in together), 2),
                "one_by_one_wall_s": round(statistics.median(w for _, w in alone), 2),
                "batched_wall_s": round(statistics.median(w for _, w in together), 2),
                "same_text": same,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    load = os.getloadavg()
    note = f"{args.model}, {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    print(f"# {note}")
    results = Path(__file__).resolve().parent / "results" / "whisper_batch.json"
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps({"machine": note, "rows": rows}, indent=2) + "\n")
    print(f"# written to {results}")


if __name__ == "__main__":
    main()
