"""Moderation end to end with the real models: matches that depend on what the models see and hear.

One server with its own data directory (so its banks do not leak into other tests), real
packaged media: scikit-image photos and espeak-ng speech. The moderation tests that need no real
model (PDQ, Chromaprint, errors, persistence) are in tests/test_moderation_fast.py.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from scripts.sample_media import Utterance, pattern_video, skimage_photo
from tests.conftest import PHRASE, PHRASE_AT
from tests.moderation_media import (
    PHOTO_SECONDS,
    Watcher,
    add_item,
    alerts_of,
    altered_copy,
    in_range,
    ingest,
    jpeg,
    slideshow,
)
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_server.settings import ModerationSettings

BANK_MIN_COSINE = ModerationSettings().bank_min_cosine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mod_server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("moderation-data")
    proc = ServerProcess(data, model_cache, ["--alert-window", "600"]).start().wait_serving()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def stub(mod_server: ServerProcess) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(mod_server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


# -- reference banks: pictures --------------------------------------------------------------


def test_flagged_photo_matches_an_altered_copy_in_a_stream_and_two_watchers_see_it(
    stub: vigil_pb2_grpc.VigilStub, tmp_path: Path
) -> None:
    cat, coffee, rocket = skimage_photo("chelsea"), skimage_photo("coffee"), skimage_photo("rocket")
    added = add_item(stub, jpeg(cat), "photos-a", "flagged cat", archive_window=-1)
    assert added.item.kind == pb.REFERENCE_KIND_IMAGE and added.item.pdq_hashes == 8
    first, second = Watcher(stub), Watcher(stub, pb.WatchRequest(banks=["photos-a"]))
    try:
        # coffee 0-3 s, the altered cat 3-6 s, rocket 6-9 s; the cat is never shown unaltered.
        video = slideshow(tmp_path, "s", [coffee, altered_copy(cat), rocket])
        events = ingest(stub, video, "photo-stream-a")
        own = [a for a in alerts_of(events) if a.match_id == added.item.item_id]
        assert len(own) == 1, own  # flood control: one alert per (stream, item) per window
        alert = own[0]
        assert alert.kind == pb.ALERT_KIND_REFERENCE and alert.label == "flagged cat" and alert.bank == "photos-a"
        assert alert.stream_id == "photo-stream-a" and alert.modality == pb.MODALITY_FRAME
        assert in_range(alert, PHOTO_SECONDS, 2 * PHOTO_SECONDS), alert
        assert pb.MATCH_METHOD_EMBEDDING in alert.methods and alert.cosine >= BANK_MIN_COSINE
        with Image.open(io.BytesIO(alert.thumbnail_jpeg)) as thumbnail:
            assert thumbnail.format == "JPEG" and thumbnail.width > thumbnail.height  # 16:9 restored
        for watcher in (first, second):
            seen = [a for a in watcher.wait_for(1) if a.match_id == added.item.item_id]
            assert [a.alert_id for a in seen] == [alert.alert_id]
        # Nothing matched the unrelated photos before and after it.
        assert not [a for a in first.alerts if a.stream_id == "photo-stream-a" and not in_range(a, 3.0, 6.0)]
    finally:
        first.close()
        second.close()


def test_unrelated_photos_raise_no_alert(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    add_item(stub, jpeg(skimage_photo("astronaut")), "photos-b", "flagged astronaut", archive_window=-1)
    others = [skimage_photo(name) for name in ("coffee", "rocket", "hubble_deep_field")]
    video = slideshow(tmp_path, "s", others)
    events = ingest(stub, video, "photo-stream-b")
    assert [a for a in alerts_of(events) if a.bank == "photos-b"] == []
    assert any(e.WhichOneof("event") == "summary" and e.summary.frames_indexed >= 8 for e in events)


def test_a_new_bank_item_is_matched_against_the_archive(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    camera = skimage_photo("camera")
    camera_rgb = np.ascontiguousarray(camera)
    video = slideshow(tmp_path, "s", [skimage_photo("coffee"), altered_copy(camera_rgb)])
    ingest(stub, video, "archive-stream")
    watcher = Watcher(stub, pb.WatchRequest(stream_ids=["archive-stream"]))
    try:
        response = add_item(stub, jpeg(camera_rgb), "photos-d", "flagged camera man")  # default window: 24 h
        assert response.archive_alerts >= 1
        alerts = [a for a in watcher.wait_for(1) if a.match_id == response.item.item_id]
        assert alerts and all(a.from_archive for a in alerts)
        assert in_range(alerts[0], PHOTO_SECONDS, 2 * PHOTO_SECONDS) and alerts[0].stream_id == "archive-stream"
    finally:
        watcher.close()
    # archive_window < 0: no archive search.
    assert add_item(stub, jpeg(camera_rgb), "photos-d", "again", archive_window=-1).archive_alerts == 0


# -- reference banks: audio -----------------------------------------------------------------


# -- standing queries -------------------------------------------------------------------------


def test_standing_query_fires_on_the_spoken_phrase_with_its_transcript(
    stub: vigil_pb2_grpc.VigilStub, tmp_path: Path
) -> None:
    hit = stub.AddStandingQuery(pb.AddStandingQueryRequest(text="the lighthouse keeper painted the door"))
    miss = stub.AddStandingQuery(
        pb.AddStandingQueryRequest(text="the price of oil fell sharply on the stock market", label="markets")
    )
    assert hit.threshold == pytest.approx(3.5) and miss.label == "markets"
    video = pattern_video(tmp_path, 10.0, [Utterance(PHRASE, PHRASE_AT)])
    alerts = alerts_of(ingest(stub, video, "talk-stream"))
    fired = [a for a in alerts if a.match_id == hit.query_id]
    assert len(fired) == 1, alerts
    alert = fired[0]
    assert alert.kind == pb.ALERT_KIND_QUERY and alert.modality == pb.MODALITY_SPEECH
    assert "painted the door" in alert.text.lower() and abs(alert.start - PHRASE_AT) <= 1.0
    assert alert.score >= hit.threshold
    assert [a for a in alerts if a.match_id == miss.query_id] == []
    listed = {q.query_id for q in stub.ListStandingQueries(pb.ListStandingQueriesRequest()).queries}
    assert {hit.query_id, miss.query_id} <= listed
    for q in (hit, miss):
        stub.RemoveStandingQuery(pb.RemoveStandingQueryRequest(query_id=q.query_id))


def test_a_negative_example_stops_a_query_firing(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    coffee = skimage_photo("coffee")
    cup = pb.QueryExample(image=jpeg(coffee))
    plain = stub.AddStandingQuery(
        pb.AddStandingQueryRequest(text="a cup of coffee", examples=[cup], modalities=[pb.MODALITY_FRAME])
    )
    negated = stub.AddStandingQuery(
        pb.AddStandingQueryRequest(
            text="a cup of coffee", negatives=[cup], modalities=[pb.MODALITY_FRAME], stream_ids=["coffee-stream"]
        )
    )
    assert plain.example_count == 1 and negated.negative_count == 1
    alerts = alerts_of(ingest(stub, slideshow(tmp_path, "s", [coffee]), "coffee-stream"))
    assert [a.match_id for a in alerts if a.kind == pb.ALERT_KIND_QUERY] == [plain.query_id]
    for q in (plain, negated):
        stub.RemoveStandingQuery(pb.RemoveStandingQueryRequest(query_id=q.query_id))


# -- persistence and errors ------------------------------------------------------------------


def test_a_watcher_that_vanishes_does_not_disturb_the_others(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    rocket = skimage_photo("rocket")
    item = add_item(stub, jpeg(rocket), "photos-e", "flagged rocket e", archive_window=-1).item
    gone, staying = Watcher(stub), Watcher(stub, pb.WatchRequest(banks=["photos-e"]))
    gone.close()
    try:
        ingest(stub, slideshow(tmp_path, "s", [rocket]), "vanish-stream")
        assert [a.match_id for a in staying.wait_for(1)] == [item.item_id]
        assert staying.error is None
    finally:
        staying.close()
