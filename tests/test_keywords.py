"""Exact words: keyword and regex rules on standing queries, keyword search fused with dense search.

Unit tests of the matching (keywords.py), the keyword index (word_index.py), the fusion
(hybrid.py) and the store's migration (rules_db.py); then the whole path through the in-process
server with the fake models (tests/fakes.py: a tone says its TONE_WORDS word). Real speech is in
tests/test_keywords_server.py.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from scripts.sample_media import tone_video
from tests.fakes import TONE_WORDS
from tests.inprocess import InProcessServer
from tests.moderation_media import alerts_of, ingest
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_client import cli
from vigil_client.errors import error_details
from vigil_server.calibrate import Calibration
from vigil_server.errors import InvalidRequest
from vigil_server.hybrid import _Ranked, fuse
from vigil_server.keywords import MAX_REGEX, KeywordMatcher, compile_regex, phrase, words
from vigil_server.moderation.rules import Rules, StoredQuery
from vigil_server.moderation.rules_db import RulesDb
from vigil_server.types import KeywordRule, Match, Modality, SearchFilter, Segment, StandingQuery
from vigil_server.word_index import WordIndex

WORD_FREQ = {word: freq for freq, word in TONE_WORDS.items()}

# -- matching ---------------------------------------------------------------------------------


def test_keywords_ignore_case_and_accents_and_match_whole_words_and_phrases() -> None:
    matcher = KeywordMatcher.build(["cafe", "Orange", "free crypto"])
    assert matcher.hits("Meet me at the CAFÉ.")[0] == ("cafe",)
    assert matcher.hits("the door was orange, bright ORANGE")[1] == 2
    assert matcher.hits("oranges and cafeteria") == ((), 0)  # not inside longer words
    assert matcher.hits("get FREE   crypto now")[0] == ("free crypto",)
    assert matcher.hits("crypto is free") == ((), 0)  # a phrase is its words in a row
    assert words("Ça coûte 10€") == ["ca", "coute", "10"]


def test_regex_matches_on_word_boundaries_ignoring_case_and_accents() -> None:
    matcher = KeywordMatcher.build([], r"bit ?coins?|cr[iy]pto")
    assert set(matcher.hits("Buy BITCOIN and crípto today")[0]) == {"BITCOIN", "cripto"}
    assert matcher.hits("cryptography") == ((), 0)


@pytest.mark.parametrize(
    ("keywords", "regex", "field"),
    [
        ([], "(unclosed", "regex"),
        ([], "a" * (MAX_REGEX + 1), "regex"),
        (["?!"], "", "keywords"),
        (["x" * 201], "", "keywords"),
    ],
)
def test_bad_keywords_and_regexes_name_their_field(keywords: list[str], regex: str, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        KeywordMatcher.build(keywords, regex)
    assert caught.value.field == field


def test_a_slow_regex_counts_as_no_match_instead_of_hanging() -> None:
    pattern = compile_regex(r"(\w+\s?)*$")  # catastrophic backtracking on a long text without a match
    matcher = KeywordMatcher((), (), pattern)
    text = "word " * 2000 + "!"
    started = time.process_time()
    matcher.hits(text)  # whatever it found in time
    assert time.process_time() - started < 1.0  # the limit is 0.05 s; unbounded, this takes minutes


# -- the keyword index and the fusion --------------------------------------------------------


def _segment(
    n: int, text: str, stream: str = "s", modality: Modality = Modality.SPEECH, translation: str = ""
) -> Segment:
    return Segment(f"id{n}", stream, modality, float(n), n + 1.0, text=text, translation=translation)


def test_keyword_index_ranks_by_bm25_and_applies_the_filter() -> None:
    index = WordIndex()
    index.add([
        _segment(1, "the harbour was quiet"),
        _segment(2, "harbour harbour, the harbour master said"),
        _segment(3, "a lighthouse by the harbour", stream="other"),
        _segment(4, "nothing here"),
        _segment(5, "harbour", modality=Modality.FRAME),  # frames carry no words: not indexed
        _segment(6, "HARBOUR TOURS", modality=Modality.ON_SCREEN_TEXT),  # on-screen text is
    ])  # fmt: skip
    hits = index.search([("Harbour", phrase("Harbour"))], SearchFilter(), 10)
    assert hits[0].segment.segment_id == "id2" and len(hits) == 4
    assert all(h.keywords == ("Harbour",) for h in hits)
    only_other = index.search([("harbour", ("harbour",))], SearchFilter(stream_ids=("other",)), 10)
    assert [h.segment.segment_id for h in only_other] == ["id3"]
    rare = index.search([("the", ("the",)), ("lighthouse", ("lighthouse",))], SearchFilter(), 10)
    assert rare[0].segment.segment_id == "id3"  # the rarer word weighs more


def test_keyword_index_reads_back_what_the_store_held_once() -> None:
    calls = []

    def stored() -> list[Segment]:
        calls.append(1)
        return [_segment(1, "old news about the harbour")]

    index = WordIndex(stored)
    index.add([_segment(2, "new harbour news")])
    assert len(index.search([("harbour", ("harbour",))], SearchFilter(), 10)) == 2
    index.search([("news", ("news",))], SearchFilter(), 10)
    assert calls == [1]


def test_reciprocal_rank_fusion_rewards_agreement_and_keeps_the_evidence() -> None:
    a, b, c = (_segment(n, t) for n, t in [(1, "a"), (2, "b"), (3, "c")])
    dense = [_Ranked(Match(a, 0.9, 5.0), 1, "first"), _Ranked(Match(b, 0.8, 4.0), 2, "first")]
    other = [_Ranked(Match(b, 0.85, 4.5), 1, "second"), _Ranked(Match(c, 0.1, 0.5), 2, "second")]
    words_ranking = [_Ranked(Match(c, 0.1, 0.5, keyword_hits=("c",)), 1)]
    fused = fuse([dense, other, words_ranking], 10)
    assert [m.segment.segment_id for m in fused] == ["id2", "id3", "id1"]
    assert fused[0].sentence == "second" and fused[0].score == 4.5  # ranked best in the second list
    assert fused[1].keyword_hits == ("c",)
    assert fused[0].fused == pytest.approx(1 / 62 + 1 / 61)


def test_keyword_rules_check_speech_and_on_screen_text_only() -> None:
    query = StandingQuery("q", "", "free crypto", (), (), 3.5, 0, 0, 0.0, keywords=("free crypto",),
                          keyword_rule=KeywordRule.ONLY)  # fmt: skip
    rules = Rules(lambda m: Calibration(0.0, 0.1), [], 4)
    rules.add_query(StoredQuery(query, np.zeros(4, np.float32), np.zeros((0, 4), np.float32)))
    vector = np.ones(4, np.float32) / 2
    for modality, fires in [(Modality.SPEECH, True), (Modality.ON_SCREEN_TEXT, True), (Modality.SOUND, False)]:
        segment = _segment(1, "FREE Crypto giveaway", modality=modality)
        alerts = rules.match_queries(segment, vector)
        assert len(alerts) == fires, modality
    (alert,) = rules.match_queries(_segment(2, "x", modality=Modality.SPEECH, translation="free crypto here"), vector)
    assert alert.evidence[0].signal == "keyword" and alert.score == 0


# -- persistence ------------------------------------------------------------------------------

V1_QUERIES = """
CREATE TABLE queries (
    query_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, text TEXT NOT NULL, label TEXT NOT NULL,
    modalities TEXT NOT NULL, stream_ids TEXT NOT NULL, threshold REAL NOT NULL,
    example_count INTEGER NOT NULL, negative_count INTEGER NOT NULL, created_at REAL NOT NULL,
    vector BLOB NOT NULL, negatives BLOB NOT NULL
);
"""


def test_a_database_from_before_keywords_opens_and_keeps_its_queries(tmp_path: Path) -> None:
    path = tmp_path / "rules.sqlite"
    old = sqlite3.connect(path)
    old.executescript(V1_QUERIES)
    vector = np.ones(4, np.float32) / 2
    old.execute(
        "INSERT INTO queries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("q1", "default", "a harbour", "harbour", "[]", "[]", 3.5, 0, 0, 1.0, vector.tobytes(), b""),
    )
    old.commit()
    old.close()
    db = RulesDb(path, 4)
    (stored,) = db.queries()
    assert stored.query.text == "a harbour" and stored.query.keywords == () and stored.query.regex == ""
    assert stored.query.keyword_rule is KeywordRule.AND_EMBEDDING and not stored.matcher
    assert np.allclose(stored.vector, vector)
    db.close()
    RulesDb(path, 4).close()  # opening it again changes nothing


# -- through the server -----------------------------------------------------------------------

SPOKEN = [("delta", 0.5, 1.0), ("golf", 3.0, 0.8), ("echo", 5.5, 0.8)]


@pytest.fixture(scope="module")
def kw_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    server = InProcessServer(tmp_path_factory.mktemp("keywords-data"), ["--alert-window", "600"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(kw_server: InProcessServer) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(kw_server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


@pytest.fixture(scope="module")
def streamed(stub: vigil_pb2_grpc.VigilStub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    queries = {
        "delta": stub.AddStandingQuery(pb.AddStandingQueryRequest(keywords=["Delta"])),
        "regex": stub.AddStandingQuery(pb.AddStandingQueryRequest(regex="gol[fd]s?")),
        "partial": stub.AddStandingQuery(pb.AddStandingQueryRequest(keywords=["delt", "olf"])),
        "both": stub.AddStandingQuery(pb.AddStandingQueryRequest(text="echo", keywords=["echo"])),
        "both-miss": stub.AddStandingQuery(pb.AddStandingQueryRequest(text="red", keywords=["delta"])),
        "other-stream": stub.AddStandingQuery(pb.AddStandingQueryRequest(keywords=["delta"], stream_ids=["x"])),
    }
    tones = [(WORD_FREQ[w], at, seconds) for w, at, seconds in SPOKEN]
    video = tone_video(tmp_path_factory.mktemp("keywords"), [((255, 0, 0), 4.0), ((0, 0, 255), 4.0)], tones)
    events = ingest(stub, video, "kw-stream")
    return {"queries": queries, "alerts": alerts_of(events)}


def _fired(streamed: dict[str, object], name: str) -> list[pb.Alert]:
    queries = streamed["queries"]
    assert isinstance(queries, dict)
    alerts = streamed["alerts"]
    assert isinstance(alerts, list)
    return [a for a in alerts if a.match_id == queries[name].query_id]


def test_standing_queries_carry_their_keywords_and_rule(streamed: dict[str, object]) -> None:
    queries = streamed["queries"]
    assert isinstance(queries, dict)
    assert queries["delta"].keyword_rule == pb.KEYWORD_RULE_ONLY and list(queries["delta"].keywords) == ["Delta"]
    assert queries["both"].keyword_rule == pb.KEYWORD_RULE_AND_EMBEDDING
    assert queries["regex"].regex == "gol[fd]s?" and queries["regex"].label == "/gol[fd]s?/"


def test_a_keyword_rule_fires_on_the_word_with_keyword_evidence(streamed: dict[str, object]) -> None:
    (alert,) = _fired(streamed, "delta")
    assert alert.modality == pb.MODALITY_SPEECH and "delta" in alert.text
    assert [(e.signal, e.value, e.matched) for e in alert.evidence] == [("keyword", 1.0, True)]
    (golf,) = _fired(streamed, "regex")
    assert "golf" in golf.text
    assert _fired(streamed, "partial") == [] and _fired(streamed, "other-stream") == []


def test_keywords_with_the_embedding_need_both(streamed: dict[str, object]) -> None:
    (alert,) = _fired(streamed, "both")
    assert [e.signal for e in alert.evidence] == ["query", "keyword"] and alert.score >= 3.5
    assert _fired(streamed, "both-miss") == []  # says "delta", but is far from "red"


def test_bad_keyword_requests_name_their_field(stub: vigil_pb2_grpc.VigilStub) -> None:
    cases = [
        (pb.AddStandingQueryRequest(regex="(oops"), "regex"),
        (pb.AddStandingQueryRequest(keywords=["..."]), "keywords"),
        (pb.AddStandingQueryRequest(keywords=["a"], keyword_rule=pb.KEYWORD_RULE_AND_EMBEDDING), "keyword_rule"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.RpcError) as caught:
            stub.AddStandingQuery(request, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert [f for f, _ in error_details(caught.value).field_violations] == [field]
    with pytest.raises(grpc.RpcError) as caught:
        stub.Search(pb.SearchRequest(image=b"x", keyword_mode=pb.KEYWORD_MODE_ONLY), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # no keywords, and no words to take
    assert [f for f, _ in error_details(caught.value).field_violations] == ["keywords"]


def _search(server: InProcessServer, request: pb.SearchRequest) -> list[pb.Match]:
    with grpc.insecure_channel(server.address) as channel:
        return list(vigil_pb2_grpc.VigilStub(channel).Search(request, timeout=30).matches)


def test_keyword_search_alone_finds_the_segment_that_says_the_word(
    kw_server: InProcessServer, streamed: dict[str, object]
) -> None:
    matches = _search(kw_server, pb.SearchRequest(keywords=["DELTA"], stream_ids=["kw-stream"]))
    assert [m.segment.text for m in matches] == ["delta"]
    assert list(matches[0].keyword_hits) == ["DELTA"] and matches[0].fused_score > 0
    assert _search(kw_server, pb.SearchRequest(keywords=["delt"], stream_ids=["kw-stream"])) == []


def test_hybrid_search_fuses_the_word_with_the_embedding(
    kw_server: InProcessServer, streamed: dict[str, object]
) -> None:
    request = pb.SearchRequest(text="red", keywords=["golf"], stream_ids=["kw-stream"], top_k=5)
    matches = _search(kw_server, request)
    # "golf" is in both rankings (the keyword's first, the embedding's somewhere): first
    assert matches[0].segment.text == "golf" and list(matches[0].keyword_hits) == ["golf"]
    assert matches[1].segment.modality == pb.MODALITY_FRAME and matches[1].cosine > 0.9  # red frames
    assert [m for m in matches[1:] if m.keyword_hits] == []
    assert all(m.fused_score > 0 for m in matches)
    assert [m.fused_score for m in matches] == sorted((m.fused_score for m in matches), reverse=True)
    plain = _search(kw_server, pb.SearchRequest(text="red", stream_ids=["kw-stream"], top_k=5))
    assert all(m.fused_score == 0 and not m.keyword_hits for m in plain)


def test_a_keyword_mode_without_keywords_takes_the_words_of_the_query(
    kw_server: InProcessServer, streamed: dict[str, object]
) -> None:
    request = pb.SearchRequest(text="echo please", keyword_mode=pb.KEYWORD_MODE_ONLY, stream_ids=["kw-stream"])
    matches = _search(kw_server, request)
    assert [(m.segment.text, list(m.keyword_hits)) for m in matches] == [("echo", ["echo"])]
    assert matches[0].cosine > 0.5  # the embedding's cosine, computed for a segment found by keyword


def test_the_cli_adds_keyword_rules_and_searches_by_keyword(
    kw_server: InProcessServer, streamed: dict[str, object], capsys: pytest.CaptureFixture[str]
) -> None:
    server = ["--server", kw_server.address]
    assert cli.main([*server, "query", "add", "--keyword", "hotel", "--regex", "motels?", "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["keywords"] == ["hotel"] and added["regex"] == "motels?" and added["keyword_rule"] == "only"
    assert cli.main([*server, "query", "add", "a hotel", "--keyword", "hotel"]) == 0
    assert "(and_embedding)" in capsys.readouterr().out
    assert cli.main([*server, "search", "--keywords", "golf", "--stream", "kw-stream", "--json"]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["keyword_hits"] == ["golf"] and json.loads(line)["text"] == "golf"
    assert cli.main([*server, "search", "red", "--keyword", "golf", "--stream", "kw-stream", "--top-k", "2"]) == 0
    assert "[golf]" in capsys.readouterr().out
    assert cli.main([*server, "query", "add", "--regex", "(bad"]) == 1
    assert "regex" in capsys.readouterr().err


# Last: it restarts the module's server (a new port), so the `stub` fixture is stale afterwards.
def test_keyword_rules_survive_a_restart(kw_server: InProcessServer, streamed: dict[str, object]) -> None:
    kw_server.stop()
    kw_server.start()
    with grpc.insecure_channel(kw_server.address) as channel:
        listed = vigil_pb2_grpc.VigilStub(channel).ListStandingQueries(pb.ListStandingQueriesRequest()).queries
    # the keyword index starts empty and reads back what the store held (SegmentStore.text_segments)
    found = _search(kw_server, pb.SearchRequest(keywords=["echo", "delta"], stream_ids=["kw-stream"]))
    assert sorted(m.segment.text for m in found) == ["delta", "echo"]
    by_label = {q.label: q for q in listed}
    assert list(by_label["Delta"].keywords) == ["Delta"] and by_label["Delta"].keyword_rule == pb.KEYWORD_RULE_ONLY
    assert by_label["/gol[fd]s?/"].regex == "gol[fd]s?"
