"""Bare-model cost: the models the server runs, run once on one media file with nothing around them.

bench/streams.py runs this in a child process (with the PYTHONPATH of the checkout under test, so it
loads that checkout's models) to compare the server's CPU-seconds per media-second with the work its
models must do at least. The models load as vigil-server loads them (`vigil_server.app.load_model_set`
on the same server flags, or `vigil_models.load_models` on an older checkout), are warmed up on the
file, and then each stage runs once, timed by resource.getrusage (this process's threads and its
waited-for children):

  decode      one ffmpeg run: frames at --frame-rate per second (224x224 RGB for the encoder, and at
              the video's own size for PDQ) and the audio as 16 kHz mono float
  frames      the frame encoder (shared-space vector + copy descriptor), batches of --batch frames
  pdq         PDQ hashes of the full frames (with the letterbox-trimmed hash where the server makes one)
  vad         the speech detector once over the whole audio
  whisper     Whisper on each speech region, regions longer than the server's longest (its
              --speech-max-region, or its detector's default on an older checkout) cut into equal pieces
  text        the text encoder on all transcripts, one batch
  sound       the sound tagger once over the whole audio
  chromaprint one Chromaprint fingerprint of the whole audio

    .venv/bin/python bench/bare_models.py MEDIA.ts --out bare.json [--server-arg=--speech-model=base]
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

FRAME_SIZE = 224  # what the server's decoder scales frames to for the encoder (decode.FRAME_SIZE)
RATE = 16_000


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its children that were waited for."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def max_region(server_args: Sequence[str]) -> float:
    """The longest speech region the server transcribes at once, from its settings (--speech-max-region), or,
    on an older checkout without that setting, its speech detector's default."""
    from vigil_models.speech import VadSettings
    from vigil_server.settings import load_settings

    speech = getattr(load_settings(list(server_args)), "speech", None)
    return float(getattr(speech, "max_region_s", 0.0) or VadSettings().max_region_s)


def load(server_args: Sequence[str]) -> Any:
    """The model set, loaded as vigil-server loads it from these flags."""
    from vigil_server.settings import load_settings

    settings = load_settings(list(server_args))
    try:
        from vigil_server.app import load_model_set
    except ImportError:  # an older checkout: load_models on its flat settings
        import torch

        from vigil_models import load_models, pick_device

        m: Any = getattr(settings, "models", settings)
        device = pick_device(m.device)
        if device.type == "cpu" and m.cpu_threads:
            torch.set_num_threads(m.cpu_threads)
        return load_models(m.space, m.speech_model, device, m.model_cache, m.cpu_threads,
                           clip_model=m.clip_model, clap_model=m.clap_model)  # fmt: skip
    return load_model_set(settings)


def video_size(media: Path) -> tuple[int, int]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height",
         "-of", "json", str(media)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    stream = json.loads(out)["streams"][0]
    return int(stream["width"]), int(stream["height"])


def decode(media: Path, frame_rate: float, work: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(small frames [n, 224, 224, 3], full frames [n, h, w, 3], audio float32) from one ffmpeg run."""
    width, height = video_size(media)
    graph = (f"[0:v]fps=fps={frame_rate}:round=up,split=2[a][b];"
             f"[a]scale={FRAME_SIZE}:{FRAME_SIZE},format=rgb24[small];[b]format=rgb24[full]")  # fmt: skip
    small, full, audio = work / "small.rgb", work / "full.rgb", work / "audio.f32"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(media), "-filter_complex", graph,
         "-map", "[small]", "-f", "rawvideo", str(small), "-map", "[full]", "-f", "rawvideo", str(full),
         "-map", "0:a:0", "-ac", "1", "-ar", str(RATE), "-f", "f32le", str(audio)],
        check=True,
    )  # fmt: skip
    return (
        np.fromfile(small, dtype=np.uint8).reshape(-1, FRAME_SIZE, FRAME_SIZE, 3),
        np.fromfile(full, dtype=np.uint8).reshape(-1, height, width, 3),
        np.fromfile(audio, dtype=np.float32),
    )


def pieces(start: float, end: float, longest: float) -> list[tuple[float, float]]:
    """[start, end) cut into the fewest equal pieces no longer than `longest` seconds."""
    n = max(1, math.ceil((end - start) / longest - 1e-9))
    step = (end - start) / n
    return [(start + i * step, start + (i + 1) * step) for i in range(n)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("media", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--frame-rate", type=float, default=1.0, help="frames per second (%(default)s, the server's)")
    p.add_argument("--batch", type=int, default=8, help="frames per encoder call (%(default)s)")
    p.add_argument("--max-region", type=float, help="longest Whisper input, seconds (default: the server's)")
    p.add_argument("--server-arg", action="append", default=[], help="a vigil-server flag the models follow")
    ns = p.parse_args(argv)

    from vigil_models import hashing

    t = time.perf_counter()
    models = load(ns.server_arg)
    loaded_s = time.perf_counter() - t
    frame_hashes = getattr(hashing, "frame_hashes", None) or (lambda image: (hashing.pdq_hash(image),))
    transcribe_words = "words" in inspect.signature(models.transcriber.transcribe).parameters

    def transcribe(audio: np.ndarray) -> list[Any]:
        if transcribe_words:  # as the server's live speech asks (word timings for captions)
            return list(models.transcriber.transcribe(audio, "", words=True))
        return list(models.transcriber.transcribe(audio, ""))

    stages: dict[str, dict[str, float]] = {}

    def timed(name: str, work: Callable[[], Any]) -> Any:
        cpu, wall = cpu_seconds(), time.perf_counter()
        result = work()
        stages[name] = {"cpu_s": round(cpu_seconds() - cpu, 3), "wall_s": round(time.perf_counter() - wall, 3)}
        return result

    with tempfile.TemporaryDirectory(prefix="vigil-bare-") as tmp:
        small, full, audio = timed("decode", lambda: decode(ns.media, ns.frame_rate, Path(tmp)))
    media_s = audio.size / RATE

    # Warm-up, not timed: first calls allocate and pick kernels.
    models.image.embed_and_describe(list(small[: ns.batch]))
    frame_hashes(full[0])
    models.detector.find(audio[: 5 * RATE])
    transcribe(audio[: 3 * RATE])
    models.text.embed(["warm up the text encoder"])
    models.sound.tag(audio[: 10 * RATE])
    hashing.audio_fingerprint(audio[: 10 * RATE])

    def frames() -> int:
        for i in range(0, len(small), ns.batch):
            models.image.embed_and_describe(list(small[i : i + ns.batch]))
        return len(small)

    timed("frames", frames)
    timed("pdq", lambda: [frame_hashes(np.ascontiguousarray(f)) for f in full])
    regions = timed("vad", lambda: models.detector.find(audio))
    longest = ns.max_region or max_region(ns.server_arg)
    spans = [piece for r in regions for piece in pieces(r.start, r.end, longest)]
    transcripts = timed("whisper", lambda: [transcribe(audio[round(a * RATE) : round(b * RATE)]) for a, b in spans])
    texts = [piece.text for found in transcripts for piece in found if piece.text.strip()]
    timed("text", lambda: models.text.embed(texts) if texts else None)
    timed("sound", lambda: models.sound.tag(audio))
    timed("chromaprint", lambda: hashing.audio_fingerprint(audio))

    total = sum(s["cpu_s"] for s in stages.values())
    result = {
        "media": str(ns.media),
        "media_seconds": round(media_s, 3),
        "frames": len(small),
        "frame_size": list(full.shape[1:3]),
        "speech_regions": len(regions),
        "whisper_inputs": len(spans),
        "max_region_s": longest,
        "transcript_words": sum(len(t.split()) for t in texts),
        "words_timed": transcribe_words,
        "model_load_s": round(loaded_s, 1),
        "torch_threads": __import__("torch").get_num_threads(),
        "stages": stages,
        "cpu_s": round(total, 3),
        "cpu_s_per_media_s": round(total / media_s, 4),
    }
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("media_seconds", "cpu_s", "cpu_s_per_media_s")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
