"""The explicit-image score: the real Open-NSFW scorer, the search filter, standing queries on the score.

No explicit picture is used. The stand-in is a packaged photo whose score was measured: GCompris'
"a man playing a didgeridoo" (a bare-chested man) scores 0.77 as a photo and 0.63 as an H.264
frame of a 428x640 (portrait) stream; every other frame of the stream scores under 0.02. So a
rule at 0.5 must fire on that frame and on no other. The server is the in-process one with the
fake embedding models (tests/fakes.py) and the real frame detectors (people and explicit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import numpy as np
import pytest

from bench.photos.dataset import load_photos, read_labels
from scripts.sample_media import skimage_photo, tone_video
from scripts.signs import fit_picture
from tests.fakes import fake_model_set
from tests.inprocess import InProcessServer
from tests.moderation_media import alerts_of, ingest
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_models import ExplicitScorer, PeopleDetector
from vigil_server.calibrate import Calibration
from vigil_server.moderation.rules import EXPLICIT_SIGNAL, Rules, StoredQuery
from vigil_server.moderation.rules_db import RulesDb
from vigil_server.store import filter_expression
from vigil_server.types import Modality, SearchFilter, Segment, StandingQuery

STAND_IN = "a man playing a didgeridoo"
SIZE = (428, 640)  # a portrait stream: the stand-in fills it as it was photographed
ORDINARY = ("astronaut", "coffee", "rocket", "chelsea", "camera")


def stand_in() -> np.ndarray:
    (photo,) = [p for p in read_labels() if p.caption == STAND_IN]
    return load_photos([photo]).images[0]


@pytest.fixture(scope="module")
def scorer() -> ExplicitScorer:
    return ExplicitScorer()


def test_the_stand_in_scores_high_and_ordinary_photos_low(scorer: ExplicitScorer) -> None:
    scores = scorer.score([stand_in(), *(skimage_photo(name) for name in ORDINARY)])
    assert scores.dtype == np.float32 and scores.shape == (6,)
    assert scores[0] > 0.7
    assert float(scores[1:].max()) < 0.1
    with pytest.raises(ValueError, match="RGB uint8"):
        scorer.score([np.zeros((10, 10), np.uint8)])


def test_a_search_filter_on_the_score_is_a_store_expression() -> None:
    assert "explicit_score >= 0.8" in filter_expression(SearchFilter(min_explicit_score=0.8))
    assert "explicit_score" not in filter_expression(SearchFilter())


def _frame(score: float | None, modality: Modality = Modality.FRAME) -> Segment:
    return Segment("s1", "cam", modality, 0.0, 1.0, explicit_score=score)


def _query(min_score: float, vector: np.ndarray) -> StoredQuery:
    q = StandingQuery("q1", "", "explicit", (), (), 3.5, 0, 0, 0.0, min_explicit_score=min_score)
    return StoredQuery(q, vector, np.zeros((0, 4), np.float32))


def test_a_query_of_the_score_alone_fires_at_or_above_it_on_frames_only() -> None:
    rules = Rules(lambda m: Calibration(0.0, 1.0), [], 4)
    rules.add_query(_query(0.8, np.zeros(4, np.float32)))
    vector = np.ones(4, np.float32) / 2
    (alert,) = rules.match_queries(_frame(0.85), vector)
    assert [(e.signal, round(e.value, 2), e.matched) for e in alert.evidence] == [(EXPLICIT_SIGNAL, 0.85, True)]
    assert round(alert.score, 2) == 0.85
    assert rules.match_queries(_frame(0.8), vector)  # at the threshold
    assert rules.match_queries(_frame(0.79), vector) == []
    assert rules.match_queries(_frame(None), vector) == []  # not scored
    assert rules.match_queries(_frame(None, Modality.SPEECH), vector) == []


def test_a_database_from_before_explicit_scores_opens_with_none(tmp_path: Path) -> None:
    path = tmp_path / "rules.sqlite"
    RulesDb(path, 4).close()
    with sqlite3.connect(path) as db:  # as written before the column existed
        db.execute("ALTER TABLE queries DROP COLUMN min_explicit_score")
    rules_db = RulesDb(path, 4)
    rules_db.add_query(_query(0.9, np.zeros(4, np.float32)))
    (stored,) = rules_db.queries()
    assert stored.query.min_explicit_score == 0.9
    rules_db.close()


# -- through the server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    models = replace(fake_model_set(), people=PeopleDetector(), explicit=ExplicitScorer())
    proc = InProcessServer(tmp_path_factory.mktemp("explicit-data"), ["--alert-window", "600"], models=models)
    yield proc.start()
    proc.stop()


@pytest.fixture(scope="module")
def stub(server: InProcessServer) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


@pytest.fixture(scope="module")
def streamed(stub: vigil_pb2_grpc.VigilStub, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    rule = stub.AddStandingQuery(pb.AddStandingQueryRequest(min_explicit_score=0.5))
    strict = stub.AddStandingQuery(pb.AddStandingQueryRequest(min_explicit_score=0.9, label="very explicit"))
    slides = [(fit_picture(stand_in(), SIZE), 2.0), *((fit_picture(skimage_photo(n), SIZE), 2.0) for n in ORDINARY)]
    video = tone_video(tmp_path_factory.mktemp("explicit"), slides, [], size=f"{SIZE[0]}x{SIZE[1]}", name="slides")
    events = ingest(stub, video, "portrait")
    frames = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"]
    return {"rule": rule, "strict": strict, "alerts": alerts_of(events), "frames": frames}


def test_every_frame_carries_its_score_and_people(streamed: dict[str, object]) -> None:
    frames = streamed["frames"]
    assert isinstance(frames, list) and len(frames) == 12
    scores = {round(f.start): f.explicit_score for f in frames}
    assert all(f.HasField("explicit_score") and f.HasField("person_count") and f.HasField("face_count") for f in frames)
    assert scores[0] > 0.5 and scores[1] > 0.5, scores  # the stand-in, two frames of it
    assert max(s for t, s in scores.items() if t >= 2) < 0.1, scores
    astronaut = [f for f in frames if round(f.start) in (2, 3)]
    assert all(f.person_count >= 1 and f.face_count >= 1 for f in astronaut)
    assert all(len(f.people_boxes) == f.person_count + f.face_count for f in frames)
    for f in astronaut:
        face = f.people_boxes[f.person_count]
        assert 0.1 < face.x < 0.5 and 0.0 < face.y < 0.4 and 0.1 < face.width < 0.5  # her face, upper left


def test_the_rule_fires_on_the_stand_in_and_not_on_ordinary_photos(streamed: dict[str, object]) -> None:
    rule = streamed["rule"]
    assert isinstance(rule, pb.StandingQuery)
    assert rule.min_explicit_score == pytest.approx(0.5) and rule.label == "explicit score at least 0.5"
    alerts = streamed["alerts"]
    assert isinstance(alerts, list)
    fired = [a for a in alerts if a.match_id == rule.query_id]
    assert [round(a.start) for a in fired] == [0]  # flood control keeps the second frame of it back
    (evidence,) = fired[0].evidence
    assert evidence.signal == "explicit" and evidence.value > 0.5 and evidence.matched
    assert fired[0].modality == pb.MODALITY_FRAME
    strict = streamed["strict"]
    assert isinstance(strict, pb.StandingQuery)
    assert not [a for a in alerts if a.match_id == strict.query_id]  # 0.63 is under 0.9


def test_search_filters_on_the_score(stub: vigil_pb2_grpc.VigilStub, streamed: dict[str, object]) -> None:
    found = stub.Search(pb.SearchRequest(text="a photo", min_explicit_score=0.5, top_k=20))
    assert sorted(round(m.segment.start) for m in found.matches) == [0, 1]
    everything = stub.Search(pb.SearchRequest(text="a photo", top_k=20, modalities=[pb.MODALITY_FRAME]))
    assert len(everything.matches) == 12


@pytest.mark.parametrize("value", [-0.1, 1.5, float("nan")])
def test_a_bad_minimum_score_names_its_field(stub: vigil_pb2_grpc.VigilStub, value: float) -> None:
    with pytest.raises(grpc.RpcError) as search:
        stub.Search(pb.SearchRequest(text="a photo", min_explicit_score=value))
    assert search.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "min_explicit_score" in search.value.details()
    with pytest.raises(grpc.RpcError) as query:
        stub.AddStandingQuery(pb.AddStandingQueryRequest(min_explicit_score=value))
    assert query.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "min_explicit_score" in query.value.details()


def test_keywords_and_the_score_do_not_mix(stub: vigil_pb2_grpc.VigilStub) -> None:
    with pytest.raises(grpc.RpcError) as error:
        stub.AddStandingQuery(pb.AddStandingQueryRequest(keywords=["x"], min_explicit_score=0.5))
    assert error.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "min_explicit_score" in error.value.details()


# -- the store: new columns, and a collection made before them -----------------------------------


def test_scores_and_people_round_trip_and_an_old_collection_says_how_to_filter(tmp_path: Path) -> None:
    from pymilvus import DataType, MilvusClient

    from vigil_server.errors import Unsupported
    from vigil_server.store import FIELDS, SegmentStore, StoreSettings, collection_name, lite_uri
    from vigil_server.types import Box

    vector = [1.0, 0.0, 0.0, 0.0]
    boxes = (Box(0.1, 0.2, 0.3, 0.4), Box(0.5, 0.5, 0.2, 0.2), Box(0.15, 0.25, 0.1, 0.1))
    frame = replace(_frame(0.9), person_count=2, face_count=1, people_boxes=boxes)
    speech = Segment("s2", "cam", Modality.SPEECH, 0.0, 1.0, text="hello")
    store = SegmentStore(StoreSettings(lite_uri(tmp_path / "new")), "explicit-test", 4)
    store.insert([(frame, vector), (speech, vector)])
    (hit,) = store.search(vector, SearchFilter(min_explicit_score=0.85), 10)
    assert hit.segment == frame
    (back,) = [m.segment for m in store.search(vector, SearchFilter(), 10) if m.segment.segment_id == "s2"]
    assert (back.explicit_score, back.person_count, back.face_count, back.people_boxes) == (None, None, None, ())
    store.close()

    uri = lite_uri(tmp_path / "old")  # a collection as an older server made it: none of the new columns
    client = MilvusClient(uri=uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("segment_id", DataType.VARCHAR, max_length=64, is_primary=True)
    for name in FIELDS:
        kind = DataType.DOUBLE if name in ("start", "end") else DataType.VARCHAR
        schema.add_field(name, kind, **({} if kind is DataType.DOUBLE else {"max_length": 8192}))
    schema.add_field("created_at", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=4)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(collection_name("explicit-test", 4), schema=schema, index_params=index)
    client.close()
    old = SegmentStore(StoreSettings(uri), "explicit-test", 4)
    old.insert([(frame, vector)])  # stored without the columns it lacks
    (plain,) = old.search(vector, SearchFilter(), 10)
    assert plain.segment.explicit_score is None and plain.segment.person_count is None
    with pytest.raises(Unsupported, match=r"min_explicit_score.*new --data-dir"):
        old.search(vector, SearchFilter(min_explicit_score=0.5), 10)
    old.close()
