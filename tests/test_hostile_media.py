"""Hostile media against the in-process server (fake models; real gRPC, ffmpeg and Milvus Lite).

Each test is one finding of issue 9's hostile probe: damaged media that hung a call, small files
that cost a day of frames or hundreds of MiB, idle calls that held every stream slot, and pipes
and processes left behind by cancelled calls. Media are made once by ffmpeg (tests/hostile_media.py).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.hostile_media import (
    HostileMedia,
    bit_flipped,
    chunk_requests,
    fd_count,
    ingest,
    make_media,
    unary_outcome,
)
from tests.inprocess import InProcessServer
from tests.polling import wait_until
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_server.decode import MAX_FRAME_GAP_S, DecodeSettings, MediaDecoder
from vigil_server.errors import InvalidMedia

OK, INVALID = grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT
IDLE_S = 3.0
STALL_S = 5.0
MAX_STREAMS = 4
# Bit-flip seeds of the FLV tried as a stream and as a search clip (seed 145 of a similar FLV once made 4,195 frames).
FLV_SEEDS = range(8)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> HostileMedia:
    return make_media(tmp_path_factory.mktemp("hostile-media"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    args = ["--stream-idle-timeout", f"{IDLE_S:g}", "--decode-stall-timeout", f"{STALL_S:g}",
            "--max-spool-mib", "1", "--max-streams", str(MAX_STREAMS)]  # fmt: skip
    server = InProcessServer(tmp_path_factory.mktemp("hostile-server"), args).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(server: InProcessServer) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


# -- amplification and hangs


@pytest.mark.parametrize(("name", "fmt"), [("jump.mkv", "matroska"), ("jump.flv", "flv")])
def test_a_one_day_timestamp_jump_costs_seconds_of_frames_not_a_day(
    stub: vigil_pb2_grpc.VigilStub, media: HostileMedia, name: str, fmt: str
) -> None:
    # 2 s of video, a one-day jump, 2 s more: at 1 fps that was 86,403 frames.
    outcome = ingest(stub, f"jump-{fmt}", fmt, media.read(name), frame_rate=1.0)
    assert outcome.code == OK, outcome.details
    assert outcome.summary is not None
    assert 4 <= outcome.summary.frames_indexed <= 4 + MAX_FRAME_GAP_S + 1
    assert outcome.summary.media_seconds < 60


@pytest.mark.parametrize("seed", FLV_SEEDS)
def test_a_bit_flipped_flv_ends_in_bounded_time_as_a_stream_and_as_a_search_clip(
    stub: vigil_pb2_grpc.VigilStub, media: HostileMedia, seed: int
) -> None:
    damaged = bit_flipped(media.read("clip.flv"), seed)
    began = time.monotonic()
    outcome = ingest(stub, f"flipped-flv-{seed}", "flv", damaged, frame_rate=1.0, timeout=120)
    assert outcome.code in (OK, INVALID), outcome.details
    if outcome.summary is not None:
        assert outcome.summary.frames_indexed <= 4 + 4 * MAX_FRAME_GAP_S  # a few gaps, never a day
    search = vigil_pb2.SearchRequest(video=vigil_pb2.MediaClip(data=damaged, format="flv"), top_k=3)
    found = unary_outcome(stub.Search, search, timeout=120)
    assert found.code in (OK, INVALID), found.details
    assert time.monotonic() - began < 240  # generous: the machine is shared; a hang ran into the deadline


def test_a_decoder_that_makes_no_progress_is_stopped_by_the_watchdog(media: HostileMedia, tmp_path: Path) -> None:
    stuck = tmp_path / "stuck-ffmpeg"
    stuck.write_text("#!/bin/sh\nexec sleep 600\n")  # reads nothing, writes nothing: a decoder stuck for good
    stuck.chmod(0o755)
    data = media.read("clip.mkv")

    async def decode(settings: DecodeSettings, chunk: bytes) -> None:
        decoder = MediaDecoder("matroska", 1.0, settings)

        async def feed() -> None:
            await decoder.feed(chunk)
            await decoder.finish()
            await decoder.wait()

        async def drain(reader: Any) -> None:
            async for _ in reader:
                pass

        try:
            await asyncio.wait_for(asyncio.gather(feed(), drain(decoder.frames()), drain(decoder.audio())), 60)
        finally:
            await decoder.close()

    began = time.monotonic()
    with pytest.raises(InvalidMedia, match=r"ffmpeg made no progress.*--decode-stall-timeout"):
        asyncio.run(decode(DecodeSettings(ffmpeg=str(stuck), stall_s=1.0), data))
    with pytest.raises(InvalidMedia, match=r"ffprobe made no progress.*--decode-stall-timeout"):
        asyncio.run(decode(DecodeSettings(ffprobe=str(stuck), stall_s=1.0), data * 40))  # more than its pipe holds
    assert time.monotonic() - began < 50


def test_the_watchdog_leaves_a_decoder_alone_while_the_server_holds_it_up(media: HostileMedia) -> None:
    async def decode() -> int:
        decoder = MediaDecoder("matroska", 10.0, DecodeSettings(stall_s=0.5))
        frames = 0

        async def feed() -> None:
            await decoder.feed(media.read("clip.mkv"))
            await decoder.finish()

        async def read_frames() -> None:
            nonlocal frames
            async for _ in decoder.frames():
                frames += 1
                if frames == 1:
                    await asyncio.sleep(3.0)  # the server's side is slow: ffmpeg waits for us, not we for it

        async def read_audio() -> None:
            async for _ in decoder.audio():
                pass

        try:
            await asyncio.gather(feed(), read_frames(), read_audio())
            await decoder.wait()
        finally:
            await decoder.close()
        return frames

    assert asyncio.run(decode()) == 40


# -- pictures and spool


def test_pictures_over_the_pixel_limit_are_refused_naming_the_field(
    stub: vigil_pb2_grpc.VigilStub, media: HostileMedia
) -> None:
    for name in ("7000.png", "20000.png"):  # 49 MP; and 400 MP declared by a 92-byte file (PIL's bomb error)
        outcome = unary_outcome(stub.Search, vigil_pb2.SearchRequest(image=media.read(name)))
        assert outcome.code == INVALID, (name, outcome)
        assert "image" in outcome.details and "40 MP" in outcome.details, outcome.details
        header = vigil_pb2.BankItemHeader(bank="bombs", kind=vigil_pb2.REFERENCE_KIND_IMAGE, label=name)
        chunk = vigil_pb2.MediaChunk(sequence=0, data=media.read(name))
        requests = [vigil_pb2.AddBankItemRequest(header=header), vigil_pb2.AddBankItemRequest(chunk=chunk)]
        try:
            stub.AddBankItem(iter(requests), timeout=60)
            code, details = OK, ""
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
        assert code == INVALID and "chunk.data" in details and "40 MP" in details, (name, code, details)
    assert unary_outcome(stub.Search, vigil_pb2.SearchRequest(image=media.read("small.png"))).code == OK


def test_video_frames_over_the_pixel_limit_are_refused(stub: vigil_pb2_grpc.VigilStub, media: HostileMedia) -> None:
    outcome = ingest(stub, "huge-frames", "matroska", media.read("huge-frames.mkv"))
    assert outcome.code == INVALID and "8000x6000" in outcome.details and "40 MP" in outcome.details, outcome
    clip = vigil_pb2.SearchRequest(video=vigil_pb2.MediaClip(data=media.read("huge-frames.mkv"), format="matroska"))
    assert unary_outcome(stub.Search, clip).code == INVALID


def test_a_plain_mp4_spooled_past_the_limit_ends_naming_the_flag(
    stub: vigil_pb2_grpc.VigilStub, media: HostileMedia, server: InProcessServer
) -> None:
    data = media.read("plain.mp4")  # about 3.4 MiB, mdat first; the server spools at most 1 MiB
    assert data[4:8] == b"ftyp" and len(data) > 2 << 20
    spool = server.data_dir / "spool"
    outcome = ingest(stub, "plain-mp4", "mp4", data)
    assert outcome.code == grpc.StatusCode.RESOURCE_EXHAUSTED, outcome
    assert "--max-spool-mib" in outcome.details and "faststart" in outcome.details
    assert wait_until(lambda: not list(spool.iterdir()), 30)  # the spool file is gone
    assert ingest(stub, "faststart-mp4", "mp4", media.read("clip.mp4")).code == OK


# -- idle calls


def test_idle_ingest_calls_end_and_free_their_stream_slots(stub: vigil_pb2_grpc.VigilStub, media: HostileMedia) -> None:
    release = threading.Event()

    def config_only(stream_id: str) -> Iterator[vigil_pb2.IngestRequest]:
        yield vigil_pb2.IngestRequest(config=vigil_pb2.StreamConfig(stream_id=stream_id, format="matroska"))
        release.wait(120)  # keeps the request stream open, sending nothing

    calls = [stub.Ingest(config_only(f"idle-{i}"), timeout=120) for i in range(MAX_STREAMS)]
    try:
        time.sleep(IDLE_S / 3)  # the idle calls hold every slot now
        assert ingest(stub, "while-idle", "matroska", media.read("clip.mkv")).code == grpc.StatusCode.RESOURCE_EXHAUSTED
        for call in calls:
            with pytest.raises(grpc.RpcError) as ended:
                list(call)
            assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "--stream-idle-timeout" in (ended.value.details() or "")
    finally:
        release.set()
    assert ingest(stub, "after-idle", "matroska", media.read("clip.mkv")).code == OK


def test_uploads_that_stop_sending_end(stub: vigil_pb2_grpc.VigilStub) -> None:
    """AddBankItem and MatchFile after their header, idle: the call ends instead of holding its handler."""
    release = threading.Event()

    def header_then_nothing(first: object) -> Iterator[object]:
        yield first
        release.wait(120)

    image = vigil_pb2.REFERENCE_KIND_IMAGE
    calls = [
        lambda: stub.AddBankItem(header_then_nothing(vigil_pb2.AddBankItemRequest(
            header=vigil_pb2.BankItemHeader(bank="idle", kind=image))), timeout=120),
        lambda: stub.MatchFile(header_then_nothing(vigil_pb2.MatchFileRequest(
            header=vigil_pb2.MatchFileHeader(kind=image))), timeout=120),
    ]  # fmt: skip
    try:
        for call in calls:
            with pytest.raises(grpc.RpcError) as ended:
                call()
            assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert "--stream-idle-timeout" in (ended.value.details() or "")  # the server's, not the client's deadline
    finally:
        release.set()


def test_an_ingest_call_that_never_sends_its_config_ends(stub: vigil_pb2_grpc.VigilStub) -> None:
    release = threading.Event()

    def nothing() -> Iterator[vigil_pb2.IngestRequest]:
        release.wait(120)
        yield from ()

    try:
        with pytest.raises(grpc.RpcError) as ended:
            list(stub.Ingest(nothing(), timeout=120))
    finally:
        release.set()
    assert ended.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "no config arrived" in (ended.value.details() or "")


# -- leaks


def start_backed_up(stub: vigil_pb2_grpc.VigilStub, media: HostileMedia, stream_id: str) -> Any:
    """An Ingest call whose events are not read: its queue fills, its frames wait, ffmpeg's output backs up."""
    config = vigil_pb2.StreamConfig(stream_id=stream_id, format="mpegts", frame_rate=30.0)
    call = stub.Ingest(chunk_requests(config, media.read("clip.ts") * 8, 16 << 10), timeout=120)
    next(call)
    return call


def test_ingests_cancelled_while_ffmpeg_output_is_backed_up_leave_no_fd_or_process(
    stub: vigil_pb2_grpc.VigilStub, media: HostileMedia, server: InProcessServer
) -> None:
    assert ingest(stub, "warm-up", "mpegts", media.read("clip.ts")).code == OK
    assert wait_until(lambda: not server.children(), 30)
    baseline = fd_count()
    for round_ in range(3):
        calls = [start_backed_up(stub, media, f"backed-up-{round_}-{i}") for i in range(MAX_STREAMS)]
        time.sleep(1.5)  # nobody reads their events
        assert server.children(), "the ffmpegs should still be running"
        for call in calls:
            call.cancel()
        assert server.service is not None
        assert wait_until(lambda: server.service is not None and server.service.admission.active == 0, 60)
    assert wait_until(lambda: not server.children(), 60), server.children()
    assert wait_until(lambda: fd_count() <= baseline + 6, 60), (fd_count(), baseline)  # 12 leaks: 12+ fds


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + (" [traceback]" if record.exc_info else ""))


def test_a_server_stopped_with_calls_in_flight_logs_no_traceback(
    tmp_path: Path, media: HostileMedia, monkeypatch: pytest.MonkeyPatch
) -> None:
    unraisable: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda hook: unraisable.append(f"{hook.exc_type}: {hook.exc_value}"))
    recorder = Recorder()
    logging.getLogger().addHandler(recorder)
    try:
        server = InProcessServer(tmp_path / "data", ["--stream-idle-timeout", "60"]).start()
        with grpc.insecure_channel(server.address) as channel:
            stub = vigil_pb2_grpc.VigilStub(channel)
            calls = [start_backed_up(stub, media, f"at-stop-{i}") for i in range(3)]
            time.sleep(1.0)
            server.stop(60)
            for call in calls:
                call.cancel()
        assert not server.alive()
        gc.collect()
    finally:
        logging.getLogger().removeHandler(recorder)
    bad = [line for line in recorder.lines if "traceback" in line or "loop is closed" in line or "InvalidState" in line]
    assert not bad and not unraisable, (bad, unraisable)
