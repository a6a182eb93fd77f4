"""A small synchronous client for the Vigil gRPC API. No torch, no server code."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vigil.v1 import vigil_pb2, vigil_pb2_grpc

DEFAULT_SERVER = "127.0.0.1:50051"
SERVICE = "vigil.v1.Vigil"
DEFAULT_CHUNK_BYTES = 64 << 10
DEFAULT_MAX_IN_FLIGHT = 64  # chunks sent but not yet acknowledged

MODALITIES = {
    "frame": vigil_pb2.MODALITY_FRAME,
    "speech": vigil_pb2.MODALITY_SPEECH,
    "sound": vigil_pb2.MODALITY_SOUND,
}
MODALITY_NAMES = {v: k for k, v in MODALITIES.items()}

# File extension -> StreamConfig.format
FORMAT_BY_EXTENSION = {
    ".ts": "mpegts",
    ".m2ts": "mpegts",
    ".mts": "mpegts",
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".m4a": "mp4",
    ".mov": "mov",
    ".webm": "webm",
    ".mkv": "matroska",
    ".flv": "flv",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".ogv": "ogg",
    ".opus": "ogg",
    ".wav": "wav",
    ".mp3": "mp3",
    ".flac": "flac",
}


class VigilError(Exception):
    """A call failed; `code` is the gRPC status code, the message says why."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.details = message


@dataclass(frozen=True)
class SegmentInfo:
    segment_id: str
    stream_id: str
    modality: str  # frame, speech, sound
    start: float
    end: float
    text: str
    language: str
    translation: str = ""

    @classmethod
    def from_proto(cls, s: vigil_pb2.Segment) -> SegmentInfo:
        modality = MODALITY_NAMES.get(s.modality, "unspecified")
        return cls(s.segment_id, s.stream_id, modality, s.start, s.end, s.text, s.language, s.translation)


@dataclass(frozen=True)
class MediaBytes:
    """A clip given as a query: its bytes and its format ("mpegts", "wav", ...)."""

    data: bytes
    format: str

    @classmethod
    def from_file(cls, path: str) -> MediaBytes:
        fmt = FORMAT_BY_EXTENSION.get(Path(path).suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format of {path} from its extension")
        return cls(Path(path).read_bytes(), fmt)


@dataclass(frozen=True)
class SearchMatch:
    segment: SegmentInfo
    score: float  # calibrated: comparable across modalities
    cosine: float = 0.0  # raw similarity

    def as_json(self) -> dict[str, object]:
        s = self.segment
        return {
            "stream_id": s.stream_id,
            "modality": s.modality,
            "start": s.start,
            "end": s.end,
            "score": round(self.score, 6),
            "text": s.text,
            "segment_id": s.segment_id,
            "cosine": round(self.cosine, 6),
            "language": s.language,
            "translation": s.translation,
        }


def read_chunks(source: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    while data := source.read(chunk_bytes):
        yield data


class VigilClient:
    def __init__(self, target: str = DEFAULT_SERVER, timeout: float | None = None):
        self.target = target
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            target, options=[("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
        )
        self._stub = vigil_pb2_grpc.VigilStub(self._channel)

    def __enter__(self) -> VigilClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def health(self) -> str:
        """The server's health status name: SERVING, or NOT_SERVING while models load."""
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            response = stub.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
        except grpc.RpcError as exc:
            raise VigilError(exc.code(), exc.details() or "") from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def wait_serving(self, timeout: float) -> None:
        """Wait until the server is up and its models are loaded."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.health() == "SERVING":
                    return
            except VigilError as exc:
                if exc.code != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
            if time.monotonic() > deadline:
                raise VigilError(grpc.StatusCode.DEADLINE_EXCEEDED, f"{self.target} not SERVING after {timeout:g} s")
            time.sleep(0.25)

    def ingest(
        self,
        data: Iterable[bytes],
        stream_id: str,
        format: str,
        *,
        frame_rate: float = 0.0,
        language: str = "",
        labels: Mapping[str, str] | None = None,
        sample_rate: int = 0,
        channels: int = 0,
        time_offset: float = 0.0,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> Iterator[vigil_pb2.IngestEvent]:
        """Stream `data` (an iterable of byte chunks) and yield the server's events as they come.

        At most `max_in_flight` chunks are sent ahead of the server's acknowledgements.
        """
        config = vigil_pb2.StreamConfig(
            stream_id=stream_id,
            format=format,
            frame_rate=frame_rate,
            language=language,
            labels=dict(labels or {}),
            sample_rate=sample_rate,
            channels=channels,
            time_offset=time_offset,
        )
        window = threading.Semaphore(max_in_flight)
        finished = threading.Event()

        def requests() -> Iterator[vigil_pb2.IngestRequest]:
            yield vigil_pb2.IngestRequest(config=config)
            for sequence, chunk in enumerate(data):
                while not window.acquire(timeout=0.2):
                    if finished.is_set():
                        return
                yield vigil_pb2.IngestRequest(chunk=vigil_pb2.MediaChunk(sequence=sequence, data=chunk))

        call = self._stub.Ingest(requests(), timeout=self.timeout)
        try:
            for event in call:
                if event.WhichOneof("event") == "ack":
                    window.release()
                yield event
        except grpc.RpcError as exc:
            raise VigilError(exc.code(), exc.details() or "") from None
        finally:
            finished.set()
            call.cancel()

    def search(
        self,
        text: str | None = None,
        *,
        image: bytes | None = None,
        audio: MediaBytes | None = None,
        video: MediaBytes | None = None,
        segment_id: str | None = None,
        top_k: int = 10,
        modalities: Sequence[str] = (),
        stream_ids: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
    ) -> list[SearchMatch]:
        """Search by exactly one of: text, image bytes, an audio or video clip, or a segment id."""
        given = [name for name, value in [("text", text), ("image", image), ("audio", audio), ("video", video),
                                          ("segment_id", segment_id)] if value is not None]  # fmt: skip
        if len(given) != 1:
            raise ValueError(f"search takes exactly one query, got {given or 'none'}")
        request = vigil_pb2.SearchRequest(
            top_k=top_k, modalities=[MODALITIES[m] for m in modalities], stream_ids=list(stream_ids)
        )
        if text is not None:
            request.text = text
        elif image is not None:
            request.image = image
        elif audio is not None:
            request.audio.CopyFrom(vigil_pb2.MediaClip(data=audio.data, format=audio.format))
        elif video is not None:
            request.video.CopyFrom(vigil_pb2.MediaClip(data=video.data, format=video.format))
        else:
            request.segment_id = str(segment_id)
        if start is not None or end is not None:
            request.time_range.start = start or 0.0
            request.time_range.end = end or 0.0
        try:
            response = self._stub.Search(request, timeout=self.timeout or 120.0)
        except grpc.RpcError as exc:
            raise VigilError(exc.code(), exc.details() or "") from None
        return [SearchMatch(SegmentInfo.from_proto(m.segment), m.score, m.cosine) for m in response.matches]
