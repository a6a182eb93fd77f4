"""Standing-query threshold: how well a calibrated score threshold separates a query's target speech from other speech.

Corpus: Debian's asterisk-core-sounds-en-wav prompts (real voice) with their transcripts, chosen as in
retrieval_eval.py (`read_transcripts`: 6+ words, file order), but skipping a prompt whose words overlap an
already chosen one's by more than --max-overlap (Jaccard of the word sets; the package holds many near
copies such as "the conference will begin when our glorious leader arrives" a, b and c, and a query firing on a
copy of its own sentence is not a false fire). `--max-overlap 1` keeps every prompt, as retrieval_eval does.

On a fresh server (temporary data dir, `--alert-window 0` so flood control holds nothing back):
1. the prompts are streamed once, 1.5 s apart, as stream `calibrate` (speech statistics for the calibrated score);
2. one standing query per prompt is added through AddStandingQuery: its transcript as text, speech only,
   threshold --low-threshold (0.5), so nearly every fire is observed;
3. the same audio is streamed again as stream `target`: standing queries only see segments stored after they
   were added. Alerts are collected from the Ingest call (IngestEvent.alert) and from a Watch call on the
   stream; both should hold the same alerts.

A speech segment belongs to a prompt when it overlaps [start - 0.25 s, end + 0.25 s] of the prompt in the
stream. For each threshold t:
- recall: the fraction of queries with an alert of score >= t on a segment of their own prompt;
- false fires: alerts of score >= t on a segment not of the query's prompt; reported in total, as queries with
  at least one, per query per hour of speech (the prompts' total length), and per (query, other segment) pair.

    .venv/bin/python bench/standing_query_eval.py [--prompts 40] [--max-overlap 0.5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.retrieval_eval import read_transcripts  # noqa: E402
from scripts.sample_media import audio_sequence, speech_seconds  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import AlertInfo, VigilClient, read_chunks  # noqa: E402

RESULTS = ROOT / "bench" / "results"
THRESHOLDS = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0)
GAP_S = 1.5  # silence between prompts (as retrieval_eval)
SLACK_S = 0.25  # a segment belongs to a prompt when it overlaps the prompt widened by this much
SETTLE_S = 3.0  # after the summary, how long the watcher waits for late alerts


@dataclass(frozen=True)
class Seg:
    segment_id: str
    start: float
    end: float
    text: str
    prompts: tuple[int, ...]  # indexes of the prompts it overlaps


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def jaccard(a: str, b: str) -> float:
    wa, wb = words(a), words(b)
    return len(wa & wb) / max(1, len(wa | wb))


def distinct_prompts(limit: int, max_overlap: float) -> list[tuple[Path, str]]:
    chosen: list[tuple[Path, str]] = []
    for wav, text in read_transcripts(10_000):
        if all(jaccard(text, other) <= max_overlap for _, other in chosen):
            chosen.append((wav, text))
        if len(chosen) == limit:
            break
    return chosen


def stream(client: VigilClient, path: Path, stream_id: str) -> tuple[list[dict[str, object]], list[AlertInfo], object]:
    """Ingest a WAV; its speech segments (as dicts), the alerts on the Ingest call, and the summary."""
    segments: list[dict[str, object]] = []
    alerts: list[AlertInfo] = []
    summary = None
    with open(path, "rb") as f:
        for event in client.ingest(read_chunks(f, 64 << 10), stream_id, "wav"):
            kind = event.WhichOneof("event")
            if kind == "segment" and event.segment.segment.text:
                s = event.segment.segment
                segments.append({"segment_id": s.segment_id, "start": s.start, "end": s.end, "text": s.text})
            elif kind == "alert":
                alerts.append(AlertInfo.from_proto(event.alert))
            elif kind == "summary":
                summary = event.summary
    return segments, alerts, summary


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)
    return {"min": v[0], "p10": v[len(v) // 10], "median": statistics.median(v), "max": v[-1]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=40, help="prompts, and so standing queries (%(default)s)")
    p.add_argument("--max-overlap", type=float, default=0.5,
                   help="skip a prompt whose word-set Jaccard with a chosen one exceeds this (1: keep all)")  # fmt: skip
    p.add_argument("--low-threshold", type=float, default=0.5, help="the queries' own threshold (%(default)s)")
    p.add_argument("--thresholds", type=lambda s: [float(x) for x in s.split(",")], default=list(THRESHOLDS),
                   help="comma-separated calibrated scores to report")  # fmt: skip
    p.add_argument("--model-cache", type=Path, default=os.environ.get("VIGIL_TEST_MODEL_CACHE"),
                   help="prepared model files (default: $VIGIL_TEST_MODEL_CACHE, else a temporary dir)")  # fmt: skip
    p.add_argument("--server-arg", action="append", default=[], help="extra vigil-server argument")
    p.add_argument("--out", type=Path, default=RESULTS / "standing_query_eval.json")
    ns = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-sq-eval-"))
    prompts = distinct_prompts(ns.prompts, ns.max_overlap)
    n = len(prompts)
    audio, starts = audio_sequence(work / "prompts.wav", [wav for wav, _ in prompts], gap=GAP_S)
    lengths = [speech_seconds(wav) for wav, _ in prompts]
    ends = [s + d for s, d in zip(starts, lengths, strict=True)]
    speech_hours = sum(lengths) / 3600
    print(f"{n} prompts, {sum(lengths):.1f} s of prompts in {speech_seconds(audio):.1f} s of audio")

    def prompts_of(start: float, end: float) -> tuple[int, ...]:
        return tuple(i for i in range(n) if start < ends[i] + SLACK_S and end > starts[i] - SLACK_S)

    t0 = time.perf_counter()
    server_args = ["--alert-window", "0", *ns.server_arg]
    server = ServerProcess(work / "data", ns.model_cache or work / "model-cache", server_args).start()
    server.wait_serving(600)
    print(f"server {server.address} SERVING after {time.perf_counter() - t0:.1f} s")
    watched: dict[str, AlertInfo] = {}
    try:
        with VigilClient(server.address, timeout=1800) as client:
            t = time.perf_counter()
            first, _, _ = stream(client, audio, "calibrate")
            print(f"calibration stream: {len(first)} speech segments in {time.perf_counter() - t:.1f} s")
            query_of: dict[str, int] = {}
            for i, (wav, text) in enumerate(prompts):
                q = client.add_query(text, modalities=["speech"], threshold=ns.low_threshold, label=wav.stem)
                query_of[q.query_id] = i
            watch = client.watch(stream_ids=["target"], query_ids=list(query_of))

            def collect() -> None:
                for alert in watch:
                    watched[alert.alert_id] = alert

            watcher = threading.Thread(target=collect, daemon=True)
            watcher.start()
            if not watch.wait_connected(10.0):
                print("warning: the Watch call was not confirmed; relying on the Ingest call's alerts", file=sys.stderr)
            t = time.perf_counter()
            raw_segments, ingest_alerts, _ = stream(client, audio, "target")
            print(f"target stream: {len(raw_segments)} speech segments, {len(ingest_alerts)} alerts on the Ingest "
                  f"call in {time.perf_counter() - t:.1f} s")  # fmt: skip
            time.sleep(SETTLE_S)
            watch.cancel()
            watcher.join(5)
    finally:
        server.stop()
    calibration = {}
    for path in (work / "data").glob("calibration-*.json"):
        calibration = json.loads(path.read_text())

    segments = {
        str(s["segment_id"]): Seg(str(s["segment_id"]), float(s["start"]), float(s["end"]), str(s["text"]),  # type: ignore[arg-type]
                                  prompts_of(float(s["start"]), float(s["end"])))  # type: ignore[arg-type]
        for s in raw_segments
    }  # fmt: skip
    by_id = {a.alert_id: a for a in ingest_alerts} | watched
    only_ingest = len({a.alert_id for a in ingest_alerts} - set(watched))
    only_watch = len(set(watched) - {a.alert_id for a in ingest_alerts})
    suppressed = sum(a.suppressed for a in by_id.values())
    # one score per (query, segment); with no flood control each pair fires at most once
    fires: dict[tuple[str, str], AlertInfo] = {}
    for a in by_id.values():
        if a.match_id in query_of and a.modality == "speech":
            key = (a.match_id, a.segment_id)
            if key not in fires or a.score > fires[key].score:
                fires[key] = a
    own_best = [float("-inf")] * n
    false: list[dict[str, object]] = []
    for (query_id, segment_id), a in fires.items():
        i = query_of[query_id]
        seg = segments.get(segment_id)
        covered = seg.prompts if seg is not None else prompts_of(a.start, a.end)
        if i in covered:
            own_best[i] = max(own_best[i], a.score)
        else:
            others = list(covered)
            false.append({
                "query": i, "query_text": prompts[i][1], "score": round(a.score, 3), "start": a.start, "end": a.end,
                "segment_text": a.text, "segment_prompts": others,
                "word_overlap": round(max((jaccard(prompts[i][1], prompts[j][1]) for j in others), default=0.0), 3),
            })  # fmt: skip
    own_segments = [sum(1 for s in segments.values() if i in s.prompts) for i in range(n)]
    other_pairs = sum(len(segments) - own_segments[i] for i in range(n))
    rows = []
    for thr in ns.thresholds:
        hits = sum(1 for s in own_best if s >= thr)
        f = [x for x in false if float(x["score"]) >= thr]  # type: ignore[arg-type]
        rows.append({
            "threshold": thr,
            "recall": hits / n,
            "own_fired": hits,
            "false_fires": len(f),
            "queries_with_false_fire": len({x["query"] for x in f}),
            "false_per_query_hour": len(f) / n / speech_hours,
            "false_per_pair": len(f) / max(1, other_pairs),
        })  # fmt: skip

    result = {
        "benchmark": "standing_query_eval",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(ns).items()},
        "queries": n,
        "prompt_seconds": round(sum(lengths), 2),
        "target_segments": len(segments),
        "segments_over_two_prompts": sum(1 for s in segments.values() if len(s.prompts) > 1),
        "segments_outside_prompts": sum(1 for s in segments.values() if not s.prompts),
        "prompts_without_segment": sum(1 for c in own_segments if c == 0),
        "other_pairs": other_pairs,
        "alerts": len(by_id),
        "alerts_only_on_ingest": only_ingest,
        "alerts_only_on_watch": only_watch,
        "suppressed": suppressed,
        "own_score": quantiles([s for s in own_best if s > float("-inf")]),
        "own_below_low_threshold": sum(1 for s in own_best if s == float("-inf")),
        "false_score": quantiles([float(x["score"]) for x in false]),  # type: ignore[arg-type]
        "calibration": calibration,
        "rows": rows,
        "false_fires": sorted(false, key=lambda x: -float(x["score"])),  # type: ignore[arg-type]
        "own": [{"query": i, "text": prompts[i][1], "prompt": prompts[i][0].stem, "best_own_score":
                 None if own_best[i] == float("-inf") else round(own_best[i], 3), "segments": own_segments[i]}
                for i in range(n)],  # fmt: skip
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n== standing queries: {n} prompts as queries, {len(segments)} speech segments, "
          f"{sum(lengths) / 60:.1f} min of prompts, {len(by_id)} alerts at score >= {ns.low_threshold:g} ==")  # fmt: skip
    print(f"alerts only on Ingest {only_ingest}, only on Watch {only_watch}, suppressed {suppressed}; segments over "
          f"two prompts {result['segments_over_two_prompts']}, outside prompts {result['segments_outside_prompts']}")  # fmt: skip
    own = result["own_score"]
    print("own-prompt best score: " + (", ".join(f"{k} {v:.2f}" for k, v in own.items()) or "none")  # type: ignore[union-attr]
          + f"; {result['own_below_low_threshold']} queries below {ns.low_threshold:g}")  # fmt: skip
    print(f"\n{'threshold':>9} {'recall':>7} {'false':>6} {'queries':>8} {'per q-hour':>10} {'per pair':>9}")
    for r in rows:
        print(f"{r['threshold']:9.1f} {r['recall']:7.3f} {r['false_fires']:6d} {r['queries_with_false_fire']:8d} "
              f"{r['false_per_query_hour']:10.2f} {r['false_per_pair']:9.5f}")  # fmt: skip
    print("\nhighest-scoring false fires:")
    for x in result["false_fires"][:12]:  # type: ignore[index]
        print(f"  {x['score']:5.2f}  query {x['query_text'][:60]!r}\n"  # type: ignore[index]
              f"         heard {x['segment_text'][:60]!r} (word overlap {x['word_overlap']})")  # type: ignore[index]
    summary_line = {k: result[k] for k in ("benchmark", "queries", "prompt_seconds", "target_segments", "alerts")}
    summary_line["rows"] = [{k: round(v, 5) if isinstance(v, float) else v for k, v in r.items()} for r in rows]
    print(json.dumps(summary_line))
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
