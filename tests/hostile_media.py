"""Damaged and hostile media for tests/test_hostile_media.py and tests/test_fuzz.py, made once with ffmpeg.

Nothing here is downloaded: every file is ffmpeg's test pattern and a sine tone, or a PNG/JPEG drawn
with PIL, in the containers the server accepts; the hostile ones are those with a timestamp jump, a
picture too large, a plain MP4 whose media comes before its index, and seeded bit flips and cuts.
"""

from __future__ import annotations

import io
import random
import struct
import subprocess
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import numpy as np

from vigil.v1 import vigil_pb2, vigil_pb2_grpc

DAY_S = 86400


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def _av_inputs(seconds: float, size: str = "96x64", rate: int = 10) -> list[str]:
    return ["-t", f"{seconds:g}", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
            "-t", f"{seconds:g}", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000"]  # fmt: skip


@dataclass(frozen=True)
class HostileMedia:
    dir: Path

    def path(self, name: str) -> Path:
        return self.dir / name

    def read(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()


# name -> (server format, what it is)
GOOD = {
    "clip.mp4": "mp4",  # moov first (faststart)
    "clip.mkv": "matroska",
    "clip.flv": "flv",
    "clip.ts": "mpegts",
    "tone.wav": "wav",
}


def make_media(root: Path) -> HostileMedia:
    """Every file the hostile tests use, in `root` (about 1 MB in all, a few seconds of ffmpeg)."""
    root.mkdir(parents=True, exist_ok=True)
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "24k"]
    ffmpeg(*_av_inputs(4), *x264, "-movflags", "+faststart", str(root / "clip.mp4"))
    ffmpeg(*_av_inputs(4), *x264, str(root / "clip.mkv"))
    ffmpeg(*_av_inputs(4), *x264, str(root / "clip.flv"))
    ffmpeg(*_av_inputs(4), *x264, str(root / "clip.ts"))
    ffmpeg("-t", "3", "-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000", str(root / "tone.wav"))
    # A one-day jump in the video's timestamps after its 10th frame (2 s of 5 fps, then 2 s a day later).
    jump = ["-vf", f"setpts='if(gte(N,10),PTS+{DAY_S}/TB,PTS)'", "-fps_mode", "vfr"]
    ffmpeg(*_av_inputs(4, rate=5), *jump, *x264, str(root / "jump.mkv"))
    ffmpeg(*_av_inputs(4, rate=5), *jump, *x264, str(root / "jump.flv"))
    # 48 MP frames (over the 40 MP limit) in a few KB.
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=8000x6000:d=1:r=1", "-c:v", "libx264", "-preset", "ultrafast",
           str(root / "huge-frames.mkv"))  # fmt: skip
    # A plain MP4 (mdat before moov) of about 3 MB: noise does not compress.
    ffmpeg("-t", "3", "-f", "lavfi", "-i", "nullsrc=size=320x240:rate=10", "-vf", "geq=random(1)*255:128:128",
           "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", str(root / "plain.mp4"))  # fmt: skip
    from PIL import Image

    Image.new("RGB", (64, 48), (200, 30, 30)).save(root / "small.png")
    Image.new("RGB", (64, 48), (30, 200, 30)).save(root / "small.jpg", quality=80)
    Image.new("RGB", (7000, 7000), (30, 30, 200)).save(root / "7000.png", optimize=True)  # ~47 KB, 49 MP
    (root / "20000.png").write_bytes(png_declaring(20000, 20000))
    return HostileMedia(root)


def png_declaring(width: int, height: int) -> bytes:
    """A small PNG whose header declares width x height (its data holds one row: it is truncated)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\0" + b"\0" * 3 * min(width, 4096))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def bit_flipped(data: bytes, seed: int, flips: int = 0) -> bytes:
    """`data` with `flips` random bits flipped (1-30 when 0), the same for the same seed."""
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(flips or rng.randint(1, 30)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncated(data: bytes, seed: int) -> bytes:
    return data[: random.Random(seed).randrange(1, max(2, len(data)))]


def png_bytes(width: int, height: int) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.zeros((height, width, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass(frozen=True)
class Outcome:
    code: grpc.StatusCode
    details: str
    summary: vigil_pb2.IngestSummary | None = None


def chunk_requests(
    config: vigil_pb2.StreamConfig, data: bytes, chunk: int = 64 << 10
) -> Iterator[vigil_pb2.IngestRequest]:
    yield vigil_pb2.IngestRequest(config=config)
    for sequence, offset in enumerate(range(0, len(data), chunk)):
        yield vigil_pb2.IngestRequest(chunk=vigil_pb2.MediaChunk(sequence=sequence, data=data[offset : offset + chunk]))


def ingest(
    stub: vigil_pb2_grpc.VigilStub,
    stream_id: str,
    fmt: str,
    data: bytes,
    frame_rate: float = 1.0,
    timeout: float = 90.0,
    chunk: int = 64 << 10,
) -> Outcome:
    """Send `data` whole as one stream; the call's status and its summary (None unless OK)."""
    config = vigil_pb2.StreamConfig(stream_id=stream_id, format=fmt, frame_rate=frame_rate)
    try:
        events = list(stub.Ingest(chunk_requests(config, data, chunk), timeout=timeout))
    except grpc.RpcError as error:
        return Outcome(error.code(), error.details() or "")
    return Outcome(grpc.StatusCode.OK, "", events[-1].summary)


def unary_outcome(call: grpc.UnaryUnaryMultiCallable, request: object, timeout: float = 90.0) -> Outcome:
    try:
        call(request, timeout=timeout)
    except grpc.RpcError as error:
        return Outcome(error.code(), error.details() or "")
    return Outcome(grpc.StatusCode.OK, "")


def fd_count() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))
