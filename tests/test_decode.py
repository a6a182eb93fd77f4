"""Decode stage: real ffmpeg on real media made here, fed as a stream of chunks."""

from __future__ import annotations

import asyncio
import glob
import struct
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scripts import sample_media  # not `import pattern_video`: pytest would collect it
from vigil_models import SAMPLE_RATE
from vigil_server.decode import DecodeSettings, MediaDecoder, _Mp4Sniffer
from vigil_server.errors import InvalidMedia, InvalidRequest

DURATION = 4.0  # seconds of every sample file
FRAME_RATE = 2.0  # frames sampled per second
LIVE_DURATION = 8.0  # seconds of the MPEG-TS fed in two halves
CHUNK = 64 << 10


@dataclass
class Decoded:
    frames: list[np.ndarray]
    audio_seconds: float
    spooled: bool


def _children() -> set[int]:
    """Pids of this process's live (or unreaped) children, over all its threads."""
    pids: set[int] = set()
    for path in glob.glob("/proc/self/task/*/children"):
        try:
            with open(path) as f:
                pids |= {int(pid) for pid in f.read().split()}
        except FileNotFoundError:  # the thread ended after the listing
            continue
    return pids


@pytest.fixture(autouse=True)
def no_leftover_children() -> Iterator[None]:
    """Every test here must leave no ffmpeg/ffprobe behind once the decoder is closed."""
    before = _children()
    yield
    assert _children() - before == set()


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One short sample per container (ffmpeg's test pattern, a silent audio track), plus audio-only and video-only."""
    root = tmp_path_factory.mktemp("decode-media")
    files = {
        name: sample_media.pattern_video(root, DURATION, (), container=name, name=name)
        for name in ("mpegts", "mp4", "mp4-faststart", "mp4-fragmented", "webm")
    }
    files["live"] = sample_media.pattern_video(root, LIVE_DURATION, (), container="mpegts", name="live")
    files["wav"] = root / "tone.wav"
    _ffmpeg("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={DURATION}", str(files["wav"]))
    files["s16le"] = root / "tone.s16le"
    _ffmpeg(
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=22050:duration={DURATION}",
        "-ac", "2", "-f", "s16le", str(files["s16le"]),
    )  # fmt: skip
    files["silent-video"] = root / "silent.ts"
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={DURATION}",
        "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-an", "-f", "mpegts",
        str(files["silent-video"]),
    )  # fmt: skip
    return files


def _chunks(data: bytes, size: int = CHUNK) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


async def _decode(decoder: MediaDecoder, chunks: Sequence[bytes]) -> Decoded:
    """Feed the chunks while reading frames and audio concurrently, as ingest does; always close."""
    frames: list[np.ndarray] = []
    samples = 0

    async def feed() -> None:
        for chunk in chunks:
            await decoder.feed(chunk)
        await decoder.finish()

    async def read_frames() -> None:
        async for frame in decoder.frames():
            frames.append(frame)

    async def read_audio() -> None:
        nonlocal samples
        async for block in decoder.audio():
            samples += block.size

    readers = [asyncio.create_task(read_frames()), asyncio.create_task(read_audio())]
    try:
        await feed()
        await asyncio.gather(*readers)
        await decoder.wait()
    finally:
        for task in readers:
            task.cancel()
        await decoder.close()
    return Decoded(frames, samples / SAMPLE_RATE, decoder.spooled)


def decode(fmt: str, data: bytes, pcm: tuple[int, int] = (0, 0), tmp: Path | None = None) -> Decoded:
    decoder = MediaDecoder(fmt, FRAME_RATE, DecodeSettings(spool_dir=tmp), pcm=pcm)
    return asyncio.run(asyncio.wait_for(_decode(decoder, _chunks(data)), timeout=60))


def _check_frames(frames: list[np.ndarray], duration: float = DURATION) -> None:
    assert abs(len(frames) - duration * FRAME_RATE) <= 1, len(frames)
    for frame in frames:
        assert frame.shape == (224, 224, 3)
        assert frame.dtype == np.uint8
    assert np.std(frames[0]) > 10  # the test pattern, not a blank frame


@pytest.mark.parametrize(
    ("name", "fmt", "spooled"),
    [
        ("mpegts", "mpegts", False),
        ("mp4-fragmented", "mp4", False),
        ("mp4-faststart", "mp4", False),
        ("mp4", "mp4", True),  # moov after mdat: cannot stream, spooled to a file
        ("webm", "webm", False),
    ],
)
def test_container_with_video_and_audio(
    samples: dict[str, Path], tmp_path: Path, name: str, fmt: str, spooled: bool
) -> None:
    out = decode(fmt, samples[name].read_bytes(), tmp=tmp_path)
    _check_frames(out.frames)
    assert out.audio_seconds == pytest.approx(DURATION, abs=0.25)
    assert out.spooled is spooled
    assert list(tmp_path.iterdir()) == []  # the spool file is removed on close


def test_wav_gives_audio_and_no_frames(samples: dict[str, Path]) -> None:
    out = decode("wav", samples["wav"].read_bytes())
    assert out.frames == []
    assert out.audio_seconds == pytest.approx(DURATION, abs=0.1)


def test_raw_pcm_uses_the_given_rate_and_channels(samples: dict[str, Path]) -> None:
    data = samples["s16le"].read_bytes()
    assert len(data) == int(22050 * DURATION) * 2 * 2
    out = decode("s16le", data, pcm=(22050, 2))
    assert out.frames == []
    assert out.audio_seconds == pytest.approx(DURATION, abs=0.05)


def test_video_without_audio_gives_frames_only(samples: dict[str, Path]) -> None:
    out = decode("mpegts", samples["silent-video"].read_bytes())
    _check_frames(out.frames)
    assert out.audio_seconds == 0


def test_frames_come_out_while_input_still_arrives(samples: dict[str, Path]) -> None:
    data = samples["live"].read_bytes()
    half = len(data) // 2

    async def run() -> tuple[int, int]:
        decoder = MediaDecoder("mpegts", FRAME_RATE, DecodeSettings())
        first_frame = asyncio.Event()
        frames = 0

        async def read_frames() -> None:
            nonlocal frames
            async for _ in decoder.frames():
                frames += 1
                first_frame.set()

        async def drain_audio() -> None:
            async for _ in decoder.audio():
                pass

        readers = [asyncio.create_task(read_frames()), asyncio.create_task(drain_audio())]
        try:
            for chunk in _chunks(data[:half], 16 << 10):
                await decoder.feed(chunk)
            await asyncio.wait_for(first_frame.wait(), timeout=30)  # fails if frames wait for the end
            early = frames
            for chunk in _chunks(data[half:], 16 << 10):
                await decoder.feed(chunk)
            await decoder.finish()
            await asyncio.wait_for(asyncio.gather(*readers), timeout=60)
            await decoder.wait()
        finally:
            for task in readers:
                task.cancel()
            await decoder.close()
        return early, frames

    early, total = asyncio.run(asyncio.wait_for(run(), timeout=60))
    assert early >= 1
    assert abs(total - LIVE_DURATION * FRAME_RATE) <= 1


@pytest.mark.parametrize(
    ("fmt", "data"),
    [
        ("mpegts", bytes(range(256)) * 512),
        ("mp4", b"\xff" * 100_000),  # the box sniffer rejects it
        ("mp4", b"this is not a video, just some text. " * 3000),  # passes the sniffer, ffprobe rejects it
        ("webm", b"\x00" * 100_000),
    ],
    ids=["mpegts-bytes", "mp4-bytes", "mp4-text", "webm-zeros"],
)
def test_garbage_is_invalid_media(fmt: str, data: bytes) -> None:
    with pytest.raises(InvalidMedia):
        decode(fmt, data)


@pytest.mark.parametrize("fmt", ["mpegts", "mp4", "wav", "s16le"])
def test_stream_ending_before_any_bytes_is_invalid_media(fmt: str) -> None:
    with pytest.raises(InvalidMedia, match="before any media"):
        decode(fmt, b"", pcm=(16000, 1))


def test_unknown_format_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="unknown format 'avi'"):
        MediaDecoder("avi", FRAME_RATE, DecodeSettings())


def test_close_kills_a_running_decoder(samples: dict[str, Path]) -> None:
    """A stream abandoned half way (the client went away) leaves no ffmpeg or ffprobe running."""

    async def run() -> None:
        decoder = MediaDecoder("mpegts", FRAME_RATE, DecodeSettings())
        try:
            for chunk in _chunks(samples["mpegts"].read_bytes()[:100_000], 16 << 10):
                await decoder.feed(chunk)
        finally:
            await decoder.close()
        await decoder.close()  # safe twice

    asyncio.run(run())


# -- the MP4 box sniffer ------------------------------------------------------------------------


def box(kind: bytes, payload: bytes = b"") -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def large_box(kind: bytes, payload: bytes) -> bytes:
    """A box with size 1 and a 64-bit largesize after the type."""
    return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload


FTYP = box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2mp41")


@pytest.mark.parametrize(
    ("data", "verdict"),
    [
        (FTYP + box(b"moov", b"\x00" * 8), True),
        (FTYP + box(b"moof"), True),
        (FTYP + box(b"free", b"\x00" * 20) + box(b"mdat", b"\x00" * 8), False),
        (FTYP, None),  # nothing after ftyp yet
        (FTYP + b"\x00\x00", None),  # half a header
        # The large box's payload starts like an mdat header: reading it as a box would say False.
        (FTYP + large_box(b"wide", box(b"mdat") + b"\x00" * 40) + box(b"moov"), True),
    ],
    ids=["moov-first", "moof-first", "mdat-first", "ftyp-only", "partial-header", "64-bit-size"],
)
def test_sniffer_verdicts(data: bytes, verdict: bool | None) -> None:
    assert _Mp4Sniffer().feed(data) is verdict


def test_sniffer_reads_headers_split_across_chunks() -> None:
    data = FTYP + large_box(b"free", b"\x00" * 30) + box(b"moov")
    sniffer = _Mp4Sniffer()
    verdicts = [sniffer.feed(data[i : i + 3]) for i in range(0, len(data), 3)]
    assert verdicts[-1] is True
    assert all(v is None for v in verdicts[:-1])


@pytest.mark.parametrize(
    "data",
    [
        FTYP + struct.pack(">I4s", 16, b"mo\xffv") + b"\x00" * 8,  # non-ASCII type
        b"\x1a\x45\xdf\xa3" + b"\x00" * 12,  # a WebM (EBML) header
        FTYP + struct.pack(">I4s", 4, b"free"),  # size below the header's own 8 bytes
    ],
    ids=["non-ascii-type", "ebml", "size-too-small"],
)
def test_sniffer_rejects_what_is_not_mp4(data: bytes) -> None:
    with pytest.raises(InvalidMedia, match="not an MP4/MOV stream"):
        _Mp4Sniffer().feed(data)
