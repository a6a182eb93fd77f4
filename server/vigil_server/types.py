"""The domain types the pipeline passes around: frozen dataclasses, no protobuf."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Pacing(enum.Enum):
    """How a producer sends its media (overload.py): AUTO lets the server tell from the chunks' timing."""

    AUTO = "auto"
    LIVE = "live"  # frames may be dropped when the server falls behind
    UPLOAD = "upload"  # nothing dropped; the producer is slowed down instead


class Modality(enum.Enum):
    FRAME = "frame"
    SPEECH = "speech"
    SOUND = "sound"
    ON_SCREEN_TEXT = "on_screen_text"  # text read from frames (OCR); not a caption or a transcript


DEFAULT_TENANT = "default"


@dataclass(frozen=True)
class StreamConfig:
    stream_id: str
    format: str  # one of decode.FORMATS
    sample_rate: int = 0  # raw PCM only
    channels: int = 0  # raw PCM only
    frame_rate: float = 1.0  # frames sampled per second
    language: str = ""  # ISO 639-1, or "" to let the model decide
    time_offset: float = 0.0  # seconds added to every segment time
    tenant: str = DEFAULT_TENANT
    pacing: Pacing = Pacing.AUTO


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
    text: str = ""  # transcript (speech), caption (sound) or the lines read (on-screen text)
    language: str = ""
    translation: str = ""  # English text that was embedded, when `text` is in another language
    tenant: str = DEFAULT_TENANT
    text_boxes: tuple[Box, ...] = ()  # on-screen text: where each line of `text` is, in order
    shot_start: bool = False  # frames: the frame begins a shot (shots.py)
    scene_score: float = 0.0  # frames: how far the frame is from its shot's first frame (0-1)
    # Frames: what the frame detectors saw (vigil_models.people, .explicit); None: not run (other modalities,
    # a detector switched off, a collection made before them).
    explicit_score: float | None = None  # 0-1, how likely the frame is sexually explicit
    person_count: int | None = None
    face_count: int | None = None
    people_boxes: tuple[Box, ...] = ()  # person_count boxes of people, then face_count boxes of faces


@dataclass(frozen=True)
class Box:
    """A rectangle in a frame, in fractions of its width and height from the top left corner."""

    x: float
    y: float
    width: float
    height: float


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
    alerts: int = 0
    frames_dropped: int = 0  # sampled frames not indexed because the stream fell behind real time (overload.py)
    max_frame_lag_s: float = 0.0  # the largest lag behind the live edge of a frame when it was stored
    max_speech_lag_s: float = 0.0  # the largest lag of the audio the speech detector scanned
    on_screen_text_segments_indexed: int = 0


@dataclass(frozen=True)
class StreamProgress:
    """How a stream keeps up with real time; sent each time its media advances by a second (overload.py)."""

    media_seconds: float  # media decoded so far (frames or audio, whichever is further)
    frame_lag_s: float  # lag of the last frame stored, when it was stored (0: as close as the stream has been)
    speech_lag_s: float  # the lag of the newest audio the speech detector has scanned
    frames_dropped: int  # so far
    frames_indexed: int  # so far
    live: bool  # sent at its media rate, not faster than the server takes it: only then are frames dropped


@dataclass(frozen=True)
class SearchFilter:
    tenant: str = DEFAULT_TENANT
    modalities: tuple[Modality, ...] = ()  # empty: all
    stream_ids: tuple[str, ...] = ()  # empty: all
    start: float | None = None  # segments ending after this
    end: float | None = None  # segments starting before this
    exclude_ids: tuple[str, ...] = ()  # never these segments
    stored_after_ms: int | None = None  # only segments stored at or after this unix time (ms)
    min_explicit_score: float = 0.0  # > 0: only frames whose explicit score is at least this


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


@dataclass(frozen=True)
class PassageItem:
    text: str  # a paragraph or more: searched sentence by sentence (hybrid.py)


@dataclass(frozen=True)
class KeywordsOnly:
    """No query to embed: a search by its keywords alone."""


# What a search (or, later, a standing query) looks for.
QueryItem = TextItem | ImageItem | AudioClip | VideoClip | SegmentRef | PassageItem | KeywordsOnly


class KeywordMode(enum.Enum):
    NONE = "none"  # a plain embedding search
    HYBRID = "hybrid"  # embedding and keyword rankings fused by reciprocal rank
    ONLY = "only"  # segments holding a keyword, ranked by BM25


@dataclass(frozen=True)
class SearchQuery:
    item: QueryItem
    top_k: int
    filter: SearchFilter
    keywords: tuple[str, ...] = ()  # exact words or phrases (keywords.py); empty: the text query's words
    keyword_mode: KeywordMode = KeywordMode.NONE


@dataclass(frozen=True)
class Match:
    segment: Segment
    cosine: float  # raw similarity in the shared space
    score: float = 0.0  # calibrated, comparable across modalities (see calibrate.py)
    sentence: str = ""  # passage searches: the sentence that found the segment
    keyword_hits: tuple[str, ...] = ()  # keyword searches: the keywords the segment's text holds
    fused: float = 0.0  # passage and keyword searches: the fused (or BM25) score they rank by


# -- moderation -------------------------------------------------------------------------------


class AlertKind(enum.Enum):
    QUERY = "query"
    REFERENCE = "reference"


class MatchMethod(enum.Enum):
    EMBEDDING = "embedding"
    PDQ = "pdq"
    FINGERPRINT = "fingerprint"
    VPDQ = "vpdq"  # enough of a reference video's frames within a recent stretch of the stream
    EXACT = "exact"  # the same bytes: an MD5 or SHA-256 of the whole file


class ReferenceKind(enum.Enum):
    IMAGE = "image"
    AUDIO = "audio"
    VIDEO = "video"
    PDQ_HASH = "pdq_hash"
    VPDQ_HASH = "vpdq_hash"  # a video's vPDQ hash imported without the video
    FILE_HASH = "file_hash"  # an MD5 or SHA-256 of a file imported without the file


ExampleItem = TextItem | ImageItem | AudioClip | VideoClip


class KeywordRule(enum.Enum):
    ONLY = "only"  # a standing query's keywords fire it alone
    AND_EMBEDDING = "and_embedding"  # keywords and the embedding threshold must both hold


@dataclass(frozen=True)
class StandingQuerySpec:
    """What a client asks to watch for."""

    text: str
    examples: tuple[ExampleItem, ...] = ()
    negatives: tuple[ExampleItem, ...] = ()
    modalities: tuple[Modality, ...] = ()  # empty: all
    stream_ids: tuple[str, ...] = ()  # empty: all
    threshold: float = 0.0  # calibrated score; 0: the server default
    label: str = ""
    tenant: str = DEFAULT_TENANT
    keywords: tuple[str, ...] = ()  # exact words or phrases (keywords.py)
    regex: str = ""
    keyword_rule: KeywordRule | None = None  # None: ONLY without text and examples, else AND_EMBEDDING
    min_explicit_score: float = 0.0  # > 0: only frames scoring at least this; alone, the score is the query


@dataclass(frozen=True)
class StandingQuery:
    query_id: str
    text: str
    label: str
    modalities: tuple[Modality, ...]
    stream_ids: tuple[str, ...]
    threshold: float
    example_count: int
    negative_count: int
    created_at: float  # unix seconds
    tenant: str = DEFAULT_TENANT
    keywords: tuple[str, ...] = ()
    regex: str = ""
    keyword_rule: KeywordRule = KeywordRule.AND_EMBEDDING  # matters only with keywords or a regex
    min_explicit_score: float = 0.0  # > 0: only frames scoring at least this


@dataclass(frozen=True)
class BankItemSpec:
    bank: str
    kind: ReferenceKind
    data: bytes
    format: str = ""  # audio and video: as StreamConfig.format
    label: str = ""
    external_id: str = ""
    archive_window_s: float | None = None  # None: the server default; <= 0: no archive search
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class SignalAmount:
    """How much of a reference item one signal describes: hashes, descriptors, seconds of audio."""

    signal: str  # the signal's name, e.g. "pdq"
    method: MatchMethod | None
    amount: float


@dataclass(frozen=True, slots=True)  # slots: a bank may hold millions of items
class BankItem:
    item_id: str
    bank: str
    kind: ReferenceKind
    label: str
    external_id: str
    signals: tuple[SignalAmount, ...]  # one per signal that describes the item
    created_at: float  # unix seconds
    tenant: str = DEFAULT_TENANT
    confirmed: int = 0  # its alerts reviewers confirmed
    dismissed: int = 0  # its alerts reviewers dismissed

    @property
    def pdq_hashes(self) -> int:
        return int(sum(s.amount for s in self.signals if s.method is MatchMethod.PDQ))

    @property
    def fingerprint_seconds(self) -> float:
        return sum(s.amount for s in self.signals if s.method is MatchMethod.FINGERPRINT)


@dataclass(frozen=True)
class WatchFilter:
    stream_ids: tuple[str, ...] = ()
    banks: tuple[str, ...] = ()
    query_ids: tuple[str, ...] = ()
    tenant: str = DEFAULT_TENANT

    def passes(self, alert: Alert) -> bool:
        if alert.tenant != self.tenant or (self.stream_ids and alert.stream_id not in self.stream_ids):
            return False
        if not (self.banks or self.query_ids):
            return True
        if alert.kind is AlertKind.QUERY:
            return alert.match_id in self.query_ids
        return alert.bank in self.banks


@dataclass(frozen=True)
class Evidence:
    """What one signal (or a standing query's embedding) found comparing live media with a query or item."""

    signal: str  # "query" for standing queries, else the signal's name ("pdq", "copy_descriptor", ...)
    method: MatchMethod | None  # how the wire contract reports it; None for signals it has no name for
    value: float  # the signal's own measure: a cosine, a Hamming distance, a fingerprint score
    matched: bool  # whether the value passed the signal's threshold


@dataclass(frozen=True)
class Alert:
    alert_id: str
    kind: AlertKind
    stream_id: str
    start: float
    end: float
    modality: Modality
    segment_id: str  # empty for audio fingerprint matches
    match_id: str  # standing query id or bank item id
    label: str
    bank: str = ""
    external_id: str = ""
    evidence: tuple[Evidence, ...] = ()  # in signal order
    score: float = 0.0  # calibrated score (queries) or cosine of an embedding match (references)
    cosine: float = 0.0
    text: str = ""
    thumbnail_jpeg: bytes = b""
    suppressed: int = 0  # repeats held back by flood control since the previous alert of the pair
    from_archive: bool = False
    raised_at: float = 0.0
    tenant: str = DEFAULT_TENANT
    sequence: int = 0  # its place in the alert store (review.py), set when stored; 0: not stored
    replayed: bool = False  # sent from the store (Watch's replay), not as it was raised
    review: Review | None = None  # the latest review, in listings

    @property
    def methods(self) -> tuple[MatchMethod, ...]:
        """The methods that matched, in signal order."""
        return tuple(e.method for e in self.evidence if e.matched and e.method is not None)

    @property
    def hash_distance(self) -> int | None:
        """PDQ bits that differ, when the frame matched by PDQ."""
        return next((round(e.value) for e in self.evidence if e.method is MatchMethod.PDQ and e.matched), None)

    @property
    def fingerprint_score(self) -> float | None:
        """The Chromaprint score, when the audio matched by fingerprint."""
        return next((e.value for e in self.evidence if e.method is MatchMethod.FINGERPRINT and e.matched), None)


@dataclass(frozen=True)
class BankSettings:
    """How a bank's items are matched; a bank nobody configured has the defaults."""

    bank: str
    enabled: bool = True  # a disabled bank's items match nothing (live, archive or lookups)
    allow_list: bool = False  # its matches raise no alert and keep every other bank's off the same media
    thresholds: tuple[tuple[str, float], ...] = ()  # (signal name, threshold in that signal's measure), sorted
    tenant: str = DEFAULT_TENANT
    updated_at: float = 0.0  # unix seconds; 0: never set

    def threshold(self, signal: str) -> float | None:
        return next((value for name, value in self.thresholds if name == signal), None)


@dataclass(frozen=True)
class BankInfo:
    settings: BankSettings
    items: int  # items in the bank
    suppressed: int  # alerts of other banks its allow-list matches kept back, since the bank was first set


@dataclass(frozen=True)
class BankSettingsChange:
    """A SetBankSettings request: None leaves a setting as it is."""

    bank: str
    enabled: bool | None = None
    allow_list: bool | None = None
    thresholds: tuple[tuple[str, float], ...] = ()  # set these (signal, threshold) overrides
    clear_thresholds: tuple[str, ...] = ()  # and drop the overrides of these signals
    tenant: str = DEFAULT_TENANT


class Verdict(enum.Enum):
    CONFIRMED = "confirmed"  # the alert was right
    DISMISSED = "dismissed"  # a false alarm: the same item on the same stream is not alerted again


@dataclass(frozen=True)
class Review:
    verdict: Verdict
    reviewer: str
    note: str
    reviewed_at: float  # unix seconds


class ReviewState(enum.Enum):
    """Which stored alerts a listing returns, by their latest review."""

    ANY = "any"
    UNREVIEWED = "unreviewed"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"


@dataclass(frozen=True)
class AlertFilter:
    """Which stored alerts a listing or a Watch replay reads: as WatchFilter, and by time, review and sequence."""

    watch: WatchFilter
    raised_after: float | None = None  # unix seconds, inclusive; None: no bound
    raised_before: float | None = None  # exclusive
    review: ReviewState = ReviewState.ANY
    after_sequence: int = 0


@dataclass(frozen=True)
class AlertPage:
    alerts: list[Alert]  # oldest first, with their reviews
    more: bool  # a next page may hold more


@dataclass(frozen=True)
class AlertRecord:
    """What is kept of a raised alert, so it can be found by id and reviewed."""

    alert_id: str
    kind: AlertKind
    match_id: str
    bank: str
    stream_id: str
    start: float
    end: float
    raised_at: float
    review: Review | None = None
    tenant: str = DEFAULT_TENANT


class HashListForm(enum.Enum):
    PDQ = "pdq"  # `pdq_hash,quality,label` CSV of PDQ hashes
    TYPED = "typed"  # `signal_type,signal_value,label,external_id` CSV of every hash with an exchange form
    VPDQ = "vpdq"  # one item's vPDQ hash as Meta's file


@dataclass(frozen=True)
class HashQuery:
    """A hash to look up: its signal type (python-threatexchange's name) and its text."""

    signal_type: str
    value: str


@dataclass(frozen=True)
class LookupMatch:
    """A bank item that a looked-up file or hash matches."""

    item: BankItem
    evidence: tuple[Evidence, ...]  # the signals that matched, with their values
    start: float = 0.0  # where in the looked-up media (seconds), for media; 0 for hashes
    end: float = 0.0
    query: int = -1  # MatchHashes: the index of the hash that matched (the first one); -1 for files
    allow_list: bool = False  # the item's bank is an allow-list

    @property
    def methods(self) -> tuple[MatchMethod, ...]:
        return tuple(e.method for e in self.evidence if e.matched and e.method is not None)


# What an Ingest call streams back.
IngestEvent = ChunkAcked | SegmentStored | IngestSummary | Alert | StreamProgress
