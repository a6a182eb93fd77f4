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

class ReferenceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERENCE_KIND_UNSPECIFIED: _ClassVar[ReferenceKind]
    REFERENCE_KIND_IMAGE: _ClassVar[ReferenceKind]
    REFERENCE_KIND_AUDIO: _ClassVar[ReferenceKind]
    REFERENCE_KIND_VIDEO: _ClassVar[ReferenceKind]
    REFERENCE_KIND_PDQ_HASH: _ClassVar[ReferenceKind]

class AlertKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ALERT_KIND_UNSPECIFIED: _ClassVar[AlertKind]
    ALERT_KIND_QUERY: _ClassVar[AlertKind]
    ALERT_KIND_REFERENCE: _ClassVar[AlertKind]

class MatchMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MATCH_METHOD_UNSPECIFIED: _ClassVar[MatchMethod]
    MATCH_METHOD_EMBEDDING: _ClassVar[MatchMethod]
    MATCH_METHOD_PDQ: _ClassVar[MatchMethod]
    MATCH_METHOD_FINGERPRINT: _ClassVar[MatchMethod]
MODALITY_UNSPECIFIED: Modality
MODALITY_FRAME: Modality
MODALITY_SPEECH: Modality
MODALITY_SOUND: Modality
REFERENCE_KIND_UNSPECIFIED: ReferenceKind
REFERENCE_KIND_IMAGE: ReferenceKind
REFERENCE_KIND_AUDIO: ReferenceKind
REFERENCE_KIND_VIDEO: ReferenceKind
REFERENCE_KIND_PDQ_HASH: ReferenceKind
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_QUERY: AlertKind
ALERT_KIND_REFERENCE: AlertKind
MATCH_METHOD_UNSPECIFIED: MatchMethod
MATCH_METHOD_EMBEDDING: MatchMethod
MATCH_METHOD_PDQ: MatchMethod
MATCH_METHOD_FINGERPRINT: MatchMethod

class StreamConfig(_message.Message):
    __slots__ = ("stream_id", "format", "sample_rate", "channels", "frame_rate", "language", "time_offset")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_OFFSET_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    format: str
    sample_rate: int
    channels: int
    frame_rate: float
    language: str
    time_offset: float
    def __init__(self, stream_id: _Optional[str] = ..., format: _Optional[str] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., frame_rate: _Optional[float] = ..., language: _Optional[str] = ..., time_offset: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("ack", "segment", "summary", "alert")
    ACK_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    ack: ChunkAck
    segment: SegmentIndexed
    summary: IngestSummary
    alert: Alert
    def __init__(self, ack: _Optional[_Union[ChunkAck, _Mapping]] = ..., segment: _Optional[_Union[SegmentIndexed, _Mapping]] = ..., summary: _Optional[_Union[IngestSummary, _Mapping]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ...) -> None: ...

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
    __slots__ = ("stream_id", "chunks_received", "bytes_received", "media_seconds", "frames_indexed", "speech_segments_indexed", "wall_seconds", "spooled", "sound_segments_indexed", "alerts")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    CHUNKS_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    MEDIA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAMES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    SPEECH_SEGMENTS_INDEXED_FIELD_NUMBER: _ClassVar[int]
    WALL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SPOOLED_FIELD_NUMBER: _ClassVar[int]
    SOUND_SEGMENTS_INDEXED_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    chunks_received: int
    bytes_received: int
    media_seconds: float
    frames_indexed: int
    speech_segments_indexed: int
    wall_seconds: float
    spooled: bool
    sound_segments_indexed: int
    alerts: int
    def __init__(self, stream_id: _Optional[str] = ..., chunks_received: _Optional[int] = ..., bytes_received: _Optional[int] = ..., media_seconds: _Optional[float] = ..., frames_indexed: _Optional[int] = ..., speech_segments_indexed: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., spooled: _Optional[bool] = ..., sound_segments_indexed: _Optional[int] = ..., alerts: _Optional[int] = ...) -> None: ...

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

class QueryExample(_message.Message):
    __slots__ = ("text", "image", "audio", "video")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: bytes
    audio: MediaClip
    video: MediaClip
    def __init__(self, text: _Optional[str] = ..., image: _Optional[bytes] = ..., audio: _Optional[_Union[MediaClip, _Mapping]] = ..., video: _Optional[_Union[MediaClip, _Mapping]] = ...) -> None: ...

class AddStandingQueryRequest(_message.Message):
    __slots__ = ("text", "examples", "negatives", "modalities", "stream_ids", "threshold", "label")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    text: str
    examples: _containers.RepeatedCompositeFieldContainer[QueryExample]
    negatives: _containers.RepeatedCompositeFieldContainer[QueryExample]
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    threshold: float
    label: str
    def __init__(self, text: _Optional[str] = ..., examples: _Optional[_Iterable[_Union[QueryExample, _Mapping]]] = ..., negatives: _Optional[_Iterable[_Union[QueryExample, _Mapping]]] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., stream_ids: _Optional[_Iterable[str]] = ..., threshold: _Optional[float] = ..., label: _Optional[str] = ...) -> None: ...

class StandingQuery(_message.Message):
    __slots__ = ("query_id", "text", "label", "modalities", "stream_ids", "threshold", "example_count", "negative_count", "created_at")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    label: str
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    threshold: float
    example_count: int
    negative_count: int
    created_at: float
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., label: _Optional[str] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., stream_ids: _Optional[_Iterable[str]] = ..., threshold: _Optional[float] = ..., example_count: _Optional[int] = ..., negative_count: _Optional[int] = ..., created_at: _Optional[float] = ...) -> None: ...

class ListStandingQueriesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListStandingQueriesResponse(_message.Message):
    __slots__ = ("queries",)
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[StandingQuery]
    def __init__(self, queries: _Optional[_Iterable[_Union[StandingQuery, _Mapping]]] = ...) -> None: ...

class RemoveStandingQueryRequest(_message.Message):
    __slots__ = ("query_id",)
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    def __init__(self, query_id: _Optional[str] = ...) -> None: ...

class RemoveStandingQueryResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class BankItemHeader(_message.Message):
    __slots__ = ("bank", "kind", "format", "label", "external_id", "archive_window")
    BANK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    bank: str
    kind: ReferenceKind
    format: str
    label: str
    external_id: str
    archive_window: float
    def __init__(self, bank: _Optional[str] = ..., kind: _Optional[_Union[ReferenceKind, str]] = ..., format: _Optional[str] = ..., label: _Optional[str] = ..., external_id: _Optional[str] = ..., archive_window: _Optional[float] = ...) -> None: ...

class AddBankItemRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: BankItemHeader
    chunk: MediaChunk
    def __init__(self, header: _Optional[_Union[BankItemHeader, _Mapping]] = ..., chunk: _Optional[_Union[MediaChunk, _Mapping]] = ...) -> None: ...

class BankItem(_message.Message):
    __slots__ = ("item_id", "bank", "kind", "label", "external_id", "pdq_hashes", "fingerprint_seconds", "created_at", "signals")
    class SignalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    PDQ_HASHES_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    bank: str
    kind: ReferenceKind
    label: str
    external_id: str
    pdq_hashes: int
    fingerprint_seconds: float
    created_at: float
    signals: _containers.ScalarMap[str, float]
    def __init__(self, item_id: _Optional[str] = ..., bank: _Optional[str] = ..., kind: _Optional[_Union[ReferenceKind, str]] = ..., label: _Optional[str] = ..., external_id: _Optional[str] = ..., pdq_hashes: _Optional[int] = ..., fingerprint_seconds: _Optional[float] = ..., created_at: _Optional[float] = ..., signals: _Optional[_Mapping[str, float]] = ...) -> None: ...

class AddBankItemResponse(_message.Message):
    __slots__ = ("item", "archive_alerts")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ALERTS_FIELD_NUMBER: _ClassVar[int]
    item: BankItem
    archive_alerts: int
    def __init__(self, item: _Optional[_Union[BankItem, _Mapping]] = ..., archive_alerts: _Optional[int] = ...) -> None: ...

class ListBankItemsRequest(_message.Message):
    __slots__ = ("bank",)
    BANK_FIELD_NUMBER: _ClassVar[int]
    bank: str
    def __init__(self, bank: _Optional[str] = ...) -> None: ...

class ListBankItemsResponse(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BankItem]
    def __init__(self, items: _Optional[_Iterable[_Union[BankItem, _Mapping]]] = ...) -> None: ...

class RemoveBankItemRequest(_message.Message):
    __slots__ = ("item_id",)
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    def __init__(self, item_id: _Optional[str] = ...) -> None: ...

class RemoveBankItemResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImportHashesRequest(_message.Message):
    __slots__ = ("bank", "hash_list", "label", "archive_window")
    BANK_FIELD_NUMBER: _ClassVar[int]
    HASH_LIST_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    bank: str
    hash_list: str
    label: str
    archive_window: float
    def __init__(self, bank: _Optional[str] = ..., hash_list: _Optional[str] = ..., label: _Optional[str] = ..., archive_window: _Optional[float] = ...) -> None: ...

class ImportHashesResponse(_message.Message):
    __slots__ = ("imported", "archive_alerts")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ALERTS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    archive_alerts: int
    def __init__(self, imported: _Optional[int] = ..., archive_alerts: _Optional[int] = ...) -> None: ...

class ExportHashesRequest(_message.Message):
    __slots__ = ("bank",)
    BANK_FIELD_NUMBER: _ClassVar[int]
    bank: str
    def __init__(self, bank: _Optional[str] = ...) -> None: ...

class ExportHashesResponse(_message.Message):
    __slots__ = ("hash_list",)
    HASH_LIST_FIELD_NUMBER: _ClassVar[int]
    hash_list: str
    def __init__(self, hash_list: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("stream_ids", "banks", "query_ids")
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    QUERY_IDS_FIELD_NUMBER: _ClassVar[int]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    banks: _containers.RepeatedScalarFieldContainer[str]
    query_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, stream_ids: _Optional[_Iterable[str]] = ..., banks: _Optional[_Iterable[str]] = ..., query_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Evidence(_message.Message):
    __slots__ = ("signal", "value", "matched")
    SIGNAL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_FIELD_NUMBER: _ClassVar[int]
    signal: str
    value: float
    matched: bool
    def __init__(self, signal: _Optional[str] = ..., value: _Optional[float] = ..., matched: _Optional[bool] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("alert_id", "kind", "stream_id", "start", "end", "modality", "segment_id", "match_id", "label", "bank", "external_id", "methods", "score", "cosine", "hash_distance", "fingerprint_score", "text", "thumbnail_jpeg", "suppressed", "from_archive", "raised_at", "evidence")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    HASH_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_SCORE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    THUMBNAIL_JPEG_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    FROM_ARCHIVE_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    kind: AlertKind
    stream_id: str
    start: float
    end: float
    modality: Modality
    segment_id: str
    match_id: str
    label: str
    bank: str
    external_id: str
    methods: _containers.RepeatedScalarFieldContainer[MatchMethod]
    score: float
    cosine: float
    hash_distance: int
    fingerprint_score: float
    text: str
    thumbnail_jpeg: bytes
    suppressed: int
    from_archive: bool
    raised_at: float
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    def __init__(self, alert_id: _Optional[str] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., stream_id: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., modality: _Optional[_Union[Modality, str]] = ..., segment_id: _Optional[str] = ..., match_id: _Optional[str] = ..., label: _Optional[str] = ..., bank: _Optional[str] = ..., external_id: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[MatchMethod, str]]] = ..., score: _Optional[float] = ..., cosine: _Optional[float] = ..., hash_distance: _Optional[int] = ..., fingerprint_score: _Optional[float] = ..., text: _Optional[str] = ..., thumbnail_jpeg: _Optional[bytes] = ..., suppressed: _Optional[int] = ..., from_archive: _Optional[bool] = ..., raised_at: _Optional[float] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ...) -> None: ...
