"""Search latency: time text Search calls through the Python client against a real server.

A few short videos with speech are ingested first so the collection is not empty; --rows adds
synthetic rows (random unit vectors) through SegmentStore into the same data dir before the
server starts, to measure at a realistic collection size.

    .venv/bin/python bench/search_latency.py --rows 20000
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.sample_media import Utterance, pattern_video  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import VigilClient, read_chunks  # noqa: E402
from vigil_server.store import SegmentStore, StoreSettings, lite_uri  # noqa: E402
from vigil_server.types import Modality, Segment  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SPOKEN = (
    "The lighthouse keeper painted the door bright orange.",
    "A freight train crossed the bridge just after midnight.",
    "Please remember to water the tomatoes on the balcony.",
)
QUERIES = (
    "lighthouse keeper", "orange door", "freight train at midnight", "a bridge over the river",
    "water the tomatoes", "plants on a balcony", "a cat on a sofa", "a cup of coffee",
    "a rocket launch", "someone talking about trains", "a colourful test pattern", "a dog barking",
    "a person speaking", "the painted door", "vegetables in the garden", "a city street at night",
    "an orchestra playing", "a boat in the harbour", "a red car", "a television screen",
)  # fmt: skip
WORDS = ("alpha", "river", "market", "signal", "window", "harbour", "garden", "engine", "morning", "yellow")
INSERT_BATCH = 2000


def open_store(data_dir: Path) -> SegmentStore:
    """The collection the server will use, with a long timeout: the first load builds the index."""
    from vigil_models import DEFAULT_SPACE, SPACES

    spec = SPACES[DEFAULT_SPACE]
    return SegmentStore(StoreSettings(uri=lite_uri(data_dir), timeout_s=600.0), spec.name, spec.dim)


def insert_synthetic(data_dir: Path, rows: int, seed: int = 0) -> None:
    """Add `rows` random segments (a quarter of them speech with random words)."""
    rng = np.random.default_rng(seed)
    store = open_store(data_dir)
    dim = store.dim
    try:
        for first in range(0, rows, INSERT_BATCH):
            n = min(INSERT_BATCH, rows - first)
            vectors = rng.standard_normal((n, dim)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            batch = []
            for i, vector in enumerate(vectors):
                k = first + i
                speech = k % 4 == 0
                text = " ".join(rng.choice(WORDS, 6)) if speech else ""
                segment = Segment(
                    segment_id=uuid.uuid4().hex,
                    stream_id=f"synthetic-{k // 3600}",
                    modality=Modality.SPEECH if speech else Modality.FRAME,
                    start=float(k % 3600),
                    end=float(k % 3600 + 1),
                    text=text,
                    language="en" if speech else "",
                )
                batch.append((segment, vector.tolist()))
            store.insert(batch)
    finally:
        store.close()


def build_index(data_dir: Path) -> None:
    """Open the store once more in a fresh process: Milvus Lite builds and saves the index of the
    rows just inserted. The server's own first load would do it under its 10 s store timeout."""
    open_store(data_dir).close()


def in_child(target: Callable[..., None], *args: object) -> float:
    """Run target in a fresh process (Milvus Lite keeps a data dir locked until its process exits)."""
    began = time.perf_counter()
    child = multiprocessing.get_context("spawn").Process(target=target, args=args)
    child.start()
    child.join()
    if child.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed (exit code {child.exitcode})")
    return time.perf_counter() - began


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_ms[max(0, math.ceil(q / 100 * len(sorted_ms)) - 1)]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--queries", type=int, default=100, help="timed Search calls (%(default)s)")
    p.add_argument("--rows", type=int, default=0, help="synthetic rows inserted before start-up (%(default)s)")
    p.add_argument("--videos", type=int, default=3, help="10 s videos ingested first, 1-3 (%(default)s)")
    p.add_argument("--top-k", type=int, default=10, help="(%(default)s)")
    p.add_argument(
        "--model-cache",
        type=Path,
        default=os.environ.get("VIGIL_TEST_MODEL_CACHE"),
        help="prepared model files (default: $VIGIL_TEST_MODEL_CACHE, else a temporary dir)",
    )
    p.add_argument("--out", type=Path, default=None, help="(bench/results/search_latency[_<rows>].json)")
    ns = p.parse_args(argv)
    out = ns.out or RESULTS / (f"search_latency_{ns.rows}.json" if ns.rows else "search_latency.json")

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        videos = [
            pattern_video(work, 10.0, [Utterance(text, 3.0)], name=f"clip{i}")
            for i, text in enumerate(SPOKEN[: max(1, min(ns.videos, len(SPOKEN)))])
        ]
        insert_s = index_s = 0.0
        if ns.rows:
            insert_s = in_child(insert_synthetic, work / "data", ns.rows)
            index_s = in_child(build_index, work / "data")
            print(f"inserted {ns.rows} synthetic rows in {insert_s:.1f} s, index built in {index_s:.1f} s")
        server = ServerProcess(work / "data", ns.model_cache or work / "model-cache").start().wait_serving()
        try:
            with VigilClient(server.address) as client:
                ingested = 0
                for i, video in enumerate(videos):
                    with video.open("rb") as f:
                        for event in client.ingest(read_chunks(f, 64 << 10), f"clip-{i}", "mpegts", pacing="upload"):
                            if event.WhichOneof("event") == "summary":
                                ingested += event.summary.frames_indexed + event.summary.speech_segments_indexed
                first = client.search(SPOKEN[0], top_k=1)
                hit = first[0].segment if first else None
                print(f"ingested {len(videos)} videos, {ingested} segments; top hit for the first phrase: {hit}")
                for query in QUERIES[:5]:  # warm-up: first calls pay for connection set-up
                    client.search(query, top_k=ns.top_k)
                latencies = []
                for i in range(ns.queries):
                    query = QUERIES[i % len(QUERIES)] + ("" if i < len(QUERIES) else f" {WORDS[i % len(WORDS)]}")
                    t = time.perf_counter()
                    client.search(query, top_k=ns.top_k)
                    latencies.append((time.perf_counter() - t) * 1000)
        finally:
            server.stop()

    ms = sorted(latencies)
    stats = {
        "median": round(statistics.median(ms), 2),
        "p95": round(percentile(ms, 95), 2),
        "min": round(ms[0], 2),
        "max": round(ms[-1], 2),
        "mean": round(statistics.fmean(ms), 2),
    }
    result = {
        "benchmark": "search_latency",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "rows": ns.rows + ingested,
        "synthetic_rows": ns.rows,
        "ingested_segments": ingested,
        "insert_seconds": round(insert_s, 2),
        "index_seconds": round(index_s, 2),
        "queries": ns.queries,
        "top_k": ns.top_k,
        "latency_ms": stats,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n== search, {ns.queries} text queries, top_k {ns.top_k}, {result['rows']} rows (Milvus Lite) ==")
    print("latency ms: " + ", ".join(f"{k} {v:.1f}" for k, v in stats.items()))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
