"""Concurrent live streams: how many paced streams of continuous speech one server keeps up with, and at what cost.

The clip: `--duration` (60) seconds of ffmpeg's testsrc2 at 640x360, 25 fps, H.264 + AAC in MPEG-TS, with
English speech that never pauses: espeak-ng sentences back to back (their voiced parts 0.1 s apart, found by
energy), from 0.5 s to the end. It is cut into chunks of 0.5 s of media at packet boundaries (ffprobe; see
bench/common.py `cut`) and each stream hands chunk k to gRPC k x 0.5 s after its first, as a live encoder
would. For each N of `--streams` (1,4,8,12,16,20) a fresh vigil-server (tests/server_process.py: a new data
directory, Milvus Lite, the server's default 1 frame per second) gets a 5 s warm-up stream, then N streams of the
clip at once (their starts spread over one chunk period, as independent encoders' would be). Per N:

- frame lag: for each frame, the wall time its SegmentIndexed event arrives minus the wall time the chunk
  holding its video packet was handed over. Drift per stream: the median lag of the last 5 frames indexed
  (`--edge` seconds' worth) minus that of the first 5 from 5 s on (the first 5 s also hold the stream's
  one-off start-up: ffprobe finding the streams, ffmpeg starting); frames, not seconds, so that it stays
  defined when the server drops frames. Reported: median and worst over streams.
- end lag: the last chunk handed over -> the IngestSummary, per stream.
- speech lag: every word of the source has a time: its sentence's voiced span (by energy, from the
  espeak-ng recording) split over the words in proportion to their letters (espeak-ng speaks at a nearly
  even rate per letter), and the word's time is its end, the moment it has been spoken. Its speech segment
  is the stream's speech segment whose [start, end] holds that time (0.25 s tolerance at the edges, for
  Whisper's and the VAD's rounding); its lag is that segment's SegmentIndexed arrival minus the wall time
  the chunk holding the word's end (its audio packet) was handed over. Words no segment holds are counted
  as missed. Median and worst over all words of all streams.
- drops: `IngestSummary.frames_dropped` and the last `IngestEvent.progress` when the server sends them;
  always frames indexed vs expected (one per second of media).
- cost: CPU seconds of the server and every process below it (ffmpeg, ffprobe; /proc utime + stime of
  each, with the children it waited for) from just before the streams to after the last summary, per
  media-second streamed (N x duration); and the server's peak RSS (VmHWM).
- verdict: "real time" when the worst stream's frame-lag drift is under `--max-drift` (2 s) and its end lag
  under `--max-end-lag` (5 s) and no frame was dropped or missing; "drops" when the lags pass but frames
  were dropped; else "behind".

Then the largest N kept at real time, and the overhead ratio per N: bench/bare_models.py (a child process,
the same checkout's models loaded as the server loads them) runs the models once on the same clip with
nothing around them (decode, frame encoder, PDQ, VAD, Whisper, text encoder, sound tagger, Chromaprint);
ratio = its CPU-seconds per media-second / the server's. 1.0 would mean the server adds nothing.

`--server-checkout DIR` runs the server and the bare models from another checkout (a git worktree of an
older commit): its server/, models/ and clients/python/ go first on their PYTHONPATH. Events the older
server lacks are reported as absent.

    .venv/bin/python bench/streams.py                                   # N = 1,4,8,12,16,20, 60 s clip
    .venv/bin/python bench/streams.py --streams 1,2 --duration 20       # a quick check
    .venv/bin/python bench/streams.py --server-checkout /work/baseline --out bench/results/before_streams.json
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from google.protobuf.json_format import MessageToDict

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Chunks, cut, machine, peak_rss_mib, stream_once, tree_cpu_seconds  # noqa: E402
from scripts.sample_media import Utterance, load_audio, pattern_video, speak  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil.v1 import vigil_pb2  # noqa: E402
from vigil_client import VigilClient, VigilError  # noqa: E402

RESULTS = ROOT / "bench" / "results"
RATE = 16_000
FIRST_VOICE_S = 0.5  # where the speech starts
GAP_S = 0.1  # between one sentence's voice and the next
EDGE_TOLERANCE_S = 0.25  # a word at most this far outside a segment still belongs to it
SENTENCES = (
    "The lighthouse keeper painted the door bright orange.",
    "A freight train crossed the bridge just after midnight.",
    "Please remember to water the tomatoes on the balcony.",
    "The orchestra tuned their instruments before the concert.",
    "Seven swans were swimming slowly across the frozen lake.",
    "The bakery on the corner sells fresh bread every morning.",
    "Our neighbour repaired the old bicycle with a borrowed wrench.",
    "The museum opens its new exhibition about ancient maps on Friday.",
    "Heavy rain flooded the parking lot behind the library.",
    "She packed two sandwiches and a thermos of tea for the hike.",
    "The pilot announced a short delay because of strong winds.",
    "Children were flying kites on the hill above the village.",
    "The committee will vote on the budget next Tuesday afternoon.",
    "A small grey cat slept on the warm windowsill all day.",
    "The fishermen returned to the harbour with an empty net.",
    "Turn left at the fountain and walk past the post office.",
    "The scientist recorded the temperature every hour through the night.",
    "Fresh snow covered the mountain road before the sun came up.",
    "The choir practised the new song until it sounded perfect.",
    "He forgot his umbrella on the bus and got soaked on the way home.",
    "The farmer sold apples, pears and honey at the weekly market.",
    "Engineers tested the bridge with heavy trucks before it opened.",
    "The old clock in the tower stopped at a quarter past three.",
    "A group of students planted oak trees along the river bank.",
)


@dataclass(frozen=True)
class Word:
    text: str
    start: float  # media seconds
    end: float


@dataclass
class Recorder:
    """Every event of one stream's Ingest call, with its arrival time (perf_counter seconds)."""

    segments: list[tuple[float, int, float, float]] = field(default_factory=list)  # arrival, modality, start, end
    summary: Any = None
    summary_at: float = 0.0
    progress: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    alerts: int = 0

    def on_event(self, arrived: float, event: Any) -> None:
        kind = event.WhichOneof("event")
        if kind == "segment":
            s = event.segment.segment
            self.segments.append((arrived, s.modality, s.start, s.end))
        elif kind == "summary":
            self.summary, self.summary_at = event.summary, arrived
        elif kind == "progress":  # StreamProgress, when the server sends it
            self.progress.append((arrived, MessageToDict(event.progress, preserving_proto_field_name=True)))
        elif kind == "alert":
            self.alerts += 1


# -- the clip's words -------------------------------------------------------------------------


def word_times(text: str, start: float, end: float) -> list[Word]:
    """The words of `text` spoken evenly per letter over [start, end): each word's span, in media seconds."""
    words = text.split()
    weights = [max(1, len(re.sub(r"[^\w']", "", w))) for w in words]
    total = sum(weights)
    out = []
    at = 0
    for word, weight in zip(words, weights, strict=True):
        a, at = at, at + weight
        out.append(Word(word, start + (end - start) * a / total, start + (end - start) * at / total))
    return out


def voiced_span(wav: Path) -> tuple[float, float]:
    """Where the voice starts and stops in an espeak-ng recording (first and last sample above 1 % of the peak)."""
    voice = load_audio(wav)
    loud = np.flatnonzero(np.abs(voice) > np.abs(voice).max() * 0.01)
    return loud[0] / RATE, (loud[-1] + 1) / RATE


def continuous_speech(work: Path, duration: float) -> tuple[list[Utterance], list[Word]]:
    """Sentences back to back from FIRST_VOICE_S until the next would run past the last 0.5 s of the clip."""
    utterances: list[Utterance] = []
    words: list[Word] = []
    at = FIRST_VOICE_S
    for i in range(10_000):
        text = SENTENCES[i % len(SENTENCES)]
        lead, tail = voiced_span(speak(text, work / f"sentence{i}.wav"))
        if at + tail - lead > duration - 0.5:
            break
        utterances.append(Utterance(text, max(0.0, at - lead)))
        words += word_times(text, at, at + tail - lead)
        at += tail - lead + GAP_S
    return utterances, words


# -- lags -------------------------------------------------------------------------------------


def frame_drift(lags: Sequence[tuple[float, float]], edge: float, frame_rate: float) -> tuple[float, float, float]:
    """(start lag, end lag, end - start) of one stream's (media time, lag) frames, in media order.

    Start: the median lag of the first `edge` seconds' worth of frames (edge x frame_rate) at or after `edge` s:
    the first `edge` seconds also hold the stream's start-up (ffprobe reading enough to find the streams,
    ffmpeg starting), a one-off delay, not drift. End: the same number of the last frames. Counting frames
    rather than seconds keeps both defined when the server drops frames; NaN when they would overlap."""
    count = max(1, round(edge * frame_rate))
    after = [i for i, (t, _) in enumerate(lags) if t >= edge]
    if len(after) < count or after[0] + count > len(lags) - count:
        return math.nan, math.nan, math.nan
    a = statistics.median(lag for _, lag in lags[after[0] : after[0] + count])
    b = statistics.median(lag for _, lag in lags[-count:])
    return a, b, b - a


def holding_segment(t: float, segments: Sequence[tuple[float, float, float]]) -> tuple[float, float, float] | None:
    """The (arrival, start, end) segment whose span holds media time t: one that holds it exactly, else the
    nearest within EDGE_TOLERANCE_S; the earliest arrival among equals."""
    best = None
    for seg in sorted(segments):
        _, start, end = seg
        distance = max(start - t, t - end, 0.0)
        if distance <= EDGE_TOLERANCE_S and (best is None or distance < best[0]):
            best = (distance, seg)
    return None if best is None else best[1]


def word_lags(
    words: Sequence[Word], speech: Sequence[tuple[float, float, float]], chunks: Chunks, sent: Sequence[float]
) -> list[float | None]:
    """Per word: its speech segment's arrival minus the hand-over of the chunk holding the word's end (s)."""
    out: list[float | None] = []
    for word in words:
        seg = holding_segment(word.end, speech)
        out.append(None if seg is None else seg[0] - sent[chunks.holding("audio", word.end)])
    return out


@dataclass(frozen=True)
class StreamResult:
    stream_id: str
    frames_indexed: int
    frames_expected: int
    frames_dropped: int | None  # IngestSummary.frames_dropped; None when the server does not report it
    speech_segments: int
    lag_start_s: float  # median lag of the first --edge seconds' worth of frames from --edge s on
    lag_end_s: float  # ... and of as many last frames
    drift_s: float
    end_lag_s: float  # last chunk handed over -> IngestSummary
    words: int
    words_missed: int
    last_progress: dict[str, Any] | None  # the last StreamProgress, when the server sends them
    progress_max_lag_s: dict[str, float]  # the largest frame_lag and speech_lag the StreamProgress events reported
    summary: dict[str, Any]  # the IngestSummary as it came
    frame_lags: list[tuple[float, float]]  # (media time, lag s)


def stream_result(
    stream_id: str, rec: Recorder, sent: Sequence[float], chunks: Chunks, words: Sequence[Word], duration: float,
    frame_rate: float, edge: float,
) -> tuple[StreamResult, list[float | None]]:  # fmt: skip
    frame, speech = vigil_pb2.MODALITY_FRAME, vigil_pb2.MODALITY_SPEECH
    lags = sorted((start, arrived - sent[chunks.holding("video", start)])
                  for arrived, modality, start, _ in rec.segments if modality == frame)  # fmt: skip
    spoken = [(arrived, start, end) for arrived, modality, start, end in rec.segments if modality == speech]
    per_word = word_lags(words, spoken, chunks, sent)
    first, last, drift = frame_drift(lags, edge, frame_rate)
    summary = rec.summary
    dropped = None
    # A server that counts drops sends StreamProgress too; an older one leaves the field at its default 0.
    knows = summary is not None and "frames_dropped" in summary.DESCRIPTOR.fields_by_name
    if knows and (rec.progress or summary.frames_dropped):
        dropped = int(summary.frames_dropped)
    result = StreamResult(
        stream_id=stream_id,
        frames_indexed=len(lags),
        frames_expected=math.ceil(duration * frame_rate - 1e-6),
        frames_dropped=dropped,
        speech_segments=len(spoken),
        lag_start_s=round(first, 3),
        lag_end_s=round(last, 3),
        drift_s=round(drift, 3),
        end_lag_s=round(rec.summary_at - sent[-1], 3) if summary is not None else math.nan,
        words=len(words),
        words_missed=sum(lag is None for lag in per_word),
        last_progress=rec.progress[-1][1] if rec.progress else None,
        progress_max_lag_s={
            key: max(float(p.get(key, 0.0)) for _, p in rec.progress)
            for key in ("frame_lag", "speech_lag")
            if rec.progress
        },
        summary=MessageToDict(summary, preserving_proto_field_name=True) if summary is not None else {},
        frame_lags=[(round(t, 2), round(lag, 3)) for t, lag in lags],
    )
    return result, per_word


# -- one N ------------------------------------------------------------------------------------


def run_streams(
    server: ServerProcess, chunks: Chunks, n: int, chunk_s: float, words: Sequence[Word], duration: float,
    frame_rate: float, edge: float, settle: float,
) -> dict[str, Any]:  # fmt: skip
    pid = server.proc.pid  # type: ignore[union-attr]
    with VigilClient(server.address) as client:  # warm-up: the first 5 s of the clip, as fast as it goes
        warm = Chunks(chunks.data[: round(5 / chunk_s)], chunks.starts, chunks.packets)
        stream_once(client, warm, f"warmup-{os.getpid()}-{n}", None)
    ids = [f"streams-{os.getpid()}-{n}-{i}" for i in range(n)]
    recorders = {sid: Recorder() for sid in ids}
    sent: dict[str, list[float]] = {}
    errors: dict[str, str] = {}

    def send(sid: str, delay: float) -> None:
        time.sleep(delay)
        try:
            with VigilClient(server.address) as client:
                sent[sid] = stream_once(client, chunks, sid, chunk_s, recorders[sid].on_event)
        except (VigilError, RuntimeError) as exc:  # reported per stream, the others go on
            errors[sid] = f"{type(exc).__name__}: {exc}"

    cpu0, bench0, wall0 = tree_cpu_seconds(pid), time.process_time(), time.perf_counter()
    threads = [threading.Thread(target=send, args=(sid, i * chunk_s / n), daemon=True) for i, sid in enumerate(ids)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + duration + settle  # a stream still open then counts as failed
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    cpu1, bench1, wall1 = tree_cpu_seconds(pid), time.process_time(), time.perf_counter()
    media_s = n * duration
    results, all_lags = [], []
    for sid in ids:
        if sid in sent and recorders[sid].summary is not None:
            result, lags = stream_result(sid, recorders[sid], sent[sid], chunks, words, duration, frame_rate, edge)
            results.append(result)
            all_lags += lags
        else:
            errors.setdefault(sid, "no summary")
    return {
        "streams": n,
        "errors": errors,
        "server_cpu_s": round(cpu1 - cpu0, 2),
        "server_cpu_s_per_media_s": round((cpu1 - cpu0) / media_s, 4),
        "bench_cpu_s": round(bench1 - bench0, 2),  # this process: pacing and event handling
        "wall_s": round(wall1 - wall0, 2),
        "server_peak_rss_mib": round(peak_rss_mib(pid), 1),
        "results": results,
        "word_lags_s": [None if lag is None else round(lag, 3) for lag in all_lags],
    }


def verdict(run: dict[str, Any], max_drift: float, max_end_lag: float) -> str:
    results: list[StreamResult] = run["results"]
    if run["errors"] or not results:
        return "failed"
    lags_ok = all(r.drift_s < max_drift and r.end_lag_s < max_end_lag for r in results)  # NaN fails
    lost = any((r.frames_dropped or 0) > 0 or r.frames_indexed < r.frames_expected for r in results)
    if not lags_ok:
        return "behind"
    return "drops" if lost else "real time"


def aggregate(run: dict[str, Any], bare: dict[str, Any] | None, max_drift: float, max_end_lag: float) -> dict[str, Any]:
    results: list[StreamResult] = run["results"]
    lags = [lag for lag in run["word_lags_s"] if lag is not None]

    def med_worst(values: list[float]) -> dict[str, float]:
        finite = [v for v in values if not math.isnan(v)]
        if len(finite) < len(values) or not finite:
            return {"median": math.nan, "worst": math.nan}
        return {"median": round(statistics.median(finite), 3), "worst": round(max(finite), 3)}

    dropped = [r.frames_dropped for r in results]
    server_rate = run["server_cpu_s_per_media_s"]
    return {
        "verdict": verdict(run, max_drift, max_end_lag),
        "drift_s": med_worst([r.drift_s for r in results]),
        "end_lag_s": med_worst([r.end_lag_s for r in results]),
        "speech_lag_s": med_worst(lags) if lags else {"median": math.nan, "worst": math.nan},
        "words": len(run["word_lags_s"]),
        "words_missed": sum(lag is None for lag in run["word_lags_s"]),
        "frames_indexed": sum(r.frames_indexed for r in results),
        "frames_expected": sum(r.frames_expected for r in results),
        "frames_dropped": None if any(d is None for d in dropped) else sum(d or 0 for d in dropped),
        # the largest lags the server itself reported in IngestSummary (absent from older servers)
        "server_max_lag_s": {
            key: max(float(r.summary[key]) for r in results)
            for key in ("max_frame_lag", "max_speech_lag")
            if all(key in r.summary for r in results)
        },
        "overhead_ratio": round(bare["cpu_s_per_media_s"] / server_rate, 3) if bare and server_rate > 0 else None,
    }


# -- main -------------------------------------------------------------------------------------


def checkout_env(checkout: Path | None) -> dict[str, str]:
    """The environment for a server (and bare models) from `checkout`; this one's when None."""
    env = dict(os.environ)
    if checkout is not None:
        paths = [str(checkout / d) for d in ("server", "models", "clients/python")]
        env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [env.get("PYTHONPATH")])])
    return env


def describe_checkout(checkout: Path) -> str:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True).stdout.strip()

    return f"{git('rev-parse', '--short', 'HEAD')}{' (modified)' if git('status', '--porcelain') else ''}"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--streams", default="1,4,8,12,16,20", help="concurrent stream counts, comma-separated")
    p.add_argument("--duration", type=float, default=60.0, help="media seconds per stream (%(default)s)")
    p.add_argument("--chunk-seconds", type=float, default=0.5, help="media per chunk (%(default)s)")
    p.add_argument("--edge", type=float, default=5.0, help="seconds at each end for the frame-lag drift")
    p.add_argument("--max-drift", type=float, default=2.0, help="real time: worst drift under this (s)")
    p.add_argument("--max-end-lag", type=float, default=5.0, help="real time: worst end lag under this (s)")
    p.add_argument("--server-checkout", type=Path, help="run the server and bare models from this checkout")
    p.add_argument("--start-timeout", type=float, default=600.0, help="seconds a server may take to load (%(default)s)")
    p.add_argument("--settle", type=float, default=600.0, help="seconds after the media for the last summary")
    p.add_argument("--no-bare", action="store_true", help="skip the bare-model run (no overhead ratio)")
    p.add_argument(
        "--model-cache",
        type=Path,
        default=os.environ.get("VIGIL_TEST_MODEL_CACHE"),
        help="prepared model files (default: $VIGIL_TEST_MODEL_CACHE, else a temporary dir)",
    )
    p.add_argument("--server-arg", action="append", default=[], help="extra flag, e.g. --server-arg=--cpu-threads=2")
    p.add_argument("--out", type=Path, default=RESULTS / "streams.json")
    ns = p.parse_args(argv)
    counts = [int(n) for n in ns.streams.split(",")]
    frame_rate = 1.0  # the server's default; streams do not ask for another
    checkout = ns.server_checkout.resolve() if ns.server_checkout else ROOT
    env = checkout_env(ns.server_checkout.resolve() if ns.server_checkout else None)

    with tempfile.TemporaryDirectory(prefix="vigil-bench-") as tmp:
        work = Path(tmp)
        cache = ns.model_cache or work / "model-cache"
        utterances, words = continuous_speech(work, ns.duration)
        clip = pattern_video(work, ns.duration, utterances, name="streams")
        chunks = cut(clip, ns.chunk_seconds)
        voiced = sum(w.end - w.start for w in words)
        print(f"clip: {ns.duration:g} s, {clip.stat().st_size / 2**20:.1f} MiB, {len(chunks.data)} chunks, "
              f"{len(utterances)} sentences, {len(words)} words, voice {voiced:.1f} s; "
              f"server from {checkout} ({describe_checkout(checkout)})")  # fmt: skip

        bare = None
        if not ns.no_bare:
            out = work / "bare.json"
            t = time.perf_counter()
            subprocess.run(
                [sys.executable, str(ROOT / "bench" / "bare_models.py"), str(clip), "--out", str(out),
                 f"--frame-rate={frame_rate}", f"--server-arg=--model-cache={cache}",
                 *(f"--server-arg={a}" for a in ns.server_arg)],
                check=True, env=env, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            bare = json.loads(out.read_text())
            stages = ", ".join(f"{k} {v['cpu_s']:.1f}" for k, v in bare["stages"].items())
            took = time.perf_counter() - t
            print(f"bare models: {bare['cpu_s']:.1f} CPU-s for {bare['media_seconds']:.1f} media-s "
                  f"= {bare['cpu_s_per_media_s']:.3f} per media-s ({stages}; {took:.0f} s)")  # fmt: skip

        runs = []
        for n in counts:
            t = time.perf_counter()
            os.environ["PYTHONPATH"] = env.get("PYTHONPATH", "")  # ServerProcess passes os.environ on
            server = ServerProcess(work / f"data-{n}", cache, ns.server_arg).start(ns.start_timeout)
            server.wait_serving(ns.start_timeout)
            print(f"N={n}: server SERVING after {time.perf_counter() - t:.1f} s")
            try:
                run = run_streams(server, chunks, n, ns.chunk_seconds, words, ns.duration, frame_rate, ns.edge,
                                  ns.settle)  # fmt: skip
            finally:
                server.stop()
            run["summary"] = aggregate(run, bare, ns.max_drift, ns.max_end_lag)
            runs.append(run)
            s = run["summary"]
            print(f"N={n}: {s['verdict']}; drift median {s['drift_s']['median']} s, worst {s['drift_s']['worst']} s; "
                  f"end lag worst {s['end_lag_s']['worst']} s; server {run['server_cpu_s_per_media_s']:.3f} "
                  f"CPU-s/media-s; errors {run['errors'] or 'none'}")  # fmt: skip

    kept = [run["streams"] for run in runs if run["summary"]["verdict"] == "real time"]
    result = {
        "benchmark": "streams",
        "machine": machine(),
        "checkout": {"path": str(checkout), "commit": describe_checkout(checkout)},
        "duration_s": ns.duration,
        "chunk_seconds": ns.chunk_seconds,
        "frame_rate": frame_rate,
        "server_args": ns.server_arg,
        "thresholds": {"max_drift_s": ns.max_drift, "max_end_lag_s": ns.max_end_lag, "edge_s": ns.edge},
        "largest_real_time_n": max(kept) if kept else 0,
        "bare_models": bare,
        "words": [asdict(w) for w in words],
        "runs": [{**run, "results": [asdict(r) for r in run["results"]]} for run in runs],
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(finite(result), indent=2) + "\n")
    print_table(result)
    print(f"wrote {ns.out}")
    return 0


def finite(value: Any) -> Any:
    """The value with every NaN (a measure that could not be taken) as None, for strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def print_table(result: dict[str, Any]) -> None:
    def f(v: Any, digits: int = 2) -> str:
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"

    load = result["machine"]["load_average"]
    print(f"\n== {result['duration_s']:g} s streams of continuous speech, {result['chunk_seconds']:g} s chunks at "
          f"the media rate; server {result['checkout']['commit']}, load {load} ==")  # fmt: skip
    head = ("N", "verdict", "drift med/worst s", "end lag med/worst s", "speech lag med/worst s (missed)",
            "frames idx/exp (dropped)", "CPU-s/media-s", "bare/server", "peak RSS MiB")  # fmt: skip
    print(" | ".join(head))
    for run in result["runs"]:
        s = run["summary"]
        dropped = "n/a" if s["frames_dropped"] is None else s["frames_dropped"]
        print(" | ".join((
            str(run["streams"]), s["verdict"],
            f"{f(s['drift_s']['median'])} / {f(s['drift_s']['worst'])}",
            f"{f(s['end_lag_s']['median'])} / {f(s['end_lag_s']['worst'])}",
            f"{f(s['speech_lag_s']['median'])} / {f(s['speech_lag_s']['worst'])} ({s['words_missed']}/{s['words']})",
            f"{s['frames_indexed']}/{s['frames_expected']} ({dropped})",
            f(run["server_cpu_s_per_media_s"], 3), f(s["overhead_ratio"], 3), f(run["server_peak_rss_mib"], 0),
        )))  # fmt: skip
    bare = result["bare_models"]
    if bare:
        print(f"bare models: {bare['cpu_s_per_media_s']:.3f} CPU-s per media-s")
    print(f"largest N kept at real time: {result['largest_real_time_n'] or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
