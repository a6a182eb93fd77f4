from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Modality(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODALITY_UNSPECIFIED: _ClassVar[Modality]
    MODALITY_FRAME: _ClassVar[Modality]
    MODALITY_SPEECH: _ClassVar[Modality]
    MODALITY_SOUND: _ClassVar[Modality]
MODALITY_UNSPECIFIED: Modality
MODALITY_FRAME: Modality
MODALITY_SPEECH: Modality
MODALITY_SOUND: Modality

class StreamConfig(_message.Message):
    __slots__ = ("stream_id", "format", "sample_rate", "channels", "frame_rate", "language", "labels", "time_offset")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TIME_OFFSET_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    format: str
    sample_rate: int
    channels: int
    frame_rate: float
    language: str
    labels: _containers.ScalarMap[str, str]
    time_offset: float
    def __init__(self, stream_id: _Optional[str] = ..., format: _Optional[str] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., frame_rate: _Optional[float] = ..., language: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., time_offset: _Optional[float] = ...) -> None: ...

class MediaChunk(_message.Message):
    __slots__ = ("sequence", "data")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    data: bytes
    def __init__(self, sequence: _Optional[int] = ..., data: _Optional[bytes] = ...) -> None: ...

class IngestRequest(_message.Message):
    __slots__ = ("config", "chunk")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    config: StreamConfig
    chunk: MediaChunk
    def __init__(self, config: _Optional[_Union[StreamConfig, _Mapping]] = ..., chunk: _Optional[_Union[MediaChunk, _Mapping]] = ...) -> None: ...

class IngestEvent(_message.Message):
    __slots__ = ("ack", "segment", "summary")
    ACK_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ack: ChunkAck
    segment: SegmentIndexed
    summary: IngestSummary
    def __init__(self, ack: _Optional[_Union[ChunkAck, _Mapping]] = ..., segment: _Optional[_Union[SegmentIndexed, _Mapping]] = ..., summary: _Optional[_Union[IngestSummary, _Mapping]] = ...) -> None: ...

class ChunkAck(_message.Message):
    __slots__ = ("sequence", "bytes_received")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    bytes_received: int
    def __init__(self, sequence: _Optional[int] = ..., bytes_received: _Optional[int] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("segment_id", "stream_id", "modality", "start", "end", "text", "language", "translation")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    stream_id: str
    modality: Modality
    start: float
    end: float
    text: str
    language: str
    translation: str
    def __init__(self, segment_id: _Optional[str] = ..., stream_id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., translation: _Optional[str] = ...) -> None: ...

class SegmentIndexed(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class IngestSummary(_message.Message):
    __slots__ = ("stream_id", "chunks_received", "bytes_received", "media_seconds", "frames_indexed", "speech_segments_indexed", "wall_seconds", "spooled", "sound_segments_indexed")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    MEDIA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    SPEECH_SEGMENTS_INDEXED_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SPOOLED_FIELD_NUMBER: _ClassVar[int]
    SOUND_SEGMENTS_INDEXED_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    chunks_received: int
    bytes_received: int
    media_seconds: float
    frames_indexed: int
    speech_segments_indexed: int
    wall_seconds: float
    spooled: bool
    sound_segments_indexed: int
    def __init__(self, stream_id: _Optional[str] = ..., chunks_received: _Optional[int] = ..., bytes_received: _Optional[int] = ..., media_seconds: _Optional[float] = ..., frames_indexed: _Optional[int] = ..., speech_segments_indexed: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., spooled: _Optional[bool] = ..., sound_segments_indexed: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("text", "image", "audio", "video", "segment_id", "top_k", "modalities", "stream_ids", "time_range")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: bytes
    audio: MediaClip
    video: MediaClip
    segment_id: str
    top_k: int
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    time_range: TimeRange
    def __init__(self, text: _Optional[str] = ..., image: _Optional[bytes] = ..., audio: _Optional[_Union[MediaClip, _Mapping]] = ..., video: _Optional[_Union[MediaClip, _Mapping]] = ..., segment_id: _Optional[str] = ..., top_k: _Optional[int] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., stream_ids: _Optional[_Iterable[str]] = ..., time_range: _Optional[_Union[TimeRange, _Mapping]] = ...) -> None: ...

class MediaClip(_message.Message):
    __slots__ = ("data", "format")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    format: str
    def __init__(self, data: _Optional[bytes] = ..., format: _Optional[str] = ...) -> None: ...

class TimeRange(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("matches",)
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[Match]
    def __init__(self, matches: _Optional[_Iterable[_Union[Match, _Mapping]]] = ...) -> None: ...

class Match(_message.Message):
    __slots__ = ("segment", "score", "cosine")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    score: float
    cosine: float
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ..., score: _Optional[float] = ..., cosine: _Optional[float] = ...) -> None: ...
