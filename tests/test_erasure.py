"""Erasure and retention on the in-process server (fake models; real gRPC, ffmpeg, Milvus Lite, PDQ hashes):
DeleteSegments and DeleteStream forget segments, words, copy descriptors, archived hashes and alerts, across a
restart too, and leave other streams alone; bad requests and live streams are refused; retention with a moved
clock erases an old stream and keeps a new one.

Each stream shows three photos (coffee, rocket, chelsea: 3 s each, full frame, so PDQ hashes them) over tones
the fake transcriber hears as words: "alpha" at 0.5 s, "bravo" at 3.5 s, "charlie" at 6.5 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from scripts.sample_media import skimage_photo, tone_video
from tests.api_keys import KeySpec, write_key_file
from tests.inprocess import InProcessServer
from tests.moderation_media import CHUNK, add_item, alerts_of, full_frame, ingest, jpeg
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_client import error_details
from vigil_client.connection import BearerToken
from vigil_server.identity import Role
from vigil_server.types import DEFAULT_TENANT

Stub = vigil_pb2_grpc.VigilStub
PHOTOS = ("coffee", "rocket", "chelsea")
SLIDE_S = 3.0
WORDS = {"alpha": 0.5, "bravo": 3.5, "charlie": 6.5}  # word -> when its tone starts (1 s long)
TONES = [(440.0, 0.5, 1.0), (550.0, 3.5, 1.0), (660.0, 6.5, 1.0)]  # tests/fakes.py TONE_WORDS
# Copy descriptors only match identical pictures, so every picture match here is PDQ's (an archived hash).
ARGS = ["--alert-window", "600", "--bank-min-cosine", "1.0"]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("erasure-media")
    slides = [(full_frame(skimage_photo(name)), SLIDE_S) for name in PHOTOS]
    return tone_video(out, slides, TONES, size="640x360", name="photos")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = InProcessServer(tmp_path_factory.mktemp("erasure-data"), ARGS).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stub(server: InProcessServer) -> Iterator[Stub]:
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


# -- helpers ------------------------------------------------------------------------------------------


def segments(stub: Stub, stream_id: str) -> list[pb.Segment]:
    found: list[pb.Segment] = []
    token = ""
    while True:
        page = stub.ListSegments(pb.ListSegmentsRequest(stream_id=stream_id, page_token=token), timeout=60)
        found += page.segments
        token = page.next_page_token
        if not token:
            return found


def keyword_streams(stub: Stub, word: str) -> list[str]:
    """The streams of the segments a keyword-only search finds."""
    request = pb.SearchRequest(keywords=[word], keyword_mode=pb.KEYWORD_MODE_ONLY, top_k=100)
    return sorted(m.segment.stream_id for m in stub.Search(request, timeout=60).matches)


def stored_alerts(stub: Stub, stream_id: str) -> list[pb.Alert]:
    return list(stub.ListAlerts(pb.ListAlertsRequest(stream_ids=[stream_id], page_size=1000), timeout=60).alerts)


def searchable(stub: Stub, segment_id: str) -> bool:
    """Whether a segment can still be searched by (Search by segment id: NOT_FOUND once it is gone)."""
    try:
        stub.Search(pb.SearchRequest(segment_id=segment_id, top_k=5), timeout=60)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND, error
        return False
    return True


def copies_of(server: InProcessServer, stream_id: str) -> int:
    """Copy descriptors the store still holds for a stream (read straight from the segment index)."""
    assert server.service is not None
    index = server.service.index
    probe = np.ones(index.descriptor_dim, dtype=np.float32) / np.sqrt(index.descriptor_dim)
    return sum(m.segment.stream_id == stream_id for m in index.search_copies(probe, DEFAULT_TENANT, 0, 1000))


def failure(call: Callable[..., object], request: object) -> tuple[grpc.StatusCode, list[str]]:
    with pytest.raises(grpc.RpcError) as info:
        call(request, timeout=60)
    return info.value.code(), [f for f, _ in error_details(info.value).field_violations]


def in_stretch(segment: pb.Segment, start: float, end: float) -> bool:
    return (segment.end > start or segment.start >= start) and segment.start < end


# -- the tests ----------------------------------------------------------------------------------------


def test_delete_segments_then_stream_forget_everything_and_spare_the_other_stream(
    server: InProcessServer, stub: Stub, video: Path
) -> None:
    coffee, rocket, chelsea = (jpeg(skimage_photo(name)) for name in PHOTOS)
    coffee_item = add_item(stub, coffee, "erase-live", "coffee", archive_window=-1).item
    rocket_item = add_item(stub, rocket, "erase-live", "rocket", archive_window=-1).item
    for stream_id in ("erase-a", "erase-b"):
        raised = {a.match_id for a in alerts_of(ingest(stub, video, stream_id))}
        assert {coffee_item.item_id, rocket_item.item_id} <= raised, raised
    before = {s: segments(stub, s) for s in ("erase-a", "erase-b")}
    assert keyword_streams(stub, "alpha") == ["erase-a", "erase-b"]
    listed = stored_alerts(stub, "erase-a")
    assert listed and copies_of(server, "erase-a") > 0

    # A stretch: the first photo (coffee) and the word said over it.
    response = stub.DeleteSegments(
        pb.DeleteSegmentsRequest(stream_id="erase-a", time_range=pb.TimeRange(start=0.0, end=SLIDE_S)), timeout=120
    )
    gone = [s for s in before["erase-a"] if in_stretch(s, 0.0, SLIDE_S)]
    kept = [s for s in before["erase-a"] if not in_stretch(s, 0.0, SLIDE_S)]
    assert gone and kept
    assert response.segments_deleted == len(gone)
    assert response.alerts_deleted == len([a for a in listed if a.start < SLIDE_S]) >= 1  # the coffee alert at 0 s
    assert response.archive_entries_deleted >= 3  # at least the three coffee frames' PDQ hashes
    assert [s.segment_id for s in segments(stub, "erase-a")] == [s.segment_id for s in kept]
    assert keyword_streams(stub, "alpha") == ["erase-b"] and keyword_streams(stub, "bravo") == ["erase-a", "erase-b"]
    assert not any(searchable(stub, s.segment_id) for s in gone) and searchable(stub, kept[0].segment_id)
    left = stored_alerts(stub, "erase-a")
    assert {a.match_id for a in left} == {rocket_item.item_id}, left
    assert all(a.start >= SLIDE_S for a in left)

    # The whole stream.
    response = stub.DeleteStream(pb.DeleteStreamRequest(stream_id="erase-a"), timeout=120)
    assert response.segments_deleted == len(kept)
    assert response.alerts_deleted == len(left) >= 1  # the stored alerts, as ListAlerts showed them
    assert response.archive_entries_deleted >= 3  # the rocket and chelsea frames' hashes at least
    assert segments(stub, "erase-a") == [] and copies_of(server, "erase-a") == 0
    assert stored_alerts(stub, "erase-a") == []
    for word in WORDS:
        assert keyword_streams(stub, word) == ["erase-b"], word
    assert not any(searchable(stub, s.segment_id) for s in kept)
    # The archive forgot it: a new item of the third photo finds it on the other stream only.
    added = add_item(stub, chelsea, "erase-archive", "chelsea", archive_window=3600)
    assert added.archive_alerts >= 1
    assert stored_alerts(stub, "erase-a") == []
    assert added.item.item_id in {a.match_id for a in stored_alerts(stub, "erase-b")}

    # The other stream is as it was; deleting again (or an unknown stream) deletes nothing.
    assert [s.segment_id for s in segments(stub, "erase-b")] == [s.segment_id for s in before["erase-b"]]
    assert copies_of(server, "erase-b") > 0
    again = stub.DeleteStream(pb.DeleteStreamRequest(stream_id="erase-a"), timeout=120)
    assert (again.segments_deleted, again.alerts_deleted, again.archive_entries_deleted) == (0, 0, 0)
    unknown = stub.DeleteSegments(
        pb.DeleteSegmentsRequest(stream_id="never-seen", time_range=pb.TimeRange(start=0, end=1e9)), timeout=120
    )
    assert (unknown.segments_deleted, unknown.alerts_deleted, unknown.archive_entries_deleted) == (0, 0, 0)


def test_bad_delete_requests_name_the_field(stub: Stub) -> None:
    invalid = grpc.StatusCode.INVALID_ARGUMENT

    def stretch(start: float, end: float, stream_id: str = "erase-b") -> pb.DeleteSegmentsRequest:
        return pb.DeleteSegmentsRequest(stream_id=stream_id, time_range=pb.TimeRange(start=start, end=end))

    assert failure(stub.DeleteSegments, stretch(float("nan"), 5.0)) == (invalid, ["time_range.start"])
    assert failure(stub.DeleteSegments, stretch(0.0, float("inf"))) == (invalid, ["time_range.end"])
    assert failure(stub.DeleteSegments, stretch(5.0, 5.0)) == (invalid, ["time_range.end"])
    assert failure(stub.DeleteSegments, stretch(5.0, 1.0)) == (invalid, ["time_range.end"])
    assert failure(stub.DeleteSegments, pb.DeleteSegmentsRequest(stream_id="erase-b")) == (invalid, ["time_range"])
    assert failure(stub.DeleteSegments, stretch(0.0, 1.0, "bad id!")) == (invalid, ["stream_id"])
    assert failure(stub.DeleteStream, pb.DeleteStreamRequest(stream_id="")) == (invalid, ["stream_id"])
    assert failure(stub.DeleteStream, pb.DeleteStreamRequest(stream_id="x" * 10_000)) == (invalid, ["stream_id"])
    assert segments(stub, "erase-b")  # nothing was erased


def test_a_stream_being_ingested_cannot_be_deleted(stub: Stub, video: Path) -> None:
    data = video.read_bytes()
    release = threading.Event()

    def requests() -> Iterator[pb.IngestRequest]:
        yield pb.IngestRequest(config=pb.StreamConfig(stream_id="erase-live", format="mpegts"))
        yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=0, data=data[:CHUNK]))
        release.wait(120)  # the producer holds the call open
        for n, i in enumerate(range(CHUNK, len(data), CHUNK), start=1):
            yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + CHUNK]))

    call = stub.Ingest(requests(), timeout=300)
    try:
        first = next(call)  # the first chunk's ack: the call holds the stream's slot
        assert first.WhichOneof("event") == "ack"
        code, fields = failure(stub.DeleteStream, pb.DeleteStreamRequest(stream_id="erase-live"))
        assert code == grpc.StatusCode.FAILED_PRECONDITION and fields == ["stream_id"]
        stretch = pb.DeleteSegmentsRequest(stream_id="erase-live", time_range=pb.TimeRange(start=0, end=1))
        assert failure(stub.DeleteSegments, stretch)[0] == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        release.set()
    assert any(e.WhichOneof("event") == "summary" for e in call)
    # Once the call has ended the stream can go.
    stored = len(segments(stub, "erase-live"))
    response = stub.DeleteStream(pb.DeleteStreamRequest(stream_id="erase-live"), timeout=120)
    assert response.segments_deleted == stored > 0 and segments(stub, "erase-live") == []


# Runs after the deletions above: it restarts the module's server (a new port, so `stub` is stale afterwards).
def test_erased_data_stays_erased_after_a_restart(server: InProcessServer, stub: Stub) -> None:
    survivors = [s.segment_id for s in segments(stub, "erase-b")]
    server.stop()
    server.start()
    with grpc.insecure_channel(server.address) as channel:
        fresh = vigil_pb2_grpc.VigilStub(channel)
        assert segments(fresh, "erase-a") == [] and stored_alerts(fresh, "erase-a") == []
        assert [s.segment_id for s in segments(fresh, "erase-b")] == survivors
        for word in WORDS:  # the keyword index is read back from the store
            assert keyword_streams(fresh, word) == ["erase-b"], word
        assert copies_of(server, "erase-a") == 0
        rocket = jpeg(skimage_photo("rocket"))
        added = add_item(fresh, rocket, "erase-after-restart", "rocket", archive_window=3600)
        assert added.archive_alerts >= 1
        assert stored_alerts(fresh, "erase-a") == []


def test_retention_erases_what_was_stored_before_the_cutoff(tmp_path: Path, video: Path) -> None:
    args = [*ARGS, "--retention-days", "1", "--retention-check-every", "1"]
    server = InProcessServer(tmp_path / "data", args).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = vigil_pb2_grpc.VigilStub(channel)
            item = add_item(stub, jpeg(skimage_photo("rocket")), "kept", "rocket", archive_window=-1).item
            assert alerts_of(ingest(stub, video, "old-stream"))
            time.sleep(0.05)  # created_at has millisecond resolution
            between = time.time()
            time.sleep(0.05)
            assert alerts_of(ingest(stub, video, "new-stream"))
            new = [s.segment_id for s in segments(stub, "new-stream")]
            assert segments(stub, "old-stream") and stored_alerts(stub, "old-stream")
            assert server.service is not None
            retention = server.service.retention
            assert retention.passes >= 1  # the first pass ran at start, with the real clock: nothing to erase

            # A day later, as far as retention knows.
            passes = retention.passes
            retention.clock = lambda: between + 86400.0
            deadline = time.monotonic() + 120
            while retention.passes < passes + 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            assert retention.passes >= passes + 2, "no retention pass ran with the moved clock"

            assert segments(stub, "old-stream") == [] and stored_alerts(stub, "old-stream") == []
            assert copies_of(server, "old-stream") == 0
            assert [s.segment_id for s in segments(stub, "new-stream")] == new
            assert {a.match_id for a in stored_alerts(stub, "new-stream")} >= {item.item_id}
            for word in WORDS:
                assert keyword_streams(stub, word) == ["new-stream"], word
            added = add_item(stub, jpeg(skimage_photo("coffee")), "later", "coffee", archive_window=3600)
            assert added.archive_alerts >= 1
            assert stored_alerts(stub, "old-stream") == []  # its archived hashes went with it
    finally:
        server.stop()


def test_a_tenants_own_retention_period_applies_to_it_alone(tmp_path: Path, video: Path) -> None:
    """The key file gives one tenant a day of retention; the server keeps everything else for ever. Both
    tenants ingest a stream of the same id; a day later only the short-lived tenant's is gone."""
    keys = tmp_path / "keys.json"
    specs = [KeySpec("short", "short-lived", Role.ADMIN), KeySpec("long", "long-lived", Role.ADMIN)]
    tokens = write_key_file(keys, specs, tenants={"short-lived": {"retention_days": 1}})
    args = [*ARGS, "--api-keys", str(keys), "--retention-check-every", "1"]
    server = InProcessServer(tmp_path / "data", args).start()
    channels = {name: grpc.intercept_channel(grpc.insecure_channel(server.address), BearerToken(token))
                for name, token in tokens.items()}  # fmt: skip
    try:
        stubs = {name: vigil_pb2_grpc.VigilStub(channel) for name, channel in channels.items()}
        for stub in stubs.values():
            ingest(stub, video, "cam-1")
        kept = {name: [s.segment_id for s in segments(stub, "cam-1")] for name, stub in stubs.items()}
        assert kept["short"] and kept["long"] and not set(kept["short"]) & set(kept["long"])
        assert server.service is not None
        retention = server.service.retention
        passes = retention.passes
        retention.clock = lambda: time.time() + 2 * 86400.0
        deadline = time.monotonic() + 120
        while retention.passes < passes + 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert retention.passes >= passes + 2, "no retention pass ran with the moved clock"
        assert segments(stubs["short"], "cam-1") == []
        assert [s.segment_id for s in segments(stubs["long"], "cam-1")] == kept["long"]
    finally:
        for channel in channels.values():
            channel.close()
        server.stop()
