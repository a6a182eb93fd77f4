"""End to end on real parts: a real server on a real port, Milvus Lite, ffmpeg, packaged models.

Media are made in the test session: photos that scikit-image ships, speech from espeak-ng.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.conftest import PHOTO_SECONDS, PHOTOS, PHRASE_AT, Media
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import VigilClient, read_chunks

pytestmark = pytest.mark.slow  # real models

CHUNK = 16 << 10


def ingest(server: ServerProcess, path: Path, stream_id: str, fmt: str) -> list:  # type: ignore[type-arg]
    with VigilClient(server.address, timeout=300) as client, open(path, "rb") as f:
        return list(client.ingest(read_chunks(f, CHUNK), stream_id, fmt, pacing="upload"))


def ingest_paced(server: ServerProcess, path: Path, stream_id: str, fmt: str) -> tuple[list, bool]:  # type: ignore[type-arg]
    """Send half the file, wait (up to 60 s) for a segment event, then send the rest.

    Returns the events and whether a segment was indexed while half the media was still unsent.
    """
    data = path.read_bytes()
    pieces = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]
    segment_seen = threading.Event()
    early = []

    def requests() -> Iterator[vigil_pb2.IngestRequest]:
        yield vigil_pb2.IngestRequest(config=vigil_pb2.StreamConfig(stream_id=stream_id, format=fmt))
        for sequence, piece in enumerate(pieces):
            if sequence == len(pieces) // 2:
                early.append(segment_seen.wait(60))
            yield vigil_pb2.IngestRequest(chunk=vigil_pb2.MediaChunk(sequence=sequence, data=piece))

    events = []
    with grpc.insecure_channel(server.address) as channel:
        for event in vigil_pb2_grpc.VigilStub(channel).Ingest(requests(), timeout=300):
            if event.WhichOneof("event") == "segment":
                segment_seen.set()
            events.append(event)
    return events, early == [True]


def assert_phrase_found(server: ServerProcess, stream_id: str, media: Media) -> None:
    with VigilClient(server.address) as client:
        matches = client.search("the lighthouse keeper painted the door orange", stream_ids=[stream_id], top_k=5)
    top = matches[0].segment
    assert top.modality == "speech", matches
    assert "painted the door" in top.text.lower()
    assert abs(top.start - PHRASE_AT) <= 1.0, top
    assert abs(top.end - (PHRASE_AT + media.phrase_seconds)) <= 1.0, top


def test_spoken_phrase_found_with_its_times(server: ServerProcess, media: Media) -> None:
    events = ingest(server, media.pattern(), "pattern-ts", "mpegts")
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds[-1] == "summary"
    chunks = -(-media.pattern().stat().st_size // CHUNK)
    assert kinds.count("ack") == chunks
    assert [e.ack.sequence for e in events if e.WhichOneof("event") == "ack"] == list(range(chunks))
    summary = events[-1].summary
    assert summary.frames_indexed == 10
    assert summary.speech_segments_indexed >= 1
    assert summary.media_seconds == pytest.approx(10.0, abs=0.5)
    speech = [e.segment.segment for e in events if e.WhichOneof("event") == "segment" and e.segment.segment.text]
    assert any("lighthouse" in s.text.lower() for s in speech)
    assert_phrase_found(server, "pattern-ts", media)


@pytest.mark.parametrize("container", ["mpegts", "mp4-fragmented", "webm", "mp4"])
def test_photo_and_speech_found_in_each_container(server: ServerProcess, media: Media, container: str) -> None:
    fmt = {"mpegts": "mpegts", "webm": "webm"}.get(container, "mp4")
    stream_id = f"slideshow-{container}"
    plain_mp4 = container == "mp4"
    if plain_mp4:
        # The index comes last: nothing can be decoded before the end, so don't wait for it.
        events, early = ingest(server, media.slideshow(container), stream_id, fmt), False
    else:
        events, early = ingest_paced(server, media.slideshow(container), stream_id, fmt)
    summary = events[-1].summary
    assert summary.spooled is plain_mp4, "only plain MP4 (index at the end) needs spooling"
    assert early is not plain_mp4, "streamable containers are indexed while they arrive"
    assert summary.frames_indexed == pytest.approx(len(PHOTOS) * PHOTO_SECONDS, abs=1)
    with VigilClient(server.address) as client:
        for query, photo in [("cat", "chelsea"), ("espresso coffee", "coffee")]:
            matches = client.search(query, stream_ids=[stream_id], modalities=["frame"], top_k=3)
            top = matches[0].segment
            shown_from = PHOTOS.index(photo) * PHOTO_SECONDS
            assert shown_from - 0.5 <= top.start < shown_from + PHOTO_SECONDS, (query, matches)
        any_modality = client.search("cat", stream_ids=[stream_id], top_k=1)[0].segment
        assert any_modality.modality == "frame" and any_modality.start < PHOTO_SECONDS
    assert_phrase_found(server, stream_id, media)


def test_search_filters(server: ServerProcess, media: Media) -> None:
    ingest(server, media.slideshow("mpegts"), "filters", "mpegts")
    with VigilClient(server.address) as client:
        speech_only = client.search("cat", stream_ids=["filters"], modalities=["speech"], top_k=10)
        assert speech_only and all(m.segment.modality == "speech" for m in speech_only)
        late = client.search("cat", stream_ids=["filters"], start=6.0, top_k=50)
        assert late and all(m.segment.end > 6.0 for m in late)
        window = client.search("cat", stream_ids=["filters"], start=2.0, end=4.0, top_k=50)
        assert window and all(m.segment.end > 2.0 and m.segment.start < 4.0 for m in window)
        assert client.search("cat", stream_ids=["no-such-stream"]) == []
        scores = [m.score for m in client.search("cat", top_k=20)]
        assert scores == sorted(scores, reverse=True)
