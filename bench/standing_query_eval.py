"""Standing-query threshold: how well a calibrated score threshold separates a query's target speech from other speech.

Corpus: Debian's asterisk-core-sounds-en-wav prompts (real voice) with their transcripts, chosen as in
retrieval_eval.py (`read_transcripts`: 6+ words, file order), but skipping a prompt whose words overlap an
already chosen one's by more than --max-overlap (Jaccard of the word sets; the package holds many near
copies such as "the conference will begin when our glorious leader arrives" a, b and c, and a query firing on a
copy of its own sentence is not a false fire). `--max-overlap 1` keeps every prompt, as retrieval_eval does.

On a fresh server (temporary data dir, `--alert-window 0` so flood control holds nothing back):
1. the prompts are streamed once, 1.5 s apart, as stream `calibrate` (speech statistics for the calibrated score);
2. standing queries are added through AddStandingQuery, speech only, threshold --low-threshold (0.5) so nearly
   every fire is observed; two per prompt, one of each form:
   - `transcript`: the prompt's whole transcript, as the speech says it;
   - `excerpt`: --excerpt-words (4) consecutive words of it, the run with the rarest words among the chosen
     transcripts (highest summed inverse document frequency): a key phrase, as a moderator would type one;
3. the same audio is streamed again as stream `target`: standing queries only see segments stored after they
   were added;
4. off-topic speech is streamed as `offtopic`: espeak-ng saying "Here is <caption>." for the first --offtopic (40)
   photo captions of bench/photos (animals, objects, landmarks), 1.5 s apart.
Alerts are collected from the Ingest calls (IngestEvent.alert) and from a Watch call on both streams; both
should hold the same alerts.

A speech segment belongs to a prompt when it overlaps [start - 0.25 s, end + 0.25 s] of the prompt in the
stream. For each threshold t:
- recall: the fraction of queries (of one form) with an alert of score >= t on a segment of their own prompt;
- false fires: alerts of score >= t on a segment not of the query's prompt (nor of another prompt that says the
  query's words in order, e.g. the excerpt "to lock or unlock" in a menu prompt); reported in total, as queries with
  at least one, per query per hour of speech (the prompts' total length), and per (query, other segment) pair;
  "unrelated" counts those whose query and heard prompt share little wording (word-set Jaccard < 0.2), as opposed
  to template siblings such as "please enter your password followed by the pound key" and "please enter a new
  extension, followed by pound";
- off-topic fires: alerts of score >= t on the `offtopic` stream, in total and per query per hour of it.
All prompts are telephony and conference-bridge messages, so the target stream's other speech is on the same
topic as every query; the off-topic stream is speech on other topics.

    .venv/bin/python bench/standing_query_eval.py [--prompts 40] [--max-overlap 0.5] [--excerpt-words 4]
"""

from __future__ import annotations

import argparse
import json
import math
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

from bench.photos.dataset import read_labels  # noqa: E402
from bench.retrieval_eval import read_transcripts  # noqa: E402
from scripts.sample_media import audio_sequence, speak, speech_seconds  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil.v1 import vigil_pb2  # noqa: E402
from vigil_client import AlertInfo, VigilClient, read_chunks  # noqa: E402

RESULTS = ROOT / "bench" / "results"
THRESHOLDS = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 7.0, 8.0)
FORMS = ("transcript", "excerpt")
GAP_S = 1.5  # silence between prompts (as retrieval_eval)
SLACK_S = 0.25  # a segment belongs to a prompt when it overlaps the prompt widened by this much
SETTLE_S = 3.0  # after the summary, how long the watcher waits for late alerts
RELATED = 0.2  # word-set Jaccard from which a false fire's query and heard prompt count as similarly worded


@dataclass(frozen=True)
class Seg:
    segment_id: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class FalseFire:
    query: int  # the prompt the query was made from
    query_text: str
    score: float
    start: float
    end: float
    heard: str  # the segment's transcript
    heard_prompts: tuple[int, ...]  # the prompts the segment overlaps (none: speech outside every prompt)
    word_overlap: float  # the highest word-set Jaccard between the query's prompt and those prompts' transcripts


@dataclass(frozen=True)
class Row:
    threshold: float
    recall: float
    own_fired: int
    false_fires: int
    unrelated_false_fires: int
    queries_with_false_fire: int
    false_per_query_hour: float
    false_per_pair: float
    offtopic_fires: int
    offtopic_per_query_hour: float


def tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def says(transcript: str, phrase: str) -> bool:
    """Whether the transcript holds the phrase's words, in order and consecutive."""
    return f" {' '.join(tokens(phrase))} " in f" {' '.join(tokens(transcript))} "


def jaccard(a: str, b: str) -> float:
    wa, wb = set(tokens(a)), set(tokens(b))
    return len(wa & wb) / max(1, len(wa | wb))


def distinct_prompts(limit: int, max_overlap: float) -> list[tuple[Path, str]]:
    chosen: list[tuple[Path, str]] = []
    for wav, text in read_transcripts(10_000):
        if all(jaccard(text, other) <= max_overlap for _, other in chosen):
            chosen.append((wav, text))
        if len(chosen) == limit:
            break
    return chosen


def excerpts(texts: list[str], k: int) -> list[str]:
    """For each text, its run of k words with the highest summed IDF over `texts` (the earliest such run)."""
    docs = [tokens(t) for t in texts]
    df: dict[str, int] = {}
    for doc in docs:
        for w in set(doc):
            df[w] = df.get(w, 0) + 1
    idf = {w: math.log(len(docs) / c) for w, c in df.items()}
    out = []
    for doc in docs:
        runs = [doc[i : i + k] for i in range(max(1, len(doc) - k + 1))]
        out.append(" ".join(max(runs, key=lambda run: sum(idf[w] for w in run))))
    return out


def stream(client: VigilClient, path: Path, stream_id: str) -> tuple[list[Seg], list[AlertInfo]]:
    """Ingest a WAV; its speech segments and the alerts sent on the Ingest call."""
    segments: list[Seg] = []
    alerts: list[AlertInfo] = []
    with open(path, "rb") as f:
        for event in client.ingest(read_chunks(f, 64 << 10), stream_id, "wav", pacing="upload"):
            kind = event.WhichOneof("event")
            if kind == "segment" and event.segment.segment.modality == vigil_pb2.MODALITY_SPEECH:
                s = event.segment.segment
                segments.append(Seg(s.segment_id, s.start, s.end, s.text))
            elif kind == "alert":
                alerts.append(AlertInfo.from_proto(event.alert))
    return segments, alerts


def quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    v = sorted(values)
    return {"min": v[0], "p10": v[len(v) // 10], "median": statistics.median(v), "max": v[-1]}


@dataclass
class FormResult:
    own_best: list[float | None]  # per prompt: its query's best score on its own prompt's segments
    false: list[FalseFire]  # highest score first
    said_elsewhere: int  # fires on another prompt that says the query's words too (neither right nor false)
    offtopic: list[AlertInfo]  # fires on the off-topic stream, highest score first
    rows: list[Row]


def evaluate(
    fires: dict[tuple[int, str], AlertInfo],  # (prompt, segment id) -> the alert
    queries: list[str],
    transcripts: list[str],
    covers: dict[str, tuple[int, ...]],  # segment id -> the prompts it overlaps
    offtopic: list[AlertInfo],  # this form's alerts on the off-topic stream
    thresholds: list[float],
    speech_hours: float,
    offtopic_hours: float,
) -> FormResult:
    n = len(queries)
    own_best: list[float | None] = [None] * n
    false: list[FalseFire] = []
    said_elsewhere = 0
    for (i, segment_id), a in fires.items():
        covered = covers.get(segment_id, ())
        if i in covered:
            best = own_best[i]
            own_best[i] = a.score if best is None else max(best, a.score)
        elif any(says(transcripts[j], queries[i]) for j in covered):
            said_elsewhere += 1
        else:
            overlap = max((jaccard(transcripts[i], transcripts[j]) for j in covered), default=0.0)
            false.append(FalseFire(i, queries[i], a.score, a.start, a.end, a.text, covered, overlap))
    false.sort(key=lambda x: -x.score)
    offtopic = sorted(offtopic, key=lambda a: -a.score)
    other_pairs = sum(sum(1 for c in covers.values() if i not in c) for i in range(n))
    rows = []
    for thr in thresholds:
        hits = sum(1 for s in own_best if s is not None and s >= thr)
        over = [x for x in false if x.score >= thr]
        unrelated = sum(1 for x in over if x.word_overlap < RELATED)
        per_hour, per_pair = len(over) / n / speech_hours, len(over) / max(1, other_pairs)
        off = sum(1 for a in offtopic if a.score >= thr)
        rows.append(Row(thr, hits / n, hits, len(over), unrelated, len({x.query for x in over}), per_hour, per_pair,
                        off, off / n / offtopic_hours))  # fmt: skip
    return FormResult(own_best, false, said_elsewhere, offtopic, rows)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=40, help="prompts, and so queries of each form (%(default)s)")
    p.add_argument("--max-overlap", type=float, default=0.5,
                   help="skip a prompt over this word-set Jaccard with a chosen one (1: keep all)")  # fmt: skip
    p.add_argument("--excerpt-words", type=int, default=4, help="words in an excerpt query (%(default)s)")
    p.add_argument("--offtopic", type=int, default=40, help="off-topic sentences (%(default)s)")
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
    transcripts = [text for _, text in prompts]
    queries = {"transcript": transcripts, "excerpt": excerpts(transcripts, ns.excerpt_words)}
    audio, starts = audio_sequence(work / "prompts.wav", [wav for wav, _ in prompts], gap=GAP_S)
    lengths = [speech_seconds(wav) for wav, _ in prompts]
    ends = [s + d for s, d in zip(starts, lengths, strict=True)]
    speech_hours = sum(lengths) / 3600
    print(f"{n} prompts, {sum(lengths):.1f} s of prompts in {speech_seconds(audio):.1f} s of audio")
    captions = list(dict.fromkeys(photo.caption for photo in read_labels()))[: ns.offtopic]
    said = [speak(f"Here is {c}.", work / f"offtopic-{i}.wav") for i, c in enumerate(captions)]
    offtopic_audio, _ = audio_sequence(work / "offtopic.wav", said, gap=GAP_S)
    offtopic_hours = sum(speech_seconds(wav) for wav in said) / 3600
    print(f"{len(said)} off-topic sentences, {offtopic_hours * 3600:.1f} s")

    def prompts_of(start: float, end: float) -> tuple[int, ...]:
        return tuple(i for i in range(n) if start < ends[i] + SLACK_S and end > starts[i] - SLACK_S)

    t0 = time.perf_counter()
    server_args = ["--alert-window", "0", *ns.server_arg]
    server = ServerProcess(work / "data", ns.model_cache or work / "model-cache", server_args).start()
    server.wait_serving(600)
    print(f"server {server.address} SERVING after {time.perf_counter() - t0:.1f} s")
    watched: dict[str, AlertInfo] = {}
    query_of: dict[str, tuple[str, int]] = {}  # query id -> (form, prompt)
    try:
        with VigilClient(server.address, timeout=1800) as client:
            t = time.perf_counter()
            first, _ = stream(client, audio, "calibrate")
            print(f"calibration stream: {len(first)} speech segments in {time.perf_counter() - t:.1f} s")
            for form, texts in queries.items():
                for i, text in enumerate(texts):
                    label = f"{form}:{prompts[i][0].stem}"
                    q = client.add_query(text, modalities=["speech"], threshold=ns.low_threshold, label=label)
                    query_of[q.query_id] = (form, i)
            watch = client.watch(stream_ids=["target", "offtopic"], query_ids=list(query_of))

            def collect() -> None:
                for alert in watch:
                    watched[alert.alert_id] = alert

            watcher = threading.Thread(target=collect, daemon=True)
            watcher.start()
            if not watch.wait_connected(10.0):
                print("warning: the Watch call was not confirmed; relying on the Ingest call's alerts", file=sys.stderr)
            t = time.perf_counter()
            segment_list, ingest_alerts = stream(client, audio, "target")
            print(f"target stream: {len(segment_list)} speech segments, {len(ingest_alerts)} alerts on the Ingest "
                  f"call in {time.perf_counter() - t:.1f} s")  # fmt: skip
            t = time.perf_counter()
            offtopic_segments, offtopic_alerts = stream(client, offtopic_audio, "offtopic")
            ingest_alerts += offtopic_alerts
            print(f"off-topic stream: {len(offtopic_segments)} speech segments, {len(offtopic_alerts)} alerts in "
                  f"{time.perf_counter() - t:.1f} s")  # fmt: skip
            time.sleep(SETTLE_S)
            watch.cancel()
            watcher.join(5)
    finally:
        server.stop()
    calibration = {}
    for path in (work / "data").glob("calibration-*.json"):
        calibration = json.loads(path.read_text())

    covers = {s.segment_id: prompts_of(s.start, s.end) for s in segment_list}
    ingest_ids = {a.alert_id for a in ingest_alerts}
    alerts = {a.alert_id: a for a in ingest_alerts} | watched
    # per form, one alert per (prompt, segment): with no flood control each pair fires at most once
    fires: dict[str, dict[tuple[int, str], AlertInfo]] = {form: {} for form in FORMS}
    offtopic: dict[str, list[AlertInfo]] = {form: [] for form in FORMS}
    for a in alerts.values():
        if a.match_id not in query_of or a.modality != "speech":
            continue
        form, i = query_of[a.match_id]
        if a.stream_id == "offtopic":
            offtopic[form].append(a)
            continue
        known = fires[form].get((i, a.segment_id))
        if known is None or a.score > known.score:
            fires[form][(i, a.segment_id)] = a
    hours = (speech_hours, offtopic_hours)
    results = {
        form: evaluate(fires[form], queries[form], transcripts, covers, offtopic[form], ns.thresholds, *hours)
        for form in FORMS
    }
    stats = {
        "queries_per_form": n,
        "prompt_seconds": round(sum(lengths), 2),
        "target_segments": len(segment_list),
        "offtopic_seconds": round(offtopic_hours * 3600, 2),
        "offtopic_segments": len(offtopic_segments),
        "segments_over_two_prompts": sum(1 for c in covers.values() if len(c) > 1),
        "segments_outside_prompts": sum(1 for c in covers.values() if not c),
        "prompts_without_segment": sum(1 for i in range(n) if not any(i in c for c in covers.values())),
        "alerts": len(alerts),
        "alerts_only_on_ingest": len(ingest_ids - set(watched)),
        "alerts_only_on_watch": len(set(watched) - ingest_ids),
        "suppressed": sum(a.suppressed for a in alerts.values()),
    }
    result = {
        "benchmark": "standing_query_eval",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(ns).items()},
        **stats,
        "calibration": calibration,
        "forms": {
            form: {
                "own_score": quantiles([s for s in r.own_best if s is not None]),
                "own_below_low_threshold": sum(1 for s in r.own_best if s is None),
                "fires_where_the_words_are_said_too": r.said_elsewhere,
                "false_score": quantiles([x.score for x in r.false]),
                "rows": [asdict(row) for row in r.rows],
                "queries": [
                    {"prompt": prompts[i][0].stem, "text": queries[form][i], "best_own_score": r.own_best[i]}
                    for i in range(n)
                ],
                "false_fires": [asdict(x) for x in r.false],
                "offtopic_fires": [
                    {"query": query_of[a.match_id][1], "score": a.score, "heard": a.text} for a in r.offtopic
                ],
            }
            for form, r in results.items()
        },
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n== standing queries: {n} prompts, {len(segment_list)} speech segments, {sum(lengths) / 60:.1f} min of "
          f"prompts, {len(alerts)} alerts at >= {ns.low_threshold:g} ==")  # fmt: skip
    print(f"alerts only on Ingest {stats['alerts_only_on_ingest']}, only on Watch {stats['alerts_only_on_watch']}, "
          f"suppressed {stats['suppressed']}; segments over two prompts {stats['segments_over_two_prompts']}, "
          f"outside prompts {stats['segments_outside_prompts']}; "
          f"prompts without a segment {stats['prompts_without_segment']}")  # fmt: skip
    for form, r in results.items():
        own = [s for s in r.own_best if s is not None]
        own_q = ", ".join(f"{k} {v:.2f}" for k, v in quantiles(own).items()) or "none"
        print(f"\n-- {form} queries (e.g. {queries[form][1]!r}) --")
        print(f"best score on its own prompt: {own_q}; {n - len(own)} below {ns.low_threshold:g}; "
              f"{r.said_elsewhere} fires on other prompts that say the query's words (not counted)")  # fmt: skip
        print(f"{'threshold':>9} {'recall':>7} {'false':>6} {'unrelated':>9} {'queries':>8} {'per q-hour':>10} "
              f"{'per pair':>9} {'off-topic':>9} {'per q-hour':>10}")  # fmt: skip
        for w in r.rows:
            print(f"{w.threshold:9.1f} {w.recall:7.3f} {w.false_fires:6d} {w.unrelated_false_fires:9d} "
                  f"{w.queries_with_false_fire:8d} {w.false_per_query_hour:10.2f} {w.false_per_pair:9.5f} "
                  f"{w.offtopic_fires:9d} {w.offtopic_per_query_hour:10.2f}")  # fmt: skip
        print("highest-scoring false fires:")
        for x in r.false[:8]:
            print(f"  {x.score:5.2f}  query {x.query_text[:70]!r}\n         heard {x.heard[:70]!r} "
                  f"(word overlap {x.word_overlap:.2f})")  # fmt: skip
        print("highest-scoring off-topic fires:")
        for a in r.offtopic[:4]:
            print(f"  {a.score:5.2f}  query {queries[form][query_of[a.match_id][1]][:70]!r}\n"
                  f"         heard {a.text[:70]!r}")  # fmt: skip
    line: dict[str, object] = {"benchmark": "standing_query_eval", **stats}
    for form, r in results.items():
        line[form] = [{k: round(v, 5) if isinstance(v, float) else v for k, v in asdict(row).items()} for row in r.rows]
    print(json.dumps(line))
    print(f"wrote {ns.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
