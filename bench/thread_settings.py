"""CPU cost of each model runtime by intra-op thread count, on fixed inputs, to choose vigil_models/threads.py.

For each thread count of --threads, in turn (--repeats rounds, median reported):
- whisper: the transcriber (CTranslate2, int8) on an espeak-ng sentence, CPU-s per audio-second;
- text: the text encoder (torch) on 32 sentences, CPU-ms per sentence;
- frame: the frame encoder as the server runs it (ONNX Runtime), 8 photos in batches of 4, CPU-ms per frame;
- preprocess: to_input (torch crop + resize) for those frames, CPU-ms per frame.
CPU time is this process's (time.process_time), so threads that spin waiting for work count; the wall
time of each is reported too. Other load on the machine inflates both: run it on an idle machine for
final numbers and state the load (printed).

    .venv/bin/python bench/thread_settings.py [--threads 1 2] [--repeats 5]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.sample_media import load_audio, skimage_photo, speak  # noqa: E402
from vigil_models.catalog import SPACES, SPEECH_MODELS, classifier_weights, speech_model_dir, text_model_dir  # noqa: E402
from vigil_models.efficientnet_lite import load_lite_for_inference  # noqa: E402
from vigil_models.image import to_input  # noqa: E402
from vigil_models.speech import Transcriber  # noqa: E402
from vigil_models.text import SentenceEncoder  # noqa: E402

CPU = torch.device("cpu")
SENTENCE = "The lighthouse keeper painted the door bright orange, and a freight train crossed the bridge at midnight."
PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera", "cat", "hubble_deep_field", "immunohistochemistry")


def timed(work: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """Median (CPU-s, wall-s) of `repeats` runs after one warm-up run."""
    work()
    cpu, wall = [], []
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        work()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "thread_settings.json")
    ns = p.parse_args()
    torch.set_num_interop_threads(1)
    work = Path(tempfile.mkdtemp(prefix="vigil-threads-"))
    audio = load_audio(speak(SENTENCE, work / "s.wav"))
    audio_s = audio.size / 16000
    spec = SPACES["label-minilm-lite0"]
    text = SentenceEncoder(text_model_dir(spec.text_model), CPU)
    sentences = [f"{SENTENCE} ({i})" for i in range(32)]
    photos = [skimage_photo(name) for name in PHOTOS]
    model_dir = speech_model_dir("tiny.en", work)
    speech = SPEECH_MODELS["tiny.en"]
    rows = []
    load = os.getloadavg()
    for n in ns.threads:
        torch.set_num_threads(n)
        transcriber = Transcriber(model_dir, CPU, speech.multilingual, cpu_threads=n)
        frame = load_lite_for_inference(
            spec.image_classifier, str(classifier_weights(spec.image_classifier)), CPU, n, work
        )
        inputs = [to_input(photos[i : i + 4], CPU, 224, 0.875) for i in range(0, len(photos), 4)]

        def frames(model: Any = frame, batches: list[torch.Tensor] = inputs) -> None:
            with torch.inference_mode():
                for x in batches:
                    model(x)

        results = {
            "whisper_cpu_s_per_audio_s": timed(functools.partial(transcriber.transcribe, audio), ns.repeats),
            "text_ms_per_sentence": timed(lambda: text.embed(sentences), ns.repeats),
            "frame_ms_per_frame": timed(frames, ns.repeats),
            "preprocess_ms_per_frame": timed(
                lambda: [to_input(photos[i : i + 4], CPU, 224, 0.875) for i in range(0, len(photos), 4)], ns.repeats
            ),
        }
        scale = {"whisper_cpu_s_per_audio_s": 1 / audio_s, "text_ms_per_sentence": 1000 / len(sentences),
                 "frame_ms_per_frame": 1000 / len(photos), "preprocess_ms_per_frame": 1000 / len(photos)}  # fmt: skip
        row: dict[str, Any] = {"threads": n}
        for name, (cpu, wall) in results.items():
            row[name] = {"cpu": round(cpu * scale[name], 4), "wall": round(wall * scale[name], 4)}
        rows.append(row)
        cells = [f"{k} cpu {v['cpu']} wall {v['wall']}" for k, v in row.items() if k != "threads"]
        print(f"threads={n}: " + "  ".join(cells), flush=True)
    print(f"load average at start {load}, at end {os.getloadavg()} ({os.cpu_count()} CPUs)")
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps({"load_start": load, "load_end": os.getloadavg(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
