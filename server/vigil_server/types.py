"""The domain types the pipeline passes around: frozen dataclasses, no protobuf."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Modality(enum.Enum):
    FRAME = "frame"
    SPEECH = "speech"
    SOUND = "sound"


DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class StreamConfig:
    stream_id: str
    format: str  # one of decode.FORMATS
    sample_rate: int = 0  # raw PCM only
    channels: int = 0  # raw PCM only
    frame_rate: float = 1.0  # frames sampled per second
    language: str = ""  # ISO 639-1, or "" to let the model decide
    labels: dict[str, str] = field(default_factory=dict)
    time_offset: float = 0.0  # seconds added to every segment time
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class Chunk:
    sequence: int
    data: bytes


@dataclass(frozen=True)
class Segment:
    segment_id: str
    stream_id: str
    modality: Modality
    start: float
    end: float
    text: str = ""
    language: str = ""
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class ChunkAcked:
    sequence: int
    bytes_received: int


@dataclass(frozen=True)
class SegmentStored:
    segment: Segment


@dataclass(frozen=True)
class IngestSummary:
    stream_id: str
    chunks_received: int
    bytes_received: int
    media_seconds: float
    frames_indexed: int
    speech_segments_indexed: int
    wall_seconds: float
    spooled: bool


IngestEvent = ChunkAcked | SegmentStored | IngestSummary


@dataclass(frozen=True)
class SearchFilter:
    tenant: str = DEFAULT_TENANT
    modalities: tuple[Modality, ...] = ()  # empty: all
    stream_ids: tuple[str, ...] = ()  # empty: all
    start: float | None = None  # segments ending after this
    end: float | None = None  # segments starting before this


@dataclass(frozen=True)
class TextQuery:
    text: str
    top_k: int
    filter: SearchFilter


@dataclass(frozen=True)
class Match:
    segment: Segment
    score: float
