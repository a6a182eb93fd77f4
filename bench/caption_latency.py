"""Caption latency: from a word being spoken to its first interim caption, and from the end of an utterance to
its final caption, with 1 and 4 concurrent streams sent at the media rate.

The media and its chunking are bench/alert_latency.py's: a 12 s MPEG-TS (three photos) with an espeak-ng
voice saying "The lighthouse keeper painted the door bright orange." at 7.5 s, cut into chunks of
`--chunk-seconds` (0.5 s) of media at packet boundaries and sent one chunk per 0.5 s. Before each stream
starts, a WatchCaptions call follows it (interims on), so the server transcribes interims as a caption
display would make it. For each round, `--streams` copies are sent under new stream ids, all at once (so all
of them finish the phrase at the same moment: the worst case for the one Whisper worker they share), or
`--stagger` seconds apart.

Latencies are wall times at the watcher, measured two ways:

- from the chunk: from gRPC taking the chunk that holds the audio at that moment (as alert_latency.py's
  "from the chunk at its end": what the server and transport add once the audio has reached them);
- live: from the moment the audio would have been captured, if each chunk was sent as soon as its media was
  (chunk k holds [0.5 k, 0.5 k + 0.5) s and leaves at 0.5 k + 0.5 s of the stream's clock): this adds the
  chunking delay, as a viewer of a live stream would see it (whisper_streaming's 3.3 s is measured this way).

Words: each word of the final caption, with its end time from the final's word timings; its latency is to the
first interim caption of the same caption id that shows it at its place (the final's word at the same
position). Words that no interim showed so are counted apart. Utterance end: where the voice stops in the
source (by energy, from the espeak-ng recording), to the final caption.

    .venv/bin/python bench/caption_latency.py                       # 1 and 4 streams, 5 rounds each
    .venv/bin/python bench/caption_latency.py --streams 1 --rounds 10
    .venv/bin/python bench/caption_latency.py --streams 4 --stagger 3    # streams that start 3 s apart
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.alert_latency import PHRASE, PHRASE_AT, SLIDES  # noqa: E402
from bench.common import Chunks, cut, stream_once, summary  # noqa: E402
from scripts.sample_media import Utterance, load_audio, photo_video, skimage_photo, speak  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import CaptionInfo, StreamState, VigilClient  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SETTLE_S = 20.0  # after a round's streams end, how long to wait for their watchers to see the end
TARGETS_MS = {"interim": 1000.0, "final_p95": 1500.0}  # first interim; final, p95 (the targets)


@dataclass
class Recorder:
    """One WatchCaptions call on a thread: each caption with its arrival time."""

    client: VigilClient
    stream_id: str
    arrived: list[tuple[float, CaptionInfo]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.watch = self.client.watch_captions(self.stream_id, replay=0)
        if not self.watch.wait_connected(30):
            raise RuntimeError(f"WatchCaptions for {self.stream_id} did not connect")
        self.ended = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        been_live = False
        for event in self.watch:
            now = time.perf_counter()
            if isinstance(event, StreamState):
                been_live = been_live or event.live
                if been_live and not event.live:
                    self.ended.set()
            elif isinstance(event, CaptionInfo) and event.kind == "speech":
                self.arrived.append((now, event))


@dataclass(frozen=True)
class WordLatency:
    streams: int
    stream_id: str
    word: str
    end: float  # stream seconds, from the final's word timings
    from_chunk_ms: float | None  # None: no interim showed it
    live_ms: float | None


@dataclass(frozen=True)
class FinalLatency:
    streams: int
    stream_id: str
    text: str
    utterance_end: float  # stream seconds, from the source
    from_chunk_ms: float
    live_ms: float
    interims: int  # interim captions of its id before it


def norm(text: str) -> list[str]:
    return ["".join(re.findall(r"[\w']+", w.lower())) for w in text.split()]


def spoken_at(chunks: Chunks, sent: list[float], chunk_s: float, t: float) -> tuple[float, float]:
    """Wall times for stream time t: its chunk handed to gRPC; and when a live capture would have had it."""
    return sent[chunks.holding("audio", t)], sent[0] - chunk_s + t


def measure(
    recorder: Recorder, chunks: Chunks, sent: list[float], chunk_s: float, utterance_end: float, streams: int
) -> tuple[list[WordLatency], list[FinalLatency]]:
    words: list[WordLatency] = []
    finals: list[FinalLatency] = []
    captions = list(recorder.arrived)
    for arrived, final in [(t, c) for t, c in captions if c.is_final]:
        interims = [(t, c) for t, c in captions if c.caption_id == final.caption_id and not c.is_final]
        final_words = norm(final.text)
        for i, word in enumerate(final.words[: len(final_words)]):
            shown = next((t for t, c in interims if norm(c.text)[i : i + 1] == final_words[i : i + 1]), None)
            chunk_at, live_at = spoken_at(chunks, sent, chunk_s, word.end)
            words.append(WordLatency(streams, recorder.stream_id, word.text, word.end,
                                     None if shown is None else round((shown - chunk_at) * 1000, 1),
                                     None if shown is None else round((shown - live_at) * 1000, 1)))  # fmt: skip
        if final.start <= utterance_end + 0.5 and final.end >= utterance_end - 1.0:  # the utterance's last final
            chunk_at, live_at = spoken_at(chunks, sent, chunk_s, utterance_end)
            finals.append(FinalLatency(streams, recorder.stream_id, final.text, utterance_end,
                                       round((arrived - chunk_at) * 1000, 1), round((arrived - live_at) * 1000, 1),
                                       len(interims)))  # fmt: skip
    return words, finals


def run_round(
    client: VigilClient,
    chunks: Chunks,
    streams: int,
    round_no: int,
    chunk_s: float,
    utterance_end: float,
    stagger_s: float,
) -> tuple[list[WordLatency], list[FinalLatency]]:
    ids = [f"captions-{os.getpid()}-{streams}-{round_no}-{i}" for i in range(streams)]
    recorders = [Recorder(client, stream_id) for stream_id in ids]
    sent: dict[str, list[float]] = {}

    def send(stream_id: str) -> None:
        sent[stream_id] = stream_once(client, chunks, stream_id, chunk_s)

    threads = [threading.Thread(target=send, args=(stream_id,)) for stream_id in ids]
    for i, thread in enumerate(threads):
        if i:
            time.sleep(stagger_s)
        thread.start()
    for thread in threads:
        thread.join()
    words: list[WordLatency] = []
    finals: list[FinalLatency] = []
    for recorder in recorders:
        recorder.ended.wait(SETTLE_S)
        recorder.watch.cancel()
        w, f = measure(recorder, chunks, sent[recorder.stream_id], chunk_s, utterance_end, streams)
        words += w
        finals += f
    return words, finals


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", type=int, action="append", help="concurrent streams (repeatable; default 1 and 4)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per stream count (%(default)s)")
    p.add_argument("--chunk-seconds", type=float, default=0.5, help="media per chunk (%(default)s)")
    p.add_argument("--stagger", type=float, default=0.0, help="seconds between the starts of a round's streams")
    p.add_argument(
        "--model-cache",
        type=Path,
        default=os.environ.get("VIGIL_TEST_MODEL_CACHE"),
        help="prepared model files (default: $VIGIL_TEST_MODEL_CACHE, else a temporary dir)",
    )
    p.add_argument(
        "--server-arg", action="append", default=[], help="extra flag, e.g. --server-arg=--interim-every=0.5"
    )
    p.add_argument("--out", type=Path, default=RESULTS / "caption_latency.json")
    ns = p.parse_args(argv)
    counts = ns.streams or [1, 4]

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        video = photo_video(work, [(skimage_photo(name), s) for name, s in SLIDES], [Utterance(PHRASE, PHRASE_AT)])
        chunks = cut(video, ns.chunk_seconds)
        voice = load_audio(speak(PHRASE, work / "phrase.wav"))
        loud = np.flatnonzero(np.abs(voice) > np.abs(voice).max() * 0.01)
        utterance_end = PHRASE_AT + (loud[-1] + 1) / 16000
        print(f"media: {sum(s for _, s in SLIDES):g} s, {len(chunks.data)} chunks; the phrase ends at "
              f"{utterance_end:.2f} s")  # fmt: skip
        t = time.perf_counter()
        server = ServerProcess(work / "data", ns.model_cache or work / "model-cache", ns.server_arg).start()
        server.wait_serving()
        print(f"server {server.address} SERVING after {time.perf_counter() - t:.1f} s")
        words: list[WordLatency] = []
        finals: list[FinalLatency] = []
        try:
            with VigilClient(server.address) as client:
                for streams in counts:
                    for round_no in range(ns.rounds):
                        w, f = run_round(client, chunks, streams, round_no, ns.chunk_seconds, utterance_end, ns.stagger)
                        words += w
                        finals += f
                        line = ", ".join(f"{x.from_chunk_ms:.0f}" for x in f)
                        shown = sum(x.from_chunk_ms is not None for x in w)
                        print(f"{streams} streams, round {round_no + 1}: finals {line} ms from the chunk; "
                              f"{shown}/{len(w)} words shown by an interim")  # fmt: skip
        finally:
            server.stop()

    table = {}
    for streams in counts:
        w = [x for x in words if x.streams == streams]
        f = [x for x in finals if x.streams == streams]
        table[streams] = {
            "finals": len(f),
            "final_from_chunk_ms": summary([x.from_chunk_ms for x in f]),
            "final_live_ms": summary([x.live_ms for x in f]),
            "words": len(w),
            "words_shown_by_an_interim": sum(x.from_chunk_ms is not None for x in w),
            "interim_from_chunk_ms": summary([x.from_chunk_ms for x in w if x.from_chunk_ms is not None]),
            "interim_live_ms": summary([x.live_ms for x in w if x.live_ms is not None]),
            "interims_per_final": round(sum(x.interims for x in f) / max(1, len(f)), 2),
        }
    result = {
        "benchmark": "caption_latency",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "rounds": ns.rounds,
        "chunk_seconds": ns.chunk_seconds,
        "stagger_seconds": ns.stagger,
        "server_args": ns.server_arg,
        "targets_ms": TARGETS_MS,
        "latency": table,
        "words": [asdict(x) for x in words],
        "finals": [asdict(x) for x in finals],
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")
    stagger = f"streams {ns.stagger:g} s apart" if ns.stagger else "streams started together"
    print(f"\n== caption latency, {ns.rounds} rounds, {ns.chunk_seconds:g} s chunks, media rate, {stagger}, ms ==")
    print("streams | first interim of a word: median / p95 (live) | final after the utterance: median / p95 (live)")
    for streams, row in table.items():
        i, il, f, fl = (row[k] for k in ("interim_from_chunk_ms", "interim_live_ms", "final_from_chunk_ms",
                                         "final_live_ms"))  # fmt: skip
        print(f"{streams:7} | {i.get('median', 0):.0f} / {i.get('p95', 0):.0f} ({il.get('median', 0):.0f} / "
              f"{il.get('p95', 0):.0f}) of {row['words_shown_by_an_interim']}/{row['words']} words | "
              f"{f.get('median', 0):.0f} / {f.get('p95', 0):.0f} ({fl.get('median', 0):.0f} / "
              f"{fl.get('p95', 0):.0f}) of {row['finals']} finals")  # fmt: skip
    print(f"targets: first interim < {TARGETS_MS['interim']:.0f} ms, final p95 < {TARGETS_MS['final_p95']:.0f} ms")
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
