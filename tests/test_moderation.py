"""Moderation end to end: standing queries, reference banks and alerts on a real server.

One server with its own data directory (so its banks do not leak into other tests), real
packaged media: scikit-image photos, Debian's music-on-hold tracks, espeak-ng speech.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from scripts.sample_media import Utterance, pattern_video, photo_video, run_ffmpeg, skimage_photo, soundtrack_video
from tests.conftest import PHRASE, PHRASE_AT
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_models.hashing import PDQ_MATCH_DISTANCE, pdq_hash
from vigil_server.watchlist import BANK_MIN_COSINE

MUSIC = Path("/usr/share/asterisk/moh")  # Debian asterisk-moh-opsound-wav (scripts/setup.sh installs it)
CHUNK = 64 << 10
PHOTO_SECONDS = 3.0


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


# -- helpers -----------------------------------------------------------------------------------


def jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, "JPEG", quality=quality)
    return out.getvalue()


def altered_copy(image: np.ndarray) -> np.ndarray:
    """A re-upload: resized to 50 %, 5 % cut off each side, re-encoded as JPEG q75."""
    small = Image.fromarray(image).resize((image.shape[1] // 2, image.shape[0] // 2), Image.Resampling.BILINEAR)
    dx, dy = round(small.width * 0.05), round(small.height * 0.05)
    cropped = small.crop((dx, dy, small.width - dx, small.height - dy))
    with Image.open(io.BytesIO(jpeg(np.asarray(cropped), 75))) as decoded:
        return np.asarray(decoded.convert("RGB"))


def full_frame(image: np.ndarray) -> np.ndarray:
    """The photo stretched over a whole 640x360 video frame (no letterbox): what PDQ can match."""
    return np.asarray(Image.fromarray(image).resize((640, 360), Image.Resampling.BILINEAR))


def add_item(
    stub: vigil_pb2_grpc.VigilStub,
    data: bytes,
    bank: str,
    label: str,
    kind: pb.ReferenceKind = pb.REFERENCE_KIND_IMAGE,
    fmt: str = "",
    archive_window: float = 0.0,
) -> pb.AddBankItemResponse:
    def requests() -> Iterator[pb.AddBankItemRequest]:
        header = pb.BankItemHeader(bank=bank, kind=kind, format=fmt, label=label, archive_window=archive_window)
        yield pb.AddBankItemRequest(header=header)
        for n, i in enumerate(range(0, len(data), CHUNK)):
            yield pb.AddBankItemRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + CHUNK]))

    response: pb.AddBankItemResponse = stub.AddBankItem(requests(), timeout=120)
    return response


def ingest(stub: vigil_pb2_grpc.VigilStub, path: Path, stream_id: str) -> list[pb.IngestEvent]:
    data = path.read_bytes()

    def requests() -> Iterator[pb.IngestRequest]:
        yield pb.IngestRequest(config=pb.StreamConfig(stream_id=stream_id, format="mpegts"))
        for n, i in enumerate(range(0, len(data), CHUNK)):
            yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + CHUNK]))

    return list(stub.Ingest(requests(), timeout=300))


def alerts_of(events: list[pb.IngestEvent]) -> list[pb.Alert]:
    return [e.alert for e in events if e.WhichOneof("event") == "alert"]


class Watcher:
    """A Watch call read on a thread; `alerts` fills as they arrive."""

    def __init__(self, stub: vigil_pb2_grpc.VigilStub, request: pb.WatchRequest | None = None):
        self.alerts: list[pb.Alert] = []
        self.call = stub.Watch(request or pb.WatchRequest())
        self.error: grpc.RpcError | None = None
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        self.call.initial_metadata()  # the server sends its headers once the watcher is subscribed

    def _read(self) -> None:
        try:
            for alert in self.call:
                self.alerts.append(alert)
        except grpc.RpcError as error:
            self.error = error

    def wait_for(self, count: int, timeout: float = 30.0) -> list[pb.Alert]:
        deadline = time.monotonic() + timeout
        while len(self.alerts) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return list(self.alerts)

    def close(self) -> None:
        self.call.cancel()
        self._thread.join(5)


def slideshow(tmp: Path, name: str, photos: list[np.ndarray], utterances: list[Utterance] | None = None) -> Path:
    out = tmp / name
    out.mkdir()
    return photo_video(out, [(p, PHOTO_SECONDS) for p in photos], utterances or [])


def in_range(alert: pb.Alert, start: float, end: float) -> bool:
    return start - 1.0 <= alert.start < end


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


def test_pdq_matches_a_full_frame_copy_and_an_imported_hash(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    rocket, coffee = skimage_photo("rocket"), skimage_photo("coffee")
    item = add_item(stub, jpeg(rocket), "photos-c", "flagged rocket", archive_window=-1).item
    # A hash list from elsewhere: the PDQ hash of the coffee photo, with a label.
    hash_line = f"{pdq_hash(coffee).to_hex()},shared coffee hash\n"
    imported = stub.ImportHashes(pb.ImportHashesRequest(bank="shared", hash_list=hash_line, archive_window=-1))
    assert imported.imported == 1
    video = slideshow(tmp_path, "s", [full_frame(coffee), full_frame(rocket)])
    alerts = alerts_of(ingest(stub, video, "photo-stream-c"))
    rocket_alert = next(a for a in alerts if a.match_id == item.item_id)
    assert pb.MATCH_METHOD_PDQ in rocket_alert.methods
    assert rocket_alert.HasField("hash_distance") and rocket_alert.hash_distance <= PDQ_MATCH_DISTANCE
    shared = next(a for a in alerts if a.bank == "shared")
    assert shared.label == "shared coffee hash" and list(shared.methods) == [pb.MATCH_METHOD_PDQ]
    assert in_range(shared, 0.0, PHOTO_SECONDS), shared
    exported = stub.ExportHashes(pb.ExportHashesRequest(bank="shared")).hash_list
    assert pdq_hash(coffee).to_hex() in exported and "shared coffee hash" in exported


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


def music_stream(tmp: Path, clip_at: float, total: float) -> Path:
    """A 640x360 test pattern whose soundtrack is other music, the flagged excerpt at clip_at, other music."""
    out = tmp / "music.ts"
    run_ffmpeg([
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={total}",
        "-ss", "0", "-t", f"{clip_at}", "-i", str(MUSIC / "manolo_camp-morning_coffee.wav"),
        "-ss", "30", "-t", "10", "-i", str(MUSIC / "macroform-cold_day.wav"),
        "-ss", "0", "-t", f"{total - clip_at - 10}", "-i", str(MUSIC / "reno_project-system.wav"),
        "-filter_complex", "[1:a][2:a][3:a]concat=n=3:v=0:a=1,aresample=44100[a]",
        "-map", "0:v", "-map", "[a]", "-t", f"{total}", "-c:v", "libx264", "-preset", "ultrafast",
        "-c:a", "aac", "-f", "mpegts", str(out),
    ])  # fmt: skip
    return out


def test_flagged_audio_clip_is_found_inside_a_longer_stream(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp3"
    run_ffmpeg(["-ss", "30", "-t", "10", "-i", str(MUSIC / "macroform-cold_day.wav"), str(clip)])
    item = add_item(
        stub, clip.read_bytes(), "audio", "flagged song", pb.REFERENCE_KIND_AUDIO, "mp3", archive_window=-1
    ).item
    assert 9.0 <= item.fingerprint_seconds <= 11.0
    events = ingest(stub, music_stream(tmp_path, 17.0, 40.0), "music-stream")
    alerts = [a for a in alerts_of(events) if a.bank == "audio"]
    assert len(alerts) == 1, alerts
    alert = alerts[0]
    assert list(alert.methods) == [pb.MATCH_METHOD_FINGERPRINT] and alert.fingerprint_score >= 0.5
    assert abs(alert.start - 17.0) <= 1.5 and abs(alert.end - 27.0) <= 1.5, alert
    assert not alert.HasField("hash_distance")
    # The same composer's other track does not match.
    other = tmp_path / "other"
    other.mkdir()
    soundtrack = other / "other.wav"
    run_ffmpeg(["-t", "40", "-i", str(MUSIC / "macroform-the_simplicity.wav"), str(soundtrack)])
    events = ingest(stub, soundtrack_video(other, 40.0, soundtrack), "other-music-stream")
    assert [a for a in alerts_of(events) if a.bank == "audio"] == []


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


def test_bad_moderation_requests_get_clear_statuses(stub: vigil_pb2_grpc.VigilStub) -> None:
    def code_of(call: object, *args: object) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as info:
            call(*args, timeout=60)  # type: ignore[operator]
        return info.value.code(), info.value.details()

    invalid = grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(stub.AddStandingQuery, pb.AddStandingQueryRequest())[0] == invalid
    assert code_of(stub.AddStandingQuery, pb.AddStandingQueryRequest(text="x", threshold=99))[0] == invalid
    not_found = grpc.StatusCode.NOT_FOUND
    assert code_of(stub.RemoveStandingQuery, pb.RemoveStandingQueryRequest(query_id="nope"))[0] == not_found
    assert code_of(stub.RemoveBankItem, pb.RemoveBankItemRequest(item_id="nope"))[0] == not_found
    code, message = code_of(stub.ImportHashes, pb.ImportHashesRequest(bank="b", hash_list="ab12 not a hash\n"))
    assert code == invalid and "line 1" in message
    assert code_of(stub.ImportHashes, pb.ImportHashesRequest(bank="bad name!", hash_list="x"))[0] == invalid
    code, message = code_of(stub.AddBankItem, iter([pb.AddBankItemRequest(chunk=pb.MediaChunk(data=b"x"))]))
    assert code == invalid and "header" in message
    header = pb.AddBankItemRequest(header=pb.BankItemHeader(bank="b", kind=pb.REFERENCE_KIND_IMAGE))
    corrupt = pb.AddBankItemRequest(chunk=pb.MediaChunk(sequence=0, data=b"\xff\xd8 not really a jpeg"))
    code, message = code_of(stub.AddBankItem, iter([header, corrupt]))
    assert code == invalid and "cannot be decoded" in message
    gap = pb.AddBankItemRequest(chunk=pb.MediaChunk(sequence=5, data=b"x"))
    assert code_of(stub.AddBankItem, iter([header, gap]))[0] == invalid
    audio = pb.AddBankItemRequest(header=pb.BankItemHeader(bank="b", kind=pb.REFERENCE_KIND_AUDIO, format="pcm"))
    assert code_of(stub.AddBankItem, iter([audio, corrupt]))[0] == invalid
    watch = stub.Watch(pb.WatchRequest(stream_ids=["bad id!"]))
    with pytest.raises(grpc.RpcError) as info:
        next(iter(watch))
    assert info.value.code() == invalid
    # Nothing above was stored, and the server still serves.
    assert not stub.ListBankItems(pb.ListBankItemsRequest(bank="b")).items


def test_an_upload_abandoned_midway_stores_nothing(stub: vigil_pb2_grpc.VigilStub) -> None:
    data = jpeg(skimage_photo("coffee"))
    sent = threading.Event()

    def requests() -> Iterator[pb.AddBankItemRequest]:
        yield pb.AddBankItemRequest(header=pb.BankItemHeader(bank="abandoned", kind=pb.REFERENCE_KIND_IMAGE))
        yield pb.AddBankItemRequest(chunk=pb.MediaChunk(sequence=0, data=data[: len(data) // 2]))
        sent.set()
        time.sleep(30)  # the client goes away before the rest

    future = stub.AddBankItem.future(requests())
    assert sent.wait(10)
    time.sleep(0.5)
    future.cancel()
    assert future.cancelled()
    time.sleep(0.5)
    assert not stub.ListBankItems(pb.ListBankItemsRequest(bank="abandoned")).items


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


# Last: it restarts the module's server (a new port), so the `stub` fixture is stale afterwards.
def test_queries_banks_and_hashes_survive_a_restart(
    mod_server: ServerProcess, stub: vigil_pb2_grpc.VigilStub, tmp_path: Path
) -> None:
    query = stub.AddStandingQuery(pb.AddStandingQueryRequest(text="a rocket launch", threshold=4.0))
    coffee = skimage_photo("coffee")
    item = add_item(stub, jpeg(coffee), "persist", "coffee", archive_window=-1).item
    mod_server.stop()
    mod_server.start().wait_serving()
    with grpc.insecure_channel(mod_server.address) as channel:
        fresh = vigil_pb2_grpc.VigilStub(channel)
        queries = {q.query_id: q for q in fresh.ListStandingQueries(pb.ListStandingQueriesRequest()).queries}
        assert queries[query.query_id].threshold == pytest.approx(4.0)
        items = {i.item_id: i for i in fresh.ListBankItems(pb.ListBankItemsRequest(bank="persist")).items}
        assert list(items) == [item.item_id] and items[item.item_id].pdq_hashes == 8
        alerts = alerts_of(ingest(fresh, slideshow(tmp_path, "s", [full_frame(coffee)]), "after-restart"))
        matched = next(a for a in alerts if a.match_id == item.item_id)
        assert pb.MATCH_METHOD_PDQ in matched.methods  # the hashes came back, not only the vectors
        fresh.RemoveStandingQuery(pb.RemoveStandingQueryRequest(query_id=query.query_id))
        fresh.RemoveBankItem(pb.RemoveBankItemRequest(item_id=item.item_id))
        assert not fresh.ListBankItems(pb.ListBankItemsRequest(bank="persist")).items
