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
    MODALITY_ON_SCREEN_TEXT: _ClassVar[Modality]

class Pacing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PACING_UNSPECIFIED: _ClassVar[Pacing]
    PACING_LIVE: _ClassVar[Pacing]
    PACING_UPLOAD: _ClassVar[Pacing]

class KeywordMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEYWORD_MODE_UNSPECIFIED: _ClassVar[KeywordMode]
    KEYWORD_MODE_HYBRID: _ClassVar[KeywordMode]
    KEYWORD_MODE_ONLY: _ClassVar[KeywordMode]

class KeywordRule(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    KEYWORD_RULE_UNSPECIFIED: _ClassVar[KeywordRule]
    KEYWORD_RULE_ONLY: _ClassVar[KeywordRule]
    KEYWORD_RULE_AND_EMBEDDING: _ClassVar[KeywordRule]

class ReferenceKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERENCE_KIND_UNSPECIFIED: _ClassVar[ReferenceKind]
    REFERENCE_KIND_IMAGE: _ClassVar[ReferenceKind]
    REFERENCE_KIND_AUDIO: _ClassVar[ReferenceKind]
    REFERENCE_KIND_VIDEO: _ClassVar[ReferenceKind]
    REFERENCE_KIND_PDQ_HASH: _ClassVar[ReferenceKind]
    REFERENCE_KIND_VPDQ_HASH: _ClassVar[ReferenceKind]
    REFERENCE_KIND_FILE_HASH: _ClassVar[ReferenceKind]

class HashListFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HASH_LIST_FORMAT_UNSPECIFIED: _ClassVar[HashListFormat]
    HASH_LIST_FORMAT_PDQ: _ClassVar[HashListFormat]
    HASH_LIST_FORMAT_TYPED: _ClassVar[HashListFormat]
    HASH_LIST_FORMAT_VPDQ: _ClassVar[HashListFormat]

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
    MATCH_METHOD_VPDQ: _ClassVar[MatchMethod]
    MATCH_METHOD_EXACT: _ClassVar[MatchMethod]

class CaptionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPTION_KIND_UNSPECIFIED: _ClassVar[CaptionKind]
    CAPTION_KIND_SPEECH: _ClassVar[CaptionKind]
    CAPTION_KIND_SOUND: _ClassVar[CaptionKind]
    CAPTION_KIND_DESCRIPTION: _ClassVar[CaptionKind]

class ReviewVerdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_VERDICT_UNSPECIFIED: _ClassVar[ReviewVerdict]
    REVIEW_VERDICT_CONFIRMED: _ClassVar[ReviewVerdict]
    REVIEW_VERDICT_DISMISSED: _ClassVar[ReviewVerdict]

class ReviewState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_STATE_UNSPECIFIED: _ClassVar[ReviewState]
    REVIEW_STATE_UNREVIEWED: _ClassVar[ReviewState]
    REVIEW_STATE_CONFIRMED: _ClassVar[ReviewState]
    REVIEW_STATE_DISMISSED: _ClassVar[ReviewState]
MODALITY_UNSPECIFIED: Modality
MODALITY_FRAME: Modality
MODALITY_SPEECH: Modality
MODALITY_SOUND: Modality
MODALITY_ON_SCREEN_TEXT: Modality
PACING_UNSPECIFIED: Pacing
PACING_LIVE: Pacing
PACING_UPLOAD: Pacing
KEYWORD_MODE_UNSPECIFIED: KeywordMode
KEYWORD_MODE_HYBRID: KeywordMode
KEYWORD_MODE_ONLY: KeywordMode
KEYWORD_RULE_UNSPECIFIED: KeywordRule
KEYWORD_RULE_ONLY: KeywordRule
KEYWORD_RULE_AND_EMBEDDING: KeywordRule
REFERENCE_KIND_UNSPECIFIED: ReferenceKind
REFERENCE_KIND_IMAGE: ReferenceKind
REFERENCE_KIND_AUDIO: ReferenceKind
REFERENCE_KIND_VIDEO: ReferenceKind
REFERENCE_KIND_PDQ_HASH: ReferenceKind
REFERENCE_KIND_VPDQ_HASH: ReferenceKind
REFERENCE_KIND_FILE_HASH: ReferenceKind
HASH_LIST_FORMAT_UNSPECIFIED: HashListFormat
HASH_LIST_FORMAT_PDQ: HashListFormat
HASH_LIST_FORMAT_TYPED: HashListFormat
HASH_LIST_FORMAT_VPDQ: HashListFormat
ALERT_KIND_UNSPECIFIED: AlertKind
ALERT_KIND_QUERY: AlertKind
ALERT_KIND_REFERENCE: AlertKind
MATCH_METHOD_UNSPECIFIED: MatchMethod
MATCH_METHOD_EMBEDDING: MatchMethod
MATCH_METHOD_PDQ: MatchMethod
MATCH_METHOD_FINGERPRINT: MatchMethod
MATCH_METHOD_VPDQ: MatchMethod
MATCH_METHOD_EXACT: MatchMethod
CAPTION_KIND_UNSPECIFIED: CaptionKind
CAPTION_KIND_SPEECH: CaptionKind
CAPTION_KIND_SOUND: CaptionKind
CAPTION_KIND_DESCRIPTION: CaptionKind
REVIEW_VERDICT_UNSPECIFIED: ReviewVerdict
REVIEW_VERDICT_CONFIRMED: ReviewVerdict
REVIEW_VERDICT_DISMISSED: ReviewVerdict
REVIEW_STATE_UNSPECIFIED: ReviewState
REVIEW_STATE_UNREVIEWED: ReviewState
REVIEW_STATE_CONFIRMED: ReviewState
REVIEW_STATE_DISMISSED: ReviewState

class StreamConfig(_message.Message):
    __slots__ = ("stream_id", "format", "sample_rate", "channels", "frame_rate", "language", "time_offset", "pacing")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_RATE_FIELD_NUMBER: _ClassVar[int]
    CHANNELS_FIELD_NUMBER: _ClassVar[int]
    FRAME_RATE_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TIME_OFFSET_FIELD_NUMBER: _ClassVar[int]
    PACING_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    format: str
    sample_rate: int
    channels: int
    frame_rate: float
    language: str
    time_offset: float
    pacing: Pacing
    def __init__(self, stream_id: _Optional[str] = ..., format: _Optional[str] = ..., sample_rate: _Optional[int] = ..., channels: _Optional[int] = ..., frame_rate: _Optional[float] = ..., language: _Optional[str] = ..., time_offset: _Optional[float] = ..., pacing: _Optional[_Union[Pacing, str]] = ...) -> None: ...

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
    __slots__ = ("ack", "segment", "summary", "alert", "progress")
    ACK_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    ALERT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    ack: ChunkAck
    segment: SegmentIndexed
    summary: IngestSummary
    alert: Alert
    progress: StreamProgress
    def __init__(self, ack: _Optional[_Union[ChunkAck, _Mapping]] = ..., segment: _Optional[_Union[SegmentIndexed, _Mapping]] = ..., summary: _Optional[_Union[IngestSummary, _Mapping]] = ..., alert: _Optional[_Union[Alert, _Mapping]] = ..., progress: _Optional[_Union[StreamProgress, _Mapping]] = ...) -> None: ...

class StreamProgress(_message.Message):
    __slots__ = ("media_seconds", "frame_lag", "speech_lag", "frames_dropped", "frames_indexed", "live")
    MEDIA_SECONDS_FIELD_NUMBER: _ClassVar[int]
    FRAME_LAG_FIELD_NUMBER: _ClassVar[int]
    SPEECH_LAG_FIELD_NUMBER: _ClassVar[int]
    FRAMES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    FRAMES_INDEXED_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    media_seconds: float
    frame_lag: float
    speech_lag: float
    frames_dropped: int
    frames_indexed: int
    live: bool
    def __init__(self, media_seconds: _Optional[float] = ..., frame_lag: _Optional[float] = ..., speech_lag: _Optional[float] = ..., frames_dropped: _Optional[int] = ..., frames_indexed: _Optional[int] = ..., live: _Optional[bool] = ...) -> None: ...

class ChunkAck(_message.Message):
    __slots__ = ("sequence", "bytes_received")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    bytes_received: int
    def __init__(self, sequence: _Optional[int] = ..., bytes_received: _Optional[int] = ...) -> None: ...

class Segment(_message.Message):
    __slots__ = ("segment_id", "stream_id", "modality", "start", "end", "text", "language", "translation", "text_boxes", "shot_start", "scene_score", "explicit_score", "person_count", "face_count", "people_boxes")
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITY_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    TEXT_BOXES_FIELD_NUMBER: _ClassVar[int]
    SHOT_START_FIELD_NUMBER: _ClassVar[int]
    SCENE_SCORE_FIELD_NUMBER: _ClassVar[int]
    EXPLICIT_SCORE_FIELD_NUMBER: _ClassVar[int]
    PERSON_COUNT_FIELD_NUMBER: _ClassVar[int]
    FACE_COUNT_FIELD_NUMBER: _ClassVar[int]
    PEOPLE_BOXES_FIELD_NUMBER: _ClassVar[int]
    segment_id: str
    stream_id: str
    modality: Modality
    start: float
    end: float
    text: str
    language: str
    translation: str
    text_boxes: _containers.RepeatedCompositeFieldContainer[Box]
    shot_start: bool
    scene_score: float
    explicit_score: float
    person_count: int
    face_count: int
    people_boxes: _containers.RepeatedCompositeFieldContainer[Box]
    def __init__(self, segment_id: _Optional[str] = ..., stream_id: _Optional[str] = ..., modality: _Optional[_Union[Modality, str]] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ..., language: _Optional[str] = ..., translation: _Optional[str] = ..., text_boxes: _Optional[_Iterable[_Union[Box, _Mapping]]] = ..., shot_start: _Optional[bool] = ..., scene_score: _Optional[float] = ..., explicit_score: _Optional[float] = ..., person_count: _Optional[int] = ..., face_count: _Optional[int] = ..., people_boxes: _Optional[_Iterable[_Union[Box, _Mapping]]] = ...) -> None: ...

class Box(_message.Message):
    __slots__ = ("x", "y", "width", "height")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    width: float
    height: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ...) -> None: ...

class SegmentIndexed(_message.Message):
    __slots__ = ("segment",)
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ...) -> None: ...

class IngestSummary(_message.Message):
    __slots__ = ("stream_id", "chunks_received", "bytes_received", "media_seconds", "frames_indexed", "speech_segments_indexed", "wall_seconds", "spooled", "sound_segments_indexed", "alerts", "frames_dropped", "max_frame_lag", "max_speech_lag", "on_screen_text_segments_indexed")
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
    FRAMES_DROPPED_FIELD_NUMBER: _ClassVar[int]
    MAX_FRAME_LAG_FIELD_NUMBER: _ClassVar[int]
    MAX_SPEECH_LAG_FIELD_NUMBER: _ClassVar[int]
    ON_SCREEN_TEXT_SEGMENTS_INDEXED_FIELD_NUMBER: _ClassVar[int]
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
    frames_dropped: int
    max_frame_lag: float
    max_speech_lag: float
    on_screen_text_segments_indexed: int
    def __init__(self, stream_id: _Optional[str] = ..., chunks_received: _Optional[int] = ..., bytes_received: _Optional[int] = ..., media_seconds: _Optional[float] = ..., frames_indexed: _Optional[int] = ..., speech_segments_indexed: _Optional[int] = ..., wall_seconds: _Optional[float] = ..., spooled: _Optional[bool] = ..., sound_segments_indexed: _Optional[int] = ..., alerts: _Optional[int] = ..., frames_dropped: _Optional[int] = ..., max_frame_lag: _Optional[float] = ..., max_speech_lag: _Optional[float] = ..., on_screen_text_segments_indexed: _Optional[int] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("text", "image", "audio", "video", "segment_id", "passage", "top_k", "modalities", "stream_ids", "time_range", "keywords", "keyword_mode", "min_explicit_score")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    AUDIO_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_ID_FIELD_NUMBER: _ClassVar[int]
    PASSAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_MODE_FIELD_NUMBER: _ClassVar[int]
    MIN_EXPLICIT_SCORE_FIELD_NUMBER: _ClassVar[int]
    text: str
    image: bytes
    audio: MediaClip
    video: MediaClip
    segment_id: str
    passage: str
    top_k: int
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    time_range: TimeRange
    keywords: _containers.RepeatedScalarFieldContainer[str]
    keyword_mode: KeywordMode
    min_explicit_score: float
    def __init__(self, text: _Optional[str] = ..., image: _Optional[bytes] = ..., audio: _Optional[_Union[MediaClip, _Mapping]] = ..., video: _Optional[_Union[MediaClip, _Mapping]] = ..., segment_id: _Optional[str] = ..., passage: _Optional[str] = ..., top_k: _Optional[int] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., stream_ids: _Optional[_Iterable[str]] = ..., time_range: _Optional[_Union[TimeRange, _Mapping]] = ..., keywords: _Optional[_Iterable[str]] = ..., keyword_mode: _Optional[_Union[KeywordMode, str]] = ..., min_explicit_score: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("segment", "score", "cosine", "matched_sentence", "keyword_hits", "fused_score")
    SEGMENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    COSINE_FIELD_NUMBER: _ClassVar[int]
    MATCHED_SENTENCE_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_HITS_FIELD_NUMBER: _ClassVar[int]
    FUSED_SCORE_FIELD_NUMBER: _ClassVar[int]
    segment: Segment
    score: float
    cosine: float
    matched_sentence: str
    keyword_hits: _containers.RepeatedScalarFieldContainer[str]
    fused_score: float
    def __init__(self, segment: _Optional[_Union[Segment, _Mapping]] = ..., score: _Optional[float] = ..., cosine: _Optional[float] = ..., matched_sentence: _Optional[str] = ..., keyword_hits: _Optional[_Iterable[str]] = ..., fused_score: _Optional[float] = ...) -> None: ...

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
    __slots__ = ("text", "examples", "negatives", "modalities", "stream_ids", "threshold", "label", "keywords", "regex", "keyword_rule", "min_explicit_score")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    EXAMPLES_FIELD_NUMBER: _ClassVar[int]
    NEGATIVES_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_RULE_FIELD_NUMBER: _ClassVar[int]
    MIN_EXPLICIT_SCORE_FIELD_NUMBER: _ClassVar[int]
    text: str
    examples: _containers.RepeatedCompositeFieldContainer[QueryExample]
    negatives: _containers.RepeatedCompositeFieldContainer[QueryExample]
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    threshold: float
    label: str
    keywords: _containers.RepeatedScalarFieldContainer[str]
    regex: str
    keyword_rule: KeywordRule
    min_explicit_score: float
    def __init__(self, text: _Optional[str] = ..., examples: _Optional[_Iterable[_Union[QueryExample, _Mapping]]] = ..., negatives: _Optional[_Iterable[_Union[QueryExample, _Mapping]]] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., stream_ids: _Optional[_Iterable[str]] = ..., threshold: _Optional[float] = ..., label: _Optional[str] = ..., keywords: _Optional[_Iterable[str]] = ..., regex: _Optional[str] = ..., keyword_rule: _Optional[_Union[KeywordRule, str]] = ..., min_explicit_score: _Optional[float] = ...) -> None: ...

class StandingQuery(_message.Message):
    __slots__ = ("query_id", "text", "label", "modalities", "stream_ids", "threshold", "example_count", "negative_count", "created_at", "keywords", "regex", "keyword_rule", "min_explicit_score")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    KEYWORDS_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    KEYWORD_RULE_FIELD_NUMBER: _ClassVar[int]
    MIN_EXPLICIT_SCORE_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    text: str
    label: str
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    threshold: float
    example_count: int
    negative_count: int
    created_at: float
    keywords: _containers.RepeatedScalarFieldContainer[str]
    regex: str
    keyword_rule: KeywordRule
    min_explicit_score: float
    def __init__(self, query_id: _Optional[str] = ..., text: _Optional[str] = ..., label: _Optional[str] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., stream_ids: _Optional[_Iterable[str]] = ..., threshold: _Optional[float] = ..., example_count: _Optional[int] = ..., negative_count: _Optional[int] = ..., created_at: _Optional[float] = ..., keywords: _Optional[_Iterable[str]] = ..., regex: _Optional[str] = ..., keyword_rule: _Optional[_Union[KeywordRule, str]] = ..., min_explicit_score: _Optional[float] = ...) -> None: ...

class ListStandingQueriesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListStandingQueriesResponse(_message.Message):
    __slots__ = ("queries", "next_page_token")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[StandingQuery]
    next_page_token: str
    def __init__(self, queries: _Optional[_Iterable[_Union[StandingQuery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("item_id", "bank", "kind", "label", "external_id", "pdq_hashes", "fingerprint_seconds", "created_at", "signals", "confirmed", "dismissed")
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
    CONFIRMED_FIELD_NUMBER: _ClassVar[int]
    DISMISSED_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    bank: str
    kind: ReferenceKind
    label: str
    external_id: str
    pdq_hashes: int
    fingerprint_seconds: float
    created_at: float
    signals: _containers.ScalarMap[str, float]
    confirmed: int
    dismissed: int
    def __init__(self, item_id: _Optional[str] = ..., bank: _Optional[str] = ..., kind: _Optional[_Union[ReferenceKind, str]] = ..., label: _Optional[str] = ..., external_id: _Optional[str] = ..., pdq_hashes: _Optional[int] = ..., fingerprint_seconds: _Optional[float] = ..., created_at: _Optional[float] = ..., signals: _Optional[_Mapping[str, float]] = ..., confirmed: _Optional[int] = ..., dismissed: _Optional[int] = ...) -> None: ...

class AddBankItemResponse(_message.Message):
    __slots__ = ("item", "archive_alerts")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ALERTS_FIELD_NUMBER: _ClassVar[int]
    item: BankItem
    archive_alerts: int
    def __init__(self, item: _Optional[_Union[BankItem, _Mapping]] = ..., archive_alerts: _Optional[int] = ...) -> None: ...

class ListBankItemsRequest(_message.Message):
    __slots__ = ("bank", "page_size", "page_token")
    BANK_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bank: str
    page_size: int
    page_token: str
    def __init__(self, bank: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListBankItemsResponse(_message.Message):
    __slots__ = ("items", "next_page_token")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[BankItem]
    next_page_token: str
    def __init__(self, items: _Optional[_Iterable[_Union[BankItem, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RemoveBankItemRequest(_message.Message):
    __slots__ = ("item_id",)
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    def __init__(self, item_id: _Optional[str] = ...) -> None: ...

class RemoveBankItemResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ImportHashesRequest(_message.Message):
    __slots__ = ("bank", "hash_list", "label", "archive_window", "signal_type", "external_id")
    BANK_FIELD_NUMBER: _ClassVar[int]
    HASH_LIST_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SIGNAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    EXTERNAL_ID_FIELD_NUMBER: _ClassVar[int]
    bank: str
    hash_list: str
    label: str
    archive_window: float
    signal_type: str
    external_id: str
    def __init__(self, bank: _Optional[str] = ..., hash_list: _Optional[str] = ..., label: _Optional[str] = ..., archive_window: _Optional[float] = ..., signal_type: _Optional[str] = ..., external_id: _Optional[str] = ...) -> None: ...

class ImportHashesResponse(_message.Message):
    __slots__ = ("imported", "archive_alerts", "signals")
    class SignalsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ALERTS_FIELD_NUMBER: _ClassVar[int]
    SIGNALS_FIELD_NUMBER: _ClassVar[int]
    imported: int
    archive_alerts: int
    signals: _containers.ScalarMap[str, int]
    def __init__(self, imported: _Optional[int] = ..., archive_alerts: _Optional[int] = ..., signals: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ExportHashesRequest(_message.Message):
    __slots__ = ("bank", "format", "item_id", "page_size", "page_token")
    BANK_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    bank: str
    format: HashListFormat
    item_id: str
    page_size: int
    page_token: str
    def __init__(self, bank: _Optional[str] = ..., format: _Optional[_Union[HashListFormat, str]] = ..., item_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ExportHashesResponse(_message.Message):
    __slots__ = ("hash_list", "next_page_token")
    HASH_LIST_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hash_list: str
    next_page_token: str
    def __init__(self, hash_list: _Optional[str] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchRequest(_message.Message):
    __slots__ = ("stream_ids", "banks", "query_ids", "resume_after")
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    QUERY_IDS_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    banks: _containers.RepeatedScalarFieldContainer[str]
    query_ids: _containers.RepeatedScalarFieldContainer[str]
    resume_after: int
    def __init__(self, stream_ids: _Optional[_Iterable[str]] = ..., banks: _Optional[_Iterable[str]] = ..., query_ids: _Optional[_Iterable[str]] = ..., resume_after: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("alert_id", "kind", "stream_id", "start", "end", "modality", "segment_id", "match_id", "label", "bank", "external_id", "methods", "score", "cosine", "hash_distance", "fingerprint_score", "text", "thumbnail_jpeg", "suppressed", "from_archive", "raised_at", "evidence", "sequence", "replayed", "review")
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
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
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
    sequence: int
    replayed: bool
    review: AlertReview
    def __init__(self, alert_id: _Optional[str] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., stream_id: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., modality: _Optional[_Union[Modality, str]] = ..., segment_id: _Optional[str] = ..., match_id: _Optional[str] = ..., label: _Optional[str] = ..., bank: _Optional[str] = ..., external_id: _Optional[str] = ..., methods: _Optional[_Iterable[_Union[MatchMethod, str]]] = ..., score: _Optional[float] = ..., cosine: _Optional[float] = ..., hash_distance: _Optional[int] = ..., fingerprint_score: _Optional[float] = ..., text: _Optional[str] = ..., thumbnail_jpeg: _Optional[bytes] = ..., suppressed: _Optional[int] = ..., from_archive: _Optional[bool] = ..., raised_at: _Optional[float] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., sequence: _Optional[int] = ..., replayed: _Optional[bool] = ..., review: _Optional[_Union[AlertReview, _Mapping]] = ...) -> None: ...

class ListSegmentsRequest(_message.Message):
    __slots__ = ("stream_id", "modalities", "time_range", "page_size", "page_token")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    MODALITIES_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    modalities: _containers.RepeatedScalarFieldContainer[Modality]
    time_range: TimeRange
    page_size: int
    page_token: str
    def __init__(self, stream_id: _Optional[str] = ..., modalities: _Optional[_Iterable[_Union[Modality, str]]] = ..., time_range: _Optional[_Union[TimeRange, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSegmentsResponse(_message.Message):
    __slots__ = ("segments", "next_page_token")
    SEGMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    segments: _containers.RepeatedCompositeFieldContainer[Segment]
    next_page_token: str
    def __init__(self, segments: _Optional[_Iterable[_Union[Segment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchCaptionsRequest(_message.Message):
    __slots__ = ("stream_id", "descriptions", "finals_only", "replay")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTIONS_FIELD_NUMBER: _ClassVar[int]
    FINALS_ONLY_FIELD_NUMBER: _ClassVar[int]
    REPLAY_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    descriptions: bool
    finals_only: bool
    replay: int
    def __init__(self, stream_id: _Optional[str] = ..., descriptions: _Optional[bool] = ..., finals_only: _Optional[bool] = ..., replay: _Optional[int] = ...) -> None: ...

class CaptionWord(_message.Message):
    __slots__ = ("start", "end", "text", "probability")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    PROBABILITY_FIELD_NUMBER: _ClassVar[int]
    start: float
    end: float
    text: str
    probability: float
    def __init__(self, start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ..., probability: _Optional[float] = ...) -> None: ...

class Concept(_message.Message):
    __slots__ = ("name", "score")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    name: str
    score: float
    def __init__(self, name: _Optional[str] = ..., score: _Optional[float] = ...) -> None: ...

class Caption(_message.Message):
    __slots__ = ("caption_id", "stream_id", "kind", "is_final", "start", "end", "text", "stable_text", "words", "language", "translation", "segment_ids", "concepts", "sequence", "replayed")
    CAPTION_ID_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    IS_FINAL_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    STABLE_TEXT_FIELD_NUMBER: _ClassVar[int]
    WORDS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_IDS_FIELD_NUMBER: _ClassVar[int]
    CONCEPTS_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    caption_id: str
    stream_id: str
    kind: CaptionKind
    is_final: bool
    start: float
    end: float
    text: str
    stable_text: str
    words: _containers.RepeatedCompositeFieldContainer[CaptionWord]
    language: str
    translation: str
    segment_ids: _containers.RepeatedScalarFieldContainer[str]
    concepts: _containers.RepeatedCompositeFieldContainer[Concept]
    sequence: int
    replayed: bool
    def __init__(self, caption_id: _Optional[str] = ..., stream_id: _Optional[str] = ..., kind: _Optional[_Union[CaptionKind, str]] = ..., is_final: _Optional[bool] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., text: _Optional[str] = ..., stable_text: _Optional[str] = ..., words: _Optional[_Iterable[_Union[CaptionWord, _Mapping]]] = ..., language: _Optional[str] = ..., translation: _Optional[str] = ..., segment_ids: _Optional[_Iterable[str]] = ..., concepts: _Optional[_Iterable[_Union[Concept, _Mapping]]] = ..., sequence: _Optional[int] = ..., replayed: _Optional[bool] = ...) -> None: ...

class CaptionProgress(_message.Message):
    __slots__ = ("kind", "until")
    KIND_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    kind: CaptionKind
    until: float
    def __init__(self, kind: _Optional[_Union[CaptionKind, str]] = ..., until: _Optional[float] = ...) -> None: ...

class CaptionStreamState(_message.Message):
    __slots__ = ("stream_id", "live")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    LIVE_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    live: bool
    def __init__(self, stream_id: _Optional[str] = ..., live: _Optional[bool] = ...) -> None: ...

class CaptionEvent(_message.Message):
    __slots__ = ("caption", "state", "progress")
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    caption: Caption
    state: CaptionStreamState
    progress: CaptionProgress
    def __init__(self, caption: _Optional[_Union[Caption, _Mapping]] = ..., state: _Optional[_Union[CaptionStreamState, _Mapping]] = ..., progress: _Optional[_Union[CaptionProgress, _Mapping]] = ...) -> None: ...

class MatchFileHeader(_message.Message):
    __slots__ = ("kind", "format")
    KIND_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    kind: ReferenceKind
    format: str
    def __init__(self, kind: _Optional[_Union[ReferenceKind, str]] = ..., format: _Optional[str] = ...) -> None: ...

class MatchFileRequest(_message.Message):
    __slots__ = ("header", "chunk")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    header: MatchFileHeader
    chunk: MediaChunk
    def __init__(self, header: _Optional[_Union[MatchFileHeader, _Mapping]] = ..., chunk: _Optional[_Union[MediaChunk, _Mapping]] = ...) -> None: ...

class HashQuery(_message.Message):
    __slots__ = ("signal_type", "value")
    SIGNAL_TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    signal_type: str
    value: str
    def __init__(self, signal_type: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class MatchHashesRequest(_message.Message):
    __slots__ = ("hashes",)
    HASHES_FIELD_NUMBER: _ClassVar[int]
    hashes: _containers.RepeatedCompositeFieldContainer[HashQuery]
    def __init__(self, hashes: _Optional[_Iterable[_Union[HashQuery, _Mapping]]] = ...) -> None: ...

class LookupMatch(_message.Message):
    __slots__ = ("item", "methods", "evidence", "start", "end", "query", "allow_list")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LIST_FIELD_NUMBER: _ClassVar[int]
    item: BankItem
    methods: _containers.RepeatedScalarFieldContainer[MatchMethod]
    evidence: _containers.RepeatedCompositeFieldContainer[Evidence]
    start: float
    end: float
    query: int
    allow_list: bool
    def __init__(self, item: _Optional[_Union[BankItem, _Mapping]] = ..., methods: _Optional[_Iterable[_Union[MatchMethod, str]]] = ..., evidence: _Optional[_Iterable[_Union[Evidence, _Mapping]]] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., query: _Optional[int] = ..., allow_list: _Optional[bool] = ...) -> None: ...

class MatchResponse(_message.Message):
    __slots__ = ("matches", "truncated")
    MATCHES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    matches: _containers.RepeatedCompositeFieldContainer[LookupMatch]
    truncated: bool
    def __init__(self, matches: _Optional[_Iterable[_Union[LookupMatch, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class SetBankSettingsRequest(_message.Message):
    __slots__ = ("bank", "enabled", "allow_list", "thresholds", "clear_thresholds")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LIST_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    bank: str
    enabled: bool
    allow_list: bool
    thresholds: _containers.ScalarMap[str, float]
    clear_thresholds: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, bank: _Optional[str] = ..., enabled: _Optional[bool] = ..., allow_list: _Optional[bool] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., clear_thresholds: _Optional[_Iterable[str]] = ...) -> None: ...

class Bank(_message.Message):
    __slots__ = ("bank", "enabled", "allow_list", "thresholds", "items", "suppressed", "updated_at")
    class ThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BANK_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALLOW_LIST_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    SUPPRESSED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    bank: str
    enabled: bool
    allow_list: bool
    thresholds: _containers.ScalarMap[str, float]
    items: int
    suppressed: int
    updated_at: float
    def __init__(self, bank: _Optional[str] = ..., enabled: _Optional[bool] = ..., allow_list: _Optional[bool] = ..., thresholds: _Optional[_Mapping[str, float]] = ..., items: _Optional[int] = ..., suppressed: _Optional[int] = ..., updated_at: _Optional[float] = ...) -> None: ...

class ListBanksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBanksResponse(_message.Message):
    __slots__ = ("banks", "default_thresholds")
    class DefaultThresholdsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    BANKS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    banks: _containers.RepeatedCompositeFieldContainer[Bank]
    default_thresholds: _containers.ScalarMap[str, float]
    def __init__(self, banks: _Optional[_Iterable[_Union[Bank, _Mapping]]] = ..., default_thresholds: _Optional[_Mapping[str, float]] = ...) -> None: ...

class ReviewAlertRequest(_message.Message):
    __slots__ = ("alert_id", "verdict", "reviewer", "note")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    verdict: ReviewVerdict
    reviewer: str
    note: str
    def __init__(self, alert_id: _Optional[str] = ..., verdict: _Optional[_Union[ReviewVerdict, str]] = ..., reviewer: _Optional[str] = ..., note: _Optional[str] = ...) -> None: ...

class AlertReview(_message.Message):
    __slots__ = ("verdict", "reviewer", "note", "reviewed_at")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    REVIEWED_AT_FIELD_NUMBER: _ClassVar[int]
    verdict: ReviewVerdict
    reviewer: str
    note: str
    reviewed_at: float
    def __init__(self, verdict: _Optional[_Union[ReviewVerdict, str]] = ..., reviewer: _Optional[str] = ..., note: _Optional[str] = ..., reviewed_at: _Optional[float] = ...) -> None: ...

class AlertRecord(_message.Message):
    __slots__ = ("alert_id", "kind", "match_id", "bank", "stream_id", "start", "end", "raised_at", "review")
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MATCH_ID_FIELD_NUMBER: _ClassVar[int]
    BANK_FIELD_NUMBER: _ClassVar[int]
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    RAISED_AT_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    kind: AlertKind
    match_id: str
    bank: str
    stream_id: str
    start: float
    end: float
    raised_at: float
    review: AlertReview
    def __init__(self, alert_id: _Optional[str] = ..., kind: _Optional[_Union[AlertKind, str]] = ..., match_id: _Optional[str] = ..., bank: _Optional[str] = ..., stream_id: _Optional[str] = ..., start: _Optional[float] = ..., end: _Optional[float] = ..., raised_at: _Optional[float] = ..., review: _Optional[_Union[AlertReview, _Mapping]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("stream_ids", "banks", "query_ids", "raised_after", "raised_before", "review_state", "page_size", "page_token", "after_sequence")
    STREAM_IDS_FIELD_NUMBER: _ClassVar[int]
    BANKS_FIELD_NUMBER: _ClassVar[int]
    QUERY_IDS_FIELD_NUMBER: _ClassVar[int]
    RAISED_AFTER_FIELD_NUMBER: _ClassVar[int]
    RAISED_BEFORE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    stream_ids: _containers.RepeatedScalarFieldContainer[str]
    banks: _containers.RepeatedScalarFieldContainer[str]
    query_ids: _containers.RepeatedScalarFieldContainer[str]
    raised_after: float
    raised_before: float
    review_state: ReviewState
    page_size: int
    page_token: str
    after_sequence: int
    def __init__(self, stream_ids: _Optional[_Iterable[str]] = ..., banks: _Optional[_Iterable[str]] = ..., query_ids: _Optional[_Iterable[str]] = ..., raised_after: _Optional[float] = ..., raised_before: _Optional[float] = ..., review_state: _Optional[_Union[ReviewState, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteStreamRequest(_message.Message):
    __slots__ = ("stream_id",)
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    def __init__(self, stream_id: _Optional[str] = ...) -> None: ...

class DeleteSegmentsRequest(_message.Message):
    __slots__ = ("stream_id", "time_range")
    STREAM_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_RANGE_FIELD_NUMBER: _ClassVar[int]
    stream_id: str
    time_range: TimeRange
    def __init__(self, stream_id: _Optional[str] = ..., time_range: _Optional[_Union[TimeRange, _Mapping]] = ...) -> None: ...

class DeleteResponse(_message.Message):
    __slots__ = ("segments_deleted", "alerts_deleted", "archive_entries_deleted")
    SEGMENTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    ALERTS_DELETED_FIELD_NUMBER: _ClassVar[int]
    ARCHIVE_ENTRIES_DELETED_FIELD_NUMBER: _ClassVar[int]
    segments_deleted: int
    alerts_deleted: int
    archive_entries_deleted: int
    def __init__(self, segments_deleted: _Optional[int] = ..., alerts_deleted: _Optional[int] = ..., archive_entries_deleted: _Optional[int] = ...) -> None: ...
