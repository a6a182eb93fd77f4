"""Alert latency: from sending the chunk that holds matching media to the alert reaching a Watch client.

A real server gets one reference bank item (a photo of a cat) and one standing query (a spoken phrase,
speech only). A watcher opens a Watch call. Then a 12 s MPEG-TS is streamed `--runs` times, each under a
new stream id: a cup of coffee for 4 s, the cat for 3 s, an astronaut for 5 s, with the phrase spoken at
7.5 s. The file is cut into chunks of `--chunk-seconds` of media (0.5 s) at MPEG-TS packet boundaries, by
the packets' timestamps (ffprobe), and by default one chunk is sent every 0.5 s, as a live encoder would
produce them (`--pace fast`: all at once, as fast as gRPC takes them and the server acknowledges them).

For the first frame (reference) alert and the first speech (query) alert of each stream it records the
wall time from handing gRPC the chunk that holds the media at the alert's `start` (the video packet for a
frame, the audio packet for speech) to the alert's arrival at the watcher, and also from the chunk at the
alert's `end`: for speech, the server cannot know a passage has ended before it has the silence after it.

    .venv/bin/python bench/alert_latency.py --runs 10
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import cut, stream_once, summary  # noqa: E402
from scripts.sample_media import Utterance, photo_video, skimage_photo  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import AlertInfo, VigilClient  # noqa: E402

RESULTS = ROOT / "bench" / "results"
PHRASE = "The lighthouse keeper painted the door bright orange."
PHRASE_AT = 7.5
QUERY = "the lighthouse keeper painted the door"
# Low, because this measures latency, not recall: on a fresh store the speech statistics are shrunk towards
# their prior, and Whisper tiny.en hears "But I'll keep a painted the door right orange" (score about 2.4).
QUERY_THRESHOLD = 1.5
# (scikit-image photo, seconds shown); the bank holds the second one.
SLIDES = (("coffee", 4.0), ("chelsea", 3.0), ("astronaut", 5.0))
REFERENCE = "chelsea"
BANK = "bench"
SETTLE_S = 5.0  # after a stream's summary, how long to wait for its alerts


@dataclass(frozen=True)
class Latency:
    run: int
    stream_id: str
    kind: str  # "frame" (reference) or "speech" (query)
    start: float  # the alert's stream times
    end: float
    start_chunk: int
    end_chunk: int
    from_start_ms: float  # start chunk sent -> alert at the watcher
    from_end_ms: float  # end chunk sent -> alert at the watcher


class Watcher:
    """One Watch call in a thread, recording when each alert arrives."""

    def __init__(self, client: VigilClient):
        self.watch = client.watch()  # every alert: the server is ours alone
        self.arrived: list[tuple[float, AlertInfo]] = []
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for alert in self.watch:
            with self.lock:
                self.arrived.append((time.perf_counter(), alert))

    def first(self, stream_id: str, kind: str) -> tuple[float, AlertInfo] | None:
        with self.lock:
            return next(((t, a) for t, a in self.arrived if a.stream_id == stream_id and a.kind == kind), None)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=10, help="streams, one after another (%(default)s)")
    p.add_argument("--chunk-seconds", type=float, default=0.5, help="media per chunk (%(default)s)")
    p.add_argument("--pace", choices=("realtime", "fast"), default="realtime",
                   help="realtime: one chunk per --chunk-seconds; fast: as fast as gRPC takes them")  # fmt: skip
    p.add_argument(
        "--model-cache",
        type=Path,
        default=os.environ.get("VIGIL_TEST_MODEL_CACHE"),
        help="prepared model files (default: $VIGIL_TEST_MODEL_CACHE, else a temporary dir)",
    )
    p.add_argument("--server-arg", action="append", default=[], help="extra flag, e.g. --server-arg=--device=cuda")
    p.add_argument("--out", type=Path, default=RESULTS / "alert_latency.json")
    ns = p.parse_args(argv)
    pace = ns.chunk_seconds if ns.pace == "realtime" else None

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        from PIL import Image

        video = photo_video(work, [(skimage_photo(name), s) for name, s in SLIDES], [Utterance(PHRASE, PHRASE_AT)])
        chunks = cut(video, ns.chunk_seconds)
        photo = io.BytesIO()
        Image.fromarray(skimage_photo(REFERENCE)).save(photo, format="JPEG", quality=90)
        seconds = sum(s for _, s in SLIDES)
        size = video.stat().st_size
        print(f"media: {seconds:g} s, {size} bytes, {len(chunks.data)} chunks of about {ns.chunk_seconds:g} s")

        t = time.perf_counter()
        server = ServerProcess(work / "data", ns.model_cache or work / "model-cache", ns.server_arg).start()
        server.wait_serving()
        print(f"server {server.address} SERVING after {time.perf_counter() - t:.1f} s")
        latencies: list[Latency] = []
        missing = {"frame": 0, "speech": 0}
        try:
            with VigilClient(server.address) as client:
                item = client.add_bank_item(photo.getvalue(), bank=BANK, label=REFERENCE, archive_window=-1).item
                query = client.add_query(QUERY, modalities=["speech"], threshold=QUERY_THRESHOLD, label="lighthouse")
                watcher = Watcher(client)
                # Alerts are not replayed, so wait until the server has registered the watcher: at once when it
                # sends its response headers on registering; else 2 s, ample for a server on this machine.
                watcher.watch.wait_connected(2.0)
                for run in range(ns.runs):
                    stream_id = f"alert-{os.getpid()}-{run}"
                    sent = stream_once(client, chunks, stream_id, pace)
                    deadline = time.monotonic() + SETTLE_S
                    wanted = {"frame": "reference", "speech": "query"}
                    found: dict[str, tuple[float, AlertInfo] | None] = dict.fromkeys(wanted)
                    while time.monotonic() < deadline and not all(found.values()):
                        found = {kind: watcher.first(stream_id, alert_kind) for kind, alert_kind in wanted.items()}
                        time.sleep(0.05)
                    line = []
                    for kind, hit in found.items():
                        if hit is None:
                            missing[kind] += 1
                            line.append(f"{kind}: no alert")
                            continue
                        arrived, alert = hit
                        packets = "video" if kind == "frame" else "audio"
                        first, last = chunks.holding(packets, alert.start), chunks.holding(packets, alert.end)
                        lat = Latency(run, stream_id, kind, round(alert.start, 3), round(alert.end, 3), first, last,
                                      round((arrived - sent[first]) * 1000, 1),
                                      round((arrived - sent[last]) * 1000, 1))  # fmt: skip
                        latencies.append(lat)
                        line.append(f"{kind} {alert.start:.2f}-{alert.end:.2f} s: {lat.from_start_ms:.0f} ms "
                                    f"from its start chunk, {lat.from_end_ms:.0f} ms from its end chunk")  # fmt: skip
                    print(f"run {run + 1}: " + "; ".join(line))
                watcher.watch.cancel()
                print(f"(bank item {item.item_id}, standing query {query.query_id})")
        finally:
            server.stop()

    by_kind = {kind: [lat for lat in latencies if lat.kind == kind] for kind in ("frame", "speech")}
    stats = {
        kind: {
            "alerts": len(found),
            "missing": missing[kind],
            "from_start_ms": summary([lat.from_start_ms for lat in found]),
            "from_end_ms": summary([lat.from_end_ms for lat in found]),
        }
        for kind, found in by_kind.items()
    }
    result = {
        "benchmark": "alert_latency",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": ns.runs,
        "pace": ns.pace,
        "chunk_seconds": ns.chunk_seconds,
        "media_seconds": seconds,
        "server_args": ns.server_arg,
        "latency": stats,
        "alerts": [asdict(lat) for lat in latencies],
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n== alert latency, {ns.runs} streams of {seconds:g} s MPEG-TS, {ns.chunk_seconds:g} s chunks, {ns.pace} =="
    )
    for kind, label in (("frame", "frame (reference)"), ("speech", "speech (query)")):
        alerts = by_kind[kind]
        print(f"{label}: {len(alerts)} alerts, {missing[kind]} streams without one")
        for field, what in (("from_start_ms", "start"), ("from_end_ms", "end")):
            ms = summary([getattr(lat, field) for lat in alerts])
            numbers = ", ".join(f"{k} {v:.0f}" for k, v in ms.items()) or "none"
            print(f"  from the chunk at the alert's {what:5}  ms: {numbers}")
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
