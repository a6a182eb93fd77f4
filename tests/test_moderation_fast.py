"""Moderation through the in-process server with fake models (tests/inprocess.py): the parts that
need no real model: PDQ and Chromaprint matching (real hashes of real media), hash lists, errors,
abandoned uploads, persistence across a restart. tests/test_moderation.py has the real-model ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from scripts.sample_media import run_ffmpeg, skimage_photo, soundtrack_video
from tests.inprocess import InProcessServer
from tests.moderation_media import (
    MUSIC,
    PHOTO_SECONDS,
    add_item,
    alerts_of,
    full_frame,
    in_range,
    ingest,
    jpeg,
    music_stream,
    slideshow,
)
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_models.hashing import PDQ_MATCH_DISTANCE, pdq_hash


@pytest.fixture(scope="module")
def mod_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    server = InProcessServer(tmp_path_factory.mktemp("moderation-fast-data"), ["--alert-window", "600"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(mod_server: InProcessServer) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(mod_server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


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


# Last: it restarts the module's server (a new port), so the `stub` fixture is stale afterwards.
def test_queries_banks_and_hashes_survive_a_restart(
    mod_server: InProcessServer, stub: vigil_pb2_grpc.VigilStub, tmp_path: Path
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
