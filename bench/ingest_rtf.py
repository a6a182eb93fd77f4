"""Ingest speed: stream a 60 s video with speech through a real server as fast as it accepts it.

Reports the real-time factor (media seconds / wall seconds; above 1 is faster than real time),
the tail (last chunk sent -> summary received), the segments indexed and the server's peak RSS.

    .venv/bin/python bench/ingest_rtf.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import peak_rss_mib  # noqa: E402
from scripts.sample_media import Utterance, pattern_video  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import VigilClient  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SENTENCES = (
    "The lighthouse keeper painted the door bright orange.",
    "A freight train crossed the bridge just after midnight.",
    "Please remember to water the tomatoes on the balcony.",
    "The orchestra tuned their instruments before the concert.",
    "Seven swans were swimming slowly across the frozen lake.",
    "The bakery on the corner sells fresh bread every morning.",
)


@dataclass(frozen=True)
class Run:
    stream_id: str
    media_seconds: float
    wall_seconds: float  # client side: Ingest call opened -> summary received
    server_wall_seconds: float  # as the summary reports it
    tail_seconds: float  # last chunk handed to gRPC -> summary received
    rtf: float  # media_seconds / wall_seconds
    frames_indexed: int
    speech_segments_indexed: int
    bytes_sent: int


def utterances(duration: float) -> list[Utterance]:
    """The sentences spread evenly over the media, the first a few seconds in."""
    step = duration / len(SENTENCES)
    return [Utterance(text, 2.0 + i * step) for i, text in enumerate(SENTENCES) if 2.0 + i * step < duration - 5]


def ingest_once(client: VigilClient, chunks: Sequence[bytes], stream_id: str) -> Run:
    last_sent = 0.0

    def timed() -> Iterator[bytes]:
        nonlocal last_sent
        yield from chunks
        last_sent = time.perf_counter()  # gRPC asked for the chunk after the last one

    began = time.perf_counter()
    summary = None
    for event in client.ingest(timed(), stream_id, "mpegts", pacing="upload"):
        if event.WhichOneof("event") == "summary":
            summary = event.summary
    done = time.perf_counter()
    if summary is None:
        raise RuntimeError(f"stream {stream_id} ended without a summary")
    wall = done - began
    return Run(
        stream_id=stream_id,
        media_seconds=summary.media_seconds,
        wall_seconds=round(wall, 3),
        server_wall_seconds=round(summary.wall_seconds, 3),
        tail_seconds=round(done - last_sent, 3),
        rtf=round(summary.media_seconds / wall, 2),
        frames_indexed=summary.frames_indexed,
        speech_segments_indexed=summary.speech_segments_indexed,
        bytes_sent=summary.bytes_received,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3, help="streams to ingest, one after another (%(default)s)")
    p.add_argument("--duration", type=float, default=60.0, help="media seconds (%(default)s)")
    p.add_argument("--chunk-kib", type=int, default=64, help="chunk size (%(default)s KiB)")
    p.add_argument(
        "--model-cache",
        type=Path,
        default=os.environ.get("VIGIL_TEST_MODEL_CACHE"),
        help="prepared model files (default: $VIGIL_TEST_MODEL_CACHE, else a temporary dir)",
    )
    p.add_argument("--server-arg", action="append", default=[], help="extra flag, e.g. --server-arg=--cpu-threads=2")
    p.add_argument("--out", type=Path, default=RESULTS / "ingest_rtf.json")
    ns = p.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        said = utterances(ns.duration)
        t = time.perf_counter()
        media = pattern_video(work, ns.duration, said, name="bench")
        mib = media.stat().st_size / 2**20
        print(f"media: {mib:.1f} MiB, {ns.duration:g} s, {len(said)} utterances ({time.perf_counter() - t:.1f} s)")
        data = media.read_bytes()
        size = ns.chunk_kib << 10
        chunks = [data[i : i + size] for i in range(0, len(data), size)]

        cache = ns.model_cache or work / "model-cache"
        t = time.perf_counter()
        server = ServerProcess(work / "data", cache, ns.server_arg).start().wait_serving()
        print(f"server {server.address} SERVING after {time.perf_counter() - t:.1f} s")
        try:
            rss_idle = peak_rss_mib(server.proc.pid)  # type: ignore[union-attr]
            runs = []
            with VigilClient(server.address) as client:
                for i in range(ns.runs):
                    run = ingest_once(client, chunks, f"bench-{os.getpid()}-{i}")
                    runs.append(run)
                    print(
                        f"run {i + 1}: {run.media_seconds:.1f} s media in {run.wall_seconds:.2f} s "
                        f"= {run.rtf:.2f}x real time, tail {run.tail_seconds:.2f} s, "
                        f"{run.frames_indexed} frames + {run.speech_segments_indexed} speech segments"
                    )
            rss_peak = peak_rss_mib(server.proc.pid)  # type: ignore[union-attr]
        finally:
            server.stop()

    result = {
        "benchmark": "ingest_rtf",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "media_seconds": ns.duration,
        "media_bytes": len(data),
        "chunk_bytes": size,
        "utterances": len(said),
        "runs": [asdict(r) for r in runs],
        "median": {
            "rtf": statistics.median(r.rtf for r in runs),
            "wall_seconds": statistics.median(r.wall_seconds for r in runs),
            "tail_seconds": statistics.median(r.tail_seconds for r in runs),
            "segments_indexed": statistics.median(r.frames_indexed + r.speech_segments_indexed for r in runs),
        },
        "server_rss_mib": {"after_model_load": round(rss_idle, 1), "peak": round(rss_peak, 1)},
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    m = result["median"]
    print(f"\n== ingest, median of {len(runs)} runs of {ns.duration:g} s MPEG-TS, {ns.chunk_kib} KiB chunks ==")
    print(f"real-time factor  {m['rtf']:.2f}x  (media s / wall s)")
    print(f"wall              {m['wall_seconds']:.2f} s")
    print(f"tail              {m['tail_seconds']:.2f} s  (last chunk sent -> summary)")
    print(f"segments indexed  {m['segments_indexed']:g}")
    print(f"server peak RSS   {rss_peak:.0f} MiB  ({rss_idle:.0f} MiB after model load)")
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
