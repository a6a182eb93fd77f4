"""Helpers for the moderation tests: media, requests and a watcher, on any server's stub."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
from PIL import Image

from scripts.sample_media import Utterance, photo_video, run_ffmpeg
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc

MUSIC = Path("/usr/share/asterisk/moh")  # Debian asterisk-moh-opsound-wav (scripts/setup.sh installs it)
CHUNK = 64 << 10
PHOTO_SECONDS = 3.0


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
