"""Exact words with the real models, through the session's `vigil-server` subprocess: espeak-ng says a
sentence with a word and then a paraphrase without it; Whisper transcribes both.

A keyword rule fires on the sentence that says the word and not on the paraphrase, and keyword
search finds the word whatever the embedding thinks of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from scripts.sample_media import Utterance, pattern_video
from tests.moderation_media import alerts_of, ingest
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc

pytestmark = pytest.mark.slow

SAID = "The keeper painted the door bright orange."
PARAPHRASE = "Later he coloured the old gate a vivid tangerine shade."
SAID_AT, PARAPHRASE_AT = 1.0, 7.0
STREAM = "keyword-talk"


@pytest.fixture(scope="module")
def stub(server: ServerProcess) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


@pytest.fixture(scope="module")
def streamed(stub: vigil_pb2_grpc.VigilStub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    orange = stub.AddStandingQuery(pb.AddStandingQueryRequest(keywords=["orange"], stream_ids=[STREAM]))
    regex = stub.AddStandingQuery(pb.AddStandingQueryRequest(regex=r"tangerines?", stream_ids=[STREAM]))
    purple = stub.AddStandingQuery(pb.AddStandingQueryRequest(keywords=["purple"], stream_ids=[STREAM]))
    out: Path = tmp_path_factory.mktemp("keyword-talk")
    video = pattern_video(out, 12.0, [Utterance(SAID, SAID_AT), Utterance(PARAPHRASE, PARAPHRASE_AT)])
    events = ingest(stub, video, STREAM)
    segments = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"]
    for q in (orange, regex, purple):
        stub.RemoveStandingQuery(pb.RemoveStandingQueryRequest(query_id=q.query_id))
    return {"orange": orange, "regex": regex, "purple": purple, "alerts": alerts_of(events), "segments": segments}


def _fired(streamed: dict[str, object], name: str) -> list[pb.Alert]:
    query = streamed[name]
    alerts = streamed["alerts"]
    assert isinstance(query, pb.StandingQuery) and isinstance(alerts, list)
    return [a for a in alerts if a.match_id == query.query_id]


def test_whisper_heard_both_sentences(streamed: dict[str, object]) -> None:
    segments = streamed["segments"]
    assert isinstance(segments, list)
    speech = " ".join(s.text.lower() for s in segments if s.modality == pb.MODALITY_SPEECH)
    assert "orange" in speech and "tangerine" in speech, speech


def test_a_keyword_rule_fires_on_the_exact_word_and_not_on_the_paraphrase(streamed: dict[str, object]) -> None:
    (alert,) = _fired(streamed, "orange")
    assert "orange" in alert.text.lower() and alert.start < PARAPHRASE_AT - 1.0
    assert [(e.signal, e.matched) for e in alert.evidence] == [("keyword", True)]
    (regex,) = _fired(streamed, "regex")
    assert "tangerine" in regex.text.lower() and regex.start >= PARAPHRASE_AT - 1.0
    assert _fired(streamed, "purple") == []


def test_keyword_search_finds_the_word_and_hybrid_search_fuses_it(
    stub: vigil_pb2_grpc.VigilStub, streamed: dict[str, object]
) -> None:
    only = stub.Search(pb.SearchRequest(keywords=["Orange"], stream_ids=[STREAM]), timeout=60).matches
    assert len(only) == 1 and list(only[0].keyword_hits) == ["Orange"] and only[0].segment.start < PARAPHRASE_AT
    assert only[0].cosine == 0 and only[0].fused_score > 0  # no query to embed: ranked by BM25
    hybrid = stub.Search(
        pb.SearchRequest(text="a colour of paint", keywords=["tangerine"], stream_ids=[STREAM], top_k=3), timeout=60
    ).matches
    found = [m for m in hybrid if list(m.keyword_hits) == ["tangerine"]]
    assert len(found) == 1 and "tangerine" in found[0].segment.text.lower()
    assert found[0].cosine != 0 and found[0].fused_score > 0
