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
    text: str = ""  # transcript (speech) or caption (sound)
    language: str = ""
    translation: str = ""  # English text that was embedded, when `text` is in another language
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
    sound_segments_indexed: int


IngestEvent = ChunkAcked | SegmentStored | IngestSummary


@dataclass(frozen=True)
class SearchFilter:
    tenant: str = DEFAULT_TENANT
    modalities: tuple[Modality, ...] = ()  # empty: all
    stream_ids: tuple[str, ...] = ()  # empty: all
    start: float | None = None  # segments ending after this
    end: float | None = None  # segments starting before this
    exclude_ids: tuple[str, ...] = ()  # never these segments


@dataclass(frozen=True)
class TextItem:
    text: str


@dataclass(frozen=True)
class ImageItem:
    data: bytes  # an encoded image: JPEG, PNG, ...


@dataclass(frozen=True)
class AudioClip:
    data: bytes
    format: str  # as StreamConfig.format


@dataclass(frozen=True)
class VideoClip:
    data: bytes
    format: str


@dataclass(frozen=True)
class SegmentRef:
    segment_id: str


# What a search (or, later, a standing query) looks for.
QueryItem = TextItem | ImageItem | AudioClip | VideoClip | SegmentRef


@dataclass(frozen=True)
class SearchQuery:
    item: QueryItem
    top_k: int
    filter: SearchFilter


@dataclass(frozen=True)
class Match:
    segment: Segment
    cosine: float  # raw similarity in the shared space
    score: float = 0.0  # calibrated, comparable across modalities (see calibrate.py)
