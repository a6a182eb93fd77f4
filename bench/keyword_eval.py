"""Exact words through a real server: "someone says the word X", by embedding alone and with keywords.

Corpus: Debian's asterisk-core-sounds-en-wav prompts (real voice) with their transcripts, chosen as in
retrieval_eval.py (`read_transcripts`: 6+ words, file order). Each prompt gets one keyword: its word
(4+ letters) that the fewest chosen transcripts hold (ties: the longer, then the first), so the word
picks out its prompt, as a moderator's word would. A speech segment is relevant to keyword X when
it overlaps a prompt whose transcript holds X (as a word, case-insensitively).

Prompts with an even index are the dev half, odd ones the held-out half. No choice was tuned on
either: BM25's k1 = 1.2 and b = 0.75, RRF's k = 60 and the fusion depth (50) are the usual
defaults, set before this ran; both halves are reported so that a later tuning can keep to the dev
half.

On a fresh server (temporary data dir, `--alert-window 0`):
1. standing queries, speech only, two per keyword: `embedding` (text X, the server's default
   threshold: "before", the only kind there was) and `keyword` (keywords [X], KEYWORD_RULE_ONLY);
2. the prompts are streamed as one WAV, 1.5 s apart (stream `prompts`);
3. searches for each keyword, speech only, top 50: `dense` (text X: before), `hybrid` (text X with
   keywords [X], fused by reciprocal rank) and `keyword` (keywords [X] alone, BM25).

Rows: for the rules, recall (queries with an alert on a relevant segment) and false fires (alerts
on other segments), per query; for the searches, R@1, R@5 and MRR of the first relevant segment.

    .venv/bin/python bench/keyword_eval.py [--prompts 40]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.retrieval_eval import read_transcripts, summarise  # noqa: E402
from scripts.sample_media import audio_sequence, speech_seconds  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import VigilClient, read_chunks  # noqa: E402

RESULTS = ROOT / "bench" / "results"
WORD = re.compile(r"[a-z]+")
SLACK_S = 0.25  # a segment belongs to a prompt when it overlaps the prompt widened by this much


def words_of(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def choose_keywords(transcripts: list[str]) -> list[str]:
    """Per transcript, its 4+ letter word held by the fewest transcripts (ties: longer, then first)."""
    sets = [words_of(t) for t in transcripts]
    frequency = Counter(w for s in sets for w in s)
    chosen = []
    for text in transcripts:
        candidates = [w for w in dict.fromkeys(WORD.findall(text.lower())) if len(w) >= 4]
        chosen.append(min(candidates, key=lambda w: (frequency[w], -len(w))))
    return chosen


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", type=int, default=40, help="English prompt recordings")
    p.add_argument("--server-arg", action="append", default=[], help="extra vigil-server argument")
    ns = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-keywords-"))
    prompts = read_transcripts(ns.prompts)
    transcripts = [text for _, text in prompts]
    keywords = choose_keywords(transcripts)
    audio, starts = audio_sequence(work / "prompts.wav", [wav for wav, _ in prompts], gap=1.5)
    ends = [start + speech_seconds(wav) for start, (wav, _) in zip(starts, prompts, strict=True)]
    holders = {k: [i for i, t in enumerate(transcripts) if k in words_of(t)] for k in set(keywords)}

    def relevant(keyword: str, start: float, end: float) -> bool:
        return any(start < ends[i] + SLACK_S and end > starts[i] - SLACK_S for i in holders[keyword])

    server = ServerProcess(work / "data", work / "models", ["--alert-window", "0", *ns.server_arg])
    rules: dict[str, list[str]] = {"embedding": [], "keyword": []}  # query ids, by keyword index
    fired: dict[str, list[tuple[int, int]]] = {"embedding": [], "keyword": []}  # (relevant, other) per query
    ranks: dict[str, list[int | None]] = {"dense": [], "hybrid": [], "keyword": []}
    try:
        server.start().wait_serving(600)
        with VigilClient(server.address, timeout=900) as client:
            for keyword in keywords:
                rules["embedding"].append(client.add_query(keyword, modalities=["speech"]).query_id)
                rules["keyword"].append(client.add_query(keywords=[keyword], modalities=["speech"]).query_id)
            alerts = []
            with open(audio, "rb") as f:
                for event in client.ingest(read_chunks(f, 64 << 10), "prompts", "wav", pacing="upload"):
                    if event.WhichOneof("event") == "alert":
                        alerts.append(event.alert)
            for kind, ids in rules.items():
                for keyword, query_id in zip(keywords, ids, strict=True):
                    mine = [a for a in alerts if a.match_id == query_id]
                    good = sum(1 for a in mine if relevant(keyword, a.start, a.end))
                    fired[kind].append((good, len(mine) - good))
            for keyword in keywords:
                asks = {
                    "dense": {"text": keyword},
                    "hybrid": {"text": keyword, "keywords": [keyword]},
                    "keyword": {"keywords": [keyword]},
                }
                for kind, ask in asks.items():
                    found = client.search(**ask, modalities=["speech"], stream_ids=["prompts"], top_k=50)  # type: ignore[arg-type]
                    hit = next(
                        (n for n, m in enumerate(found, 1) if relevant(keyword, m.segment.start, m.segment.end)), None
                    )
                    ranks[kind].append(hit)
    finally:
        server.stop()
    halves = {"dev": range(0, len(keywords), 2), "held-out": range(1, len(keywords), 2)}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for half, index in halves.items():
        for kind, outcomes in fired.items():
            chosen = [outcomes[i] for i in index]
            results.setdefault(f"rule:{kind}", {})[half] = {
                "queries": len(chosen),
                "recall": sum(1 for good, _ in chosen if good) / max(1, len(chosen)),
                "false_fires_per_query": sum(bad for _, bad in chosen) / max(1, len(chosen)),
            }
        for kind, found_ranks in ranks.items():
            results.setdefault(f"search:{kind}", {})[half] = summarise([found_ranks[i] for i in index])
    print(f"{'row':18} {'half':9} {'queries':>7} {'recall/R@1':>10} {'false/R@5':>10} {'MRR':>6}")
    for row, by_half in results.items():
        for half, r in by_half.items():
            if row.startswith("rule:"):
                print(f"{row:18} {half:9} {r['queries']:7.0f} {r['recall']:10.3f} {r['false_fires_per_query']:10.3f}")
            else:
                print(f"{row:18} {half:9} {r['queries']:7.0f} {r['R@1']:10.3f} {r['R@5']:10.3f} {r['MRR']:6.3f}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {"args": vars(ns), "keywords": keywords, "results": results}
    (RESULTS / "keyword_eval.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
