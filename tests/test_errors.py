"""Bad input gets a clear status, never takes the server down, and never leaks ffmpeg."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.conftest import Media
from tests.inprocess import InProcessServer
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import VigilClient, error_details

CHUNK = 16 << 10
Server = InProcessServer | ServerProcess


@pytest.fixture(scope="module")
def server(fast_server: InProcessServer) -> InProcessServer:
    """Errors need no real models: the in-process server with fake ones."""
    return fast_server


def config(stream_id: str, fmt: str = "mpegts", **fields: object) -> vigil_pb2.IngestRequest:
    return vigil_pb2.IngestRequest(config=vigil_pb2.StreamConfig(stream_id=stream_id, format=fmt, **fields))


def chunk(sequence: int, data: bytes) -> vigil_pb2.IngestRequest:
    return vigil_pb2.IngestRequest(chunk=vigil_pb2.MediaChunk(sequence=sequence, data=data))


def file_chunks(path: Path, first: int = 0) -> Iterator[vigil_pb2.IngestRequest]:
    data = path.read_bytes()
    for i in range(0, len(data), CHUNK):
        yield chunk(first + i // CHUNK, data[i : i + CHUNK])


def call_ingest(server: Server, requests: Iterator[vigil_pb2.IngestRequest]) -> tuple[list, grpc.RpcError | None]:  # type: ignore[type-arg]
    events = []
    with grpc.insecure_channel(server.address) as channel:
        try:
            for event in vigil_pb2_grpc.VigilStub(channel).Ingest(requests, timeout=120):
                events.append(event)
        except grpc.RpcError as error:
            return events, error
    return events, None


def assert_still_serving(server: Server) -> None:
    assert server.alive(), "server died"
    assert server.health() == 1  # SERVING
    with VigilClient(server.address) as client:
        client.search("anything", top_k=1)
    deadline = time.monotonic() + 10
    while server.children() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.children() == [], "leaked decoder processes"


@pytest.mark.parametrize(
    ("requests", "message"),
    [
        ([chunk(0, b"abc")], "first IngestRequest must carry a config"),
        ([], "first IngestRequest must carry a config"),
        ([config("x", "avi3"), chunk(0, b"abc")], "format 'avi3' is not supported"),
        ([config("bad id with spaces")], "stream_id"),
        ([config("pcm", "s16le")], "sample_rate"),
        ([config("fr", frame_rate=120.0)], "frame_rate"),
        ([config("lang", language="English")], "ISO 639-1"),
        ([config("twice"), config("twice")], "only the first IngestRequest may carry a config"),
        ([config("gap"), chunk(0, b"\x47" * 188), chunk(2, b"\x47" * 188)], "chunk sequence 2 where 1 was expected"),
    ],
)
def test_bad_requests_are_invalid_argument(server: Server, requests: list, message: str) -> None:  # type: ignore[type-arg]
    _, error = call_ingest(server, iter(requests))
    assert error is not None
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert message in (error.details() or "")
    assert_still_serving(server)


@pytest.mark.parametrize(
    ("fmt", "data"), [("mpegts", os.urandom(200_000)), ("mp4", os.urandom(50_000)), ("webm", b"\x1aE" * 5000)]
)
def test_corrupt_media_is_invalid_argument(server: Server, fmt: str, data: bytes) -> None:
    requests = [config(f"corrupt-{fmt}", fmt)] + [
        chunk(i, data[o : o + CHUNK]) for i, o in enumerate(range(0, len(data), CHUNK))
    ]
    _, error = call_ingest(server, iter(requests))
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
    assert fmt.replace("mp4", "MP4") in (error.details() or "") or fmt in (error.details() or "")
    assert_still_serving(server)


def test_format_that_does_not_match_the_bytes(server: Server, media: Media) -> None:
    _, error = call_ingest(server, iter([config("mismatch", "webm"), *file_chunks(media.pattern())]))
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "check that the config's format matches the bytes" in (error.details() or "")
    assert_still_serving(server)


def test_empty_stream_is_invalid_argument(server: Server) -> None:
    _, error = call_ingest(server, iter([config("empty")]))
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ended before any media arrived" in (error.details() or "")


@pytest.mark.parametrize("size", [5 << 20, 20 << 20])  # over the 4 MiB chunk limit; over the message limit
def test_oversized_chunk_is_resource_exhausted(server: Server, size: int) -> None:
    _, error = call_ingest(server, iter([config("huge"), chunk(0, b"\x47" * size)]))
    assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
    assert_still_serving(server)


def test_corruption_after_good_media_keeps_what_was_acknowledged(server: Server, media: Media) -> None:
    good = list(file_chunks(media.pattern()))
    garbage = [chunk(len(good) + i, os.urandom(CHUNK)) for i in range(8)]
    events, _ = call_ingest(server, iter([config("half-good"), *good, *garbage]))
    indexed = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"]
    assert len(indexed) >= 5
    with VigilClient(server.address) as client:
        stored = {m.segment.segment_id for m in client.search("test pattern", stream_ids=["half-good"], top_k=100)}
    assert {s.segment_id for s in indexed} <= stored
    assert_still_serving(server)


@contextlib.contextmanager
def stream_held_open(server: Server, media: Media, stream_id: str) -> Iterator[None]:
    """An Ingest call that sends two chunks and then waits, holding its stream slot, for the block's length."""
    release = threading.Event()

    def slow() -> Iterator[vigil_pb2.IngestRequest]:
        yield config(stream_id)
        yield from list(file_chunks(media.pattern()))[:2]
        release.wait(30)

    first = threading.Thread(target=lambda: call_ingest(server, slow()))
    first.start()
    time.sleep(1.5)
    try:
        yield
    finally:
        release.set()
        first.join(60)


def test_concurrent_ingest_of_one_stream_id_is_refused(server: Server, media: Media) -> None:
    with stream_held_open(server, media, "busy"):
        _, error = call_ingest(server, iter([config("busy"), *file_chunks(media.pattern())]))
    assert error is not None and error.code() == grpc.StatusCode.ALREADY_EXISTS, error
    assert_still_serving(server)


def test_client_vanishing_mid_stream_cleans_up(server: Server, media: Media) -> None:
    sent = threading.Event()

    def requests() -> Iterator[vigil_pb2.IngestRequest]:
        yield config("vanish")
        yield from list(file_chunks(media.pattern()))[:3]
        sent.set()
        time.sleep(60)  # never half-closes: the client goes away instead

    with grpc.insecure_channel(server.address) as channel:
        call = vigil_pb2_grpc.VigilStub(channel).Ingest(requests(), timeout=120)
        first = next(call)
        assert first.WhichOneof("event") == "ack"
        assert sent.wait(10)
        deadline = time.monotonic() + 10
        while not server.children() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(server.children()) & {"ffmpeg", "ffprobe"}, "the decoder should be running mid-stream"
        call.cancel()
    assert_still_serving(server)
    # The stream id is free again once the vanished call was cleaned up.
    events, error = call_ingest(server, iter([config("vanish"), *file_chunks(media.pattern())]))
    assert error is None and events[-1].WhichOneof("event") == "summary"


def test_bad_searches(server: Server) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = vigil_pb2_grpc.VigilStub(channel)
        for request, message in [
            (vigil_pb2.SearchRequest(), "needs a query"),
            (vigil_pb2.SearchRequest(text="   "), "non-empty"),
            (vigil_pb2.SearchRequest(text="x", top_k=5000), "top_k"),
            (vigil_pb2.SearchRequest(text="x", modalities=[42]), "unknown modality"),
            (vigil_pb2.SearchRequest(text="x", time_range=vigil_pb2.TimeRange(start=5, end=2)), "time_range"),
            (vigil_pb2.SearchRequest(text="x" * 5000), "limit"),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                stub.Search(request, timeout=30)
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in (caught.value.details() or "")


def test_clients_can_read_the_field_at_fault_and_when_to_retry(server: Server, media: Media, tmp_path: Path) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = vigil_pb2_grpc.VigilStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.Search(vigil_pb2.SearchRequest(text="x", top_k=5000), timeout=30)
        assert error_details(caught.value).field_violations[0][0] == "top_k"
    _, error = call_ingest(server, iter([config("bad id!")]))
    assert error is not None and error_details(error).field_violations[0][0] == "config.stream_id"
    assert error_details(error).retry_after_s is None

    # One stream slot: a second stream is told to retry, and when.
    small = InProcessServer(tmp_path / "data", ["--max-streams", "1"]).start()
    try:
        with stream_held_open(small, media, "holder"):
            _, error = call_ingest(small, iter([config("second"), *file_chunks(media.pattern())]))
        assert error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        retry = error_details(error).retry_after_s
        assert retry is not None and retry > 0
    finally:
        small.stop()
