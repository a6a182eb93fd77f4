"""Protobuf <-> dataclasses for streams and searches: requests are checked here and turned into
the domain types (types.py); nothing below the servicer sees a message."""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Sequence

from vigil.v1 import vigil_pb2
from vigil_server.decode import CONTAINER_FORMATS, FORMATS, RAW_PCM_FORMATS
from vigil_server.errors import InvalidRequest, TooLarge
from vigil_server.keywords import MAX_KEYWORD_CHARS
from vigil_server.settings import MAX_FRAME_RATE
from vigil_server.types import (
    Alert,
    AlertKind,
    AudioClip,
    Box,
    Chunk,
    ChunkAcked,
    ExampleItem,
    ImageItem,
    IngestEvent,
    IngestSummary,
    KeywordMode,
    KeywordsOnly,
    Match,
    MatchMethod,
    Modality,
    Pacing,
    PassageItem,
    QueryItem,
    SearchFilter,
    SearchQuery,
    Segment,
    SegmentRef,
    SegmentStored,
    StreamConfig,
    StreamProgress,
    TextItem,
    VideoClip,
)

STREAM_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
OBJECT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # segment, query, item and alert ids (the server makes uuid hex)
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MAX_QUERY_CHARS = 2000
MAX_PASSAGE_CHARS = 20000
MAX_QUERY_MEDIA_BYTES = 16 << 20
MAX_ID_CHARS = 64  # segment, query and item ids
DEFAULT_TOP_K = 10
MAX_TOP_K = 1000
MAX_STREAM_IDS = 100  # per search, standing query or watch
MAX_MODALITY_ENTRIES = 16  # of a modalities list, duplicates included (they are dropped)
MAX_SEARCH_KEYWORDS = 16
MAX_ECHO_CHARS = 80  # of client input repeated in an error message

MODALITY_TO_PROTO = {
    Modality.FRAME: vigil_pb2.MODALITY_FRAME,
    Modality.SPEECH: vigil_pb2.MODALITY_SPEECH,
    Modality.SOUND: vigil_pb2.MODALITY_SOUND,
    Modality.ON_SCREEN_TEXT: vigil_pb2.MODALITY_ON_SCREEN_TEXT,
}
MODALITY_FROM_PROTO = {v: k for k, v in MODALITY_TO_PROTO.items()}
KEYWORD_MODE_FROM_PROTO: dict[int, KeywordMode | None] = {
    vigil_pb2.KEYWORD_MODE_UNSPECIFIED: None,  # HYBRID with keywords, else none
    vigil_pb2.KEYWORD_MODE_HYBRID: KeywordMode.HYBRID,
    vigil_pb2.KEYWORD_MODE_ONLY: KeywordMode.ONLY,
}

PACING = {vigil_pb2.PACING_LIVE: Pacing.LIVE, vigil_pb2.PACING_UPLOAD: Pacing.UPLOAD}  # unknown values: AUTO


# -- protobuf -> dataclasses ------------------------------------------------------------------


def echo(value: object) -> str:
    """Client input for an error message: its repr, cut to MAX_ECHO_CHARS."""
    text = repr(value)
    return text if len(text) <= MAX_ECHO_CHARS else text[: MAX_ECHO_CHARS - 3] + "..."


def finite(value: float, field: str) -> float:
    if not math.isfinite(value):
        raise InvalidRequest(f"{field} must be a finite number, got {value}", field=field)
    return float(value)


def time_range(msg: vigil_pb2.TimeRange) -> tuple[float, float | None]:
    """(start, end) of a request's time range; end None for no upper bound (end <= 0)."""
    start = finite(msg.start, "time_range.start")
    end = finite(msg.end, "time_range.end") if msg.end > 0 else None
    if end is not None and end <= start:
        raise InvalidRequest(
            "time_range.end must be after time_range.start (or <= 0 for no upper bound)", field="time_range.end"
        )
    return start, end


def id_value(value: str, field: str, what: str = "an id as returned by the server") -> str:
    if not OBJECT_ID.match(value):
        raise InvalidRequest(f"{field} must be {what} (1-{MAX_ID_CHARS} characters from [A-Za-z0-9._:-])",
                             field=field)  # fmt: skip
    return value


def stream_config(msg: vigil_pb2.StreamConfig, default_frame_rate: float) -> StreamConfig:
    if not STREAM_ID.match(msg.stream_id):
        raise InvalidRequest("config.stream_id must be 1-128 characters from [A-Za-z0-9._:-]", field="config.stream_id")
    fmt = msg.format.lower()
    if fmt not in FORMATS:
        raise InvalidRequest(
            f"config.format {echo(msg.format)} is not supported; use one of {', '.join(sorted(FORMATS))}",
            field="config.format",
        )
    if fmt in RAW_PCM_FORMATS and not (8000 <= msg.sample_rate <= 192_000 and 1 <= msg.channels <= 8):
        raise InvalidRequest(
            f"raw {fmt} needs config.sample_rate (8000-192000) and config.channels (1-8)", field="config.sample_rate"
        )
    frame_rate = msg.frame_rate or default_frame_rate
    if not (math.isfinite(frame_rate) and 0 < frame_rate <= MAX_FRAME_RATE):
        raise InvalidRequest(
            f"config.frame_rate must be in (0, {MAX_FRAME_RATE:g}], got {msg.frame_rate}", field="config.frame_rate"
        )
    if msg.language and not LANGUAGE.match(msg.language):
        raise InvalidRequest(
            f"config.language must be an ISO 639-1 code such as 'en', got {echo(msg.language)}", field="config.language"
        )
    if not (math.isfinite(msg.time_offset) and msg.time_offset >= 0):
        raise InvalidRequest("config.time_offset must be a finite number of seconds >= 0", field="config.time_offset")
    return StreamConfig(
        stream_id=msg.stream_id,
        format=fmt,
        sample_rate=msg.sample_rate,
        channels=msg.channels,
        frame_rate=frame_rate,
        language=msg.language,
        time_offset=msg.time_offset,
        pacing=PACING.get(msg.pacing, Pacing.AUTO),
    )


async def chunks(requests: AsyncIterator[vigil_pb2.IngestRequest], max_bytes: int) -> AsyncIterator[Chunk]:
    async for request in requests:
        if request.WhichOneof("request") != "chunk":
            raise InvalidRequest("only the first IngestRequest may carry a config; later ones must carry a chunk")
        if len(request.chunk.data) > max_bytes:
            raise TooLarge(
                f"chunk {request.chunk.sequence} has {len(request.chunk.data)} bytes; the limit is {max_bytes}"
            )
        yield Chunk(request.chunk.sequence, request.chunk.data)


def query_item(msg: vigil_pb2.SearchRequest) -> QueryItem:
    kind = msg.WhichOneof("query")
    if kind == "segment_id":
        return SegmentRef(id_value(msg.segment_id, "segment_id", "a segment id as returned by Ingest or Search"))
    if kind == "passage":
        if not msg.passage.strip() or len(msg.passage) > MAX_PASSAGE_CHARS:
            raise InvalidRequest(
                f"SearchRequest.passage must be non-empty text of at most {MAX_PASSAGE_CHARS} characters",
                field="passage",
            )
        return PassageItem(msg.passage)
    if kind is None:
        if msg.keywords:
            return KeywordsOnly()
        raise InvalidRequest("SearchRequest needs a query: text, image, audio, video, segment_id, passage or keywords")
    return example_item(msg, kind, "SearchRequest")


def example_item(msg: vigil_pb2.SearchRequest | vigil_pb2.QueryExample, kind: str, where: str) -> ExampleItem:
    """The text, image, audio or video field `kind` of a search or an example (same field names)."""
    if kind == "text":
        if not msg.text.strip():
            raise InvalidRequest(f"{where}.text must be a non-empty query", field=_field(where, "text"))
        if len(msg.text) > MAX_QUERY_CHARS:
            raise InvalidRequest(
                f"{where}.text has {len(msg.text)} characters; the limit is {MAX_QUERY_CHARS}",
                field=_field(where, "text"),
            )
        return TextItem(msg.text)
    if kind == "image":
        _check_size("image", len(msg.image))
        return ImageItem(msg.image)
    clip = getattr(msg, kind)
    _check_size(kind, len(clip.data))
    fmt = clip.format.lower()
    if fmt not in CONTAINER_FORMATS:
        raise InvalidRequest(
            f"{kind}.format {echo(clip.format)} is not supported for query clips; "
            f"use one of {', '.join(sorted(CONTAINER_FORMATS))}",
            field=_field(where, f"{kind}.format"),
        )
    return AudioClip(clip.data, fmt) if kind == "audio" else VideoClip(clip.data, fmt)


def _field(where: str, name: str) -> str:
    """The request field path for BadRequest details: "SearchRequest" is the request itself."""
    return name if where[:1].isupper() else f"{where}.{name}"


def _check_size(kind: str, size: int) -> None:
    if size == 0:
        raise InvalidRequest(f"the {kind} query is empty")
    if size > MAX_QUERY_MEDIA_BYTES:
        raise TooLarge(f"the {kind} query has {size} bytes; the limit is {MAX_QUERY_MEDIA_BYTES >> 20} MiB")


def search_query(msg: vigil_pb2.SearchRequest) -> SearchQuery:
    item = query_item(msg)
    top_k = msg.top_k or DEFAULT_TOP_K
    if not 0 < top_k <= MAX_TOP_K:
        raise InvalidRequest(f"top_k must be 1-{MAX_TOP_K} (0: {DEFAULT_TOP_K})", field="top_k")
    modalities = modality_list(msg.modalities, "SearchRequest")
    start: float | None = None
    end: float | None = None
    if msg.HasField("time_range"):
        start, end = time_range(msg.time_range)
    streams = stream_ids(msg.stream_ids)
    keywords = search_keywords(msg.keywords)
    if msg.keyword_mode not in KEYWORD_MODE_FROM_PROTO:
        raise InvalidRequest(f"unknown keyword_mode {msg.keyword_mode}", field="keyword_mode")
    mode = KEYWORD_MODE_FROM_PROTO[msg.keyword_mode] or (KeywordMode.HYBRID if msg.keywords else KeywordMode.NONE)
    return SearchQuery(
        item=item,
        top_k=top_k,
        filter=SearchFilter(
            modalities=modalities,
            stream_ids=streams,
            start=start,
            end=end,
            min_explicit_score=explicit_score(msg.min_explicit_score, "min_explicit_score"),
        ),
        keywords=keywords,
        keyword_mode=mode,
    )


def explicit_score(value: float, field: str) -> float:
    """A minimum explicit score: 0 (none) to 1."""
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise InvalidRequest(f"{field} must be in [0, 1] (0: no such condition), got {value}", field=field)
    return float(value)


def modality_list(values: Sequence[vigil_pb2.Modality], where: str) -> tuple[Modality, ...]:
    """The modalities, each once, in the order first given."""
    if len(values) > MAX_MODALITY_ENTRIES:
        raise InvalidRequest(f"{where}.modalities has {len(values)} entries; name each modality once "
                             f"(there are {len(MODALITY_FROM_PROTO)})", field="modalities")  # fmt: skip
    modalities: dict[Modality, None] = {}
    for value in values:
        if value not in MODALITY_FROM_PROTO:
            raise InvalidRequest(f"unknown modality {value} in {where}.modalities", field="modalities")
        modalities[MODALITY_FROM_PROTO[value]] = None
    return tuple(modalities)


def stream_ids(values: Sequence[str], field: str = "stream_ids") -> tuple[str, ...]:
    """Stream ids, each once, in the order first given; at most MAX_STREAM_IDS."""
    if len(values) > MAX_STREAM_IDS:
        raise InvalidRequest(f"{field} has {len(values)} entries; the limit is {MAX_STREAM_IDS}", field=field)
    for stream_id in values:
        if not STREAM_ID.match(stream_id):
            raise InvalidRequest(f"{field}: stream id {echo(stream_id)} is not 1-128 characters from "
                                 "[A-Za-z0-9._:-]", field=field)  # fmt: skip
    return tuple(dict.fromkeys(values))


def search_keywords(values: Sequence[str]) -> tuple[str, ...]:
    if len(values) > MAX_SEARCH_KEYWORDS:
        raise InvalidRequest(f"keywords has {len(values)} entries; the limit is {MAX_SEARCH_KEYWORDS}",
                             field="keywords")  # fmt: skip
    for keyword in values:
        if len(keyword) > MAX_KEYWORD_CHARS:
            raise InvalidRequest(f"keywords has a keyword of {len(keyword)} characters; the limit is "
                                 f"{MAX_KEYWORD_CHARS}", field="keywords")  # fmt: skip
    return tuple(dict.fromkeys(values))


# -- dataclasses -> protobuf ------------------------------------------------------------------


def boxes_proto(boxes: Sequence[Box]) -> list[vigil_pb2.Box]:
    return [vigil_pb2.Box(x=b.x, y=b.y, width=b.width, height=b.height) for b in boxes]


def segment_proto(s: Segment) -> vigil_pb2.Segment:
    return vigil_pb2.Segment(
        segment_id=s.segment_id,
        stream_id=s.stream_id,
        modality=MODALITY_TO_PROTO[s.modality],
        start=s.start,
        end=s.end,
        text=s.text,
        language=s.language,
        translation=s.translation,
        text_boxes=boxes_proto(s.text_boxes),
        shot_start=s.shot_start,
        scene_score=s.scene_score,
        explicit_score=s.explicit_score,
        person_count=s.person_count,
        face_count=s.face_count,
        people_boxes=boxes_proto(s.people_boxes),
    )


def event_proto(event: IngestEvent) -> vigil_pb2.IngestEvent:
    if isinstance(event, ChunkAcked):
        return vigil_pb2.IngestEvent(
            ack=vigil_pb2.ChunkAck(sequence=event.sequence, bytes_received=event.bytes_received)
        )
    if isinstance(event, SegmentStored):
        return vigil_pb2.IngestEvent(segment=vigil_pb2.SegmentIndexed(segment=segment_proto(event.segment)))
    if isinstance(event, Alert):
        return vigil_pb2.IngestEvent(alert=alert_proto(event))
    if isinstance(event, StreamProgress):
        return vigil_pb2.IngestEvent(progress=stream_progress_proto(event))
    assert isinstance(event, IngestSummary)
    return vigil_pb2.IngestEvent(
        summary=vigil_pb2.IngestSummary(
            stream_id=event.stream_id,
            chunks_received=event.chunks_received,
            bytes_received=event.bytes_received,
            media_seconds=event.media_seconds,
            frames_indexed=event.frames_indexed,
            speech_segments_indexed=event.speech_segments_indexed,
            wall_seconds=event.wall_seconds,
            spooled=event.spooled,
            sound_segments_indexed=event.sound_segments_indexed,
            alerts=event.alerts,
            frames_dropped=event.frames_dropped,
            max_frame_lag=round(event.max_frame_lag_s, 3),
            max_speech_lag=round(event.max_speech_lag_s, 3),
            on_screen_text_segments_indexed=event.on_screen_text_segments_indexed,
        )
    )


def stream_progress_proto(p: StreamProgress) -> vigil_pb2.StreamProgress:
    return vigil_pb2.StreamProgress(
        media_seconds=round(p.media_seconds, 3),
        frame_lag=round(p.frame_lag_s, 3),
        speech_lag=round(p.speech_lag_s, 3),
        frames_dropped=p.frames_dropped,
        frames_indexed=p.frames_indexed,
        live=p.live,
    )


def match_proto(m: Match) -> vigil_pb2.Match:
    return vigil_pb2.Match(
        segment=segment_proto(m.segment),
        score=m.score,
        cosine=m.cosine,
        matched_sentence=m.sentence,
        keyword_hits=list(m.keyword_hits),
        fused_score=m.fused,
    )


ALERT_KIND_TO_PROTO = {
    AlertKind.QUERY: vigil_pb2.ALERT_KIND_QUERY,
    AlertKind.REFERENCE: vigil_pb2.ALERT_KIND_REFERENCE,
}
METHOD_TO_PROTO = {
    MatchMethod.EMBEDDING: vigil_pb2.MATCH_METHOD_EMBEDDING,
    MatchMethod.PDQ: vigil_pb2.MATCH_METHOD_PDQ,
    MatchMethod.FINGERPRINT: vigil_pb2.MATCH_METHOD_FINGERPRINT,
    MatchMethod.VPDQ: vigil_pb2.MATCH_METHOD_VPDQ,
    MatchMethod.EXACT: vigil_pb2.MATCH_METHOD_EXACT,
}


def alert_proto(a: Alert) -> vigil_pb2.Alert:
    msg = vigil_pb2.Alert(
        alert_id=a.alert_id,
        kind=ALERT_KIND_TO_PROTO[a.kind],
        stream_id=a.stream_id,
        start=a.start,
        end=a.end,
        modality=MODALITY_TO_PROTO[a.modality],
        segment_id=a.segment_id,
        match_id=a.match_id,
        label=a.label,
        bank=a.bank,
        external_id=a.external_id,
        methods=[METHOD_TO_PROTO[m] for m in a.methods],
        score=a.score,
        cosine=a.cosine,
        text=a.text,
        thumbnail_jpeg=a.thumbnail_jpeg,
        suppressed=a.suppressed,
        from_archive=a.from_archive,
        raised_at=a.raised_at,
        evidence=[vigil_pb2.Evidence(signal=e.signal, value=e.value, matched=e.matched) for e in a.evidence],
        sequence=a.sequence,
        replayed=a.replayed,
    )
    if a.hash_distance is not None:
        msg.hash_distance = a.hash_distance
    if a.fingerprint_score is not None:
        msg.fingerprint_score = a.fingerprint_score
    if a.review is not None:
        r = a.review
        verdict = vigil_pb2.ReviewVerdict.Value("REVIEW_VERDICT_" + r.verdict.name)
        msg.review.CopyFrom(vigil_pb2.AlertReview(verdict=verdict, reviewer=r.reviewer, note=r.note,
                                                  reviewed_at=r.reviewed_at))  # fmt: skip
    return msg
