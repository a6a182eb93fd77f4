"""Protobuf <-> dataclasses for segment listings, erasure and live captions: requests are checked here."""

from __future__ import annotations

import math
from dataclasses import dataclass

from vigil.v1 import vigil_pb2
from vigil_server.captions import Caption, CaptionEvent, CaptionKind, CaptionProgress, FeedState
from vigil_server.erasure import Erased
from vigil_server.errors import InvalidRequest
from vigil_server.listing import Cursor, SegmentPage, decode_token, encode_token
from vigil_server.settings import MAX_CAPTION_REPLAY, MAX_PAGE_SIZE
from vigil_server.types import SearchFilter
from vigil_server.wire import STREAM_ID, modality_list, segment_proto, time_range

DEFAULT_PAGE_SIZE = 100
MAX_TOKEN_CHARS = 512

CAPTION_KIND_TO_PROTO = {
    CaptionKind.SPEECH: vigil_pb2.CAPTION_KIND_SPEECH,
    CaptionKind.SOUND: vigil_pb2.CAPTION_KIND_SOUND,
    CaptionKind.DESCRIPTION: vigil_pb2.CAPTION_KIND_DESCRIPTION,
}


@dataclass(frozen=True)
class SegmentListing:
    filter: SearchFilter
    page_size: int
    after: Cursor | None


@dataclass(frozen=True)
class CaptionRequest:
    stream_id: str
    interims: bool
    descriptions: bool
    replay: int | None  # None: all the server keeps


def _stream_id(value: str) -> str:
    if not STREAM_ID.match(value):
        raise InvalidRequest("stream_id must be 1-128 characters from [A-Za-z0-9._:-]", field="stream_id")
    return value


def segment_listing(msg: vigil_pb2.ListSegmentsRequest, tenant: str) -> SegmentListing:
    stream_id = _stream_id(msg.stream_id)
    page_size = msg.page_size or DEFAULT_PAGE_SIZE
    if not 0 < page_size <= MAX_PAGE_SIZE:
        raise InvalidRequest(f"page_size must be 1-{MAX_PAGE_SIZE} (0: {DEFAULT_PAGE_SIZE})", field="page_size")
    start: float | None = None
    end: float | None = None
    if msg.HasField("time_range"):
        start, end = time_range(msg.time_range)
    modalities = modality_list(msg.modalities, "ListSegmentsRequest")
    search_filter = SearchFilter(tenant, modalities, (stream_id,), start, end)
    if len(msg.page_token) > MAX_TOKEN_CHARS:
        raise InvalidRequest("page_token is not a next_page_token of this listing", field="page_token")
    after = decode_token(msg.page_token, search_filter) if msg.page_token else None
    return SegmentListing(search_filter, page_size, after)


def segment_page_proto(page: SegmentPage, search_filter: SearchFilter) -> vigil_pb2.ListSegmentsResponse:
    token = encode_token(page.cursor, search_filter) if page.cursor is not None else ""
    return vigil_pb2.ListSegmentsResponse(segments=[segment_proto(s) for s in page.segments], next_page_token=token)


def deleted_stream(msg: vigil_pb2.DeleteStreamRequest) -> str:
    return _stream_id(msg.stream_id)


def deleted_stretch(msg: vigil_pb2.DeleteSegmentsRequest) -> tuple[str, float, float]:
    """(stream id, start, end) of a DeleteSegments request: both ends finite, end after start."""
    stream_id = _stream_id(msg.stream_id)
    if not msg.HasField("time_range"):
        raise InvalidRequest(
            "time_range is required: the stream seconds to erase (DeleteStream erases a whole stream)",
            field="time_range",
        )
    start, end = msg.time_range.start, msg.time_range.end
    for value, name in ((start, "time_range.start"), (end, "time_range.end")):
        if not math.isfinite(value):
            raise InvalidRequest(f"{name} must be a finite number of stream seconds, got {value}", field=name)
    if end <= start:
        raise InvalidRequest(f"time_range.end ({end:g}) must be after time_range.start ({start:g})",
                             field="time_range.end")  # fmt: skip
    return stream_id, start, end


def delete_response_proto(erased: Erased) -> vigil_pb2.DeleteResponse:
    return vigil_pb2.DeleteResponse(
        segments_deleted=erased.segments, alerts_deleted=erased.alerts, archive_entries_deleted=erased.archive_entries
    )


def caption_request(msg: vigil_pb2.WatchCaptionsRequest) -> CaptionRequest:
    stream_id = _stream_id(msg.stream_id)
    replay = msg.replay if msg.HasField("replay") else None
    if replay is not None and replay > MAX_CAPTION_REPLAY:
        raise InvalidRequest(f"replay must be at most {MAX_CAPTION_REPLAY}", field="replay")
    return CaptionRequest(stream_id, not msg.finals_only, msg.descriptions, replay)


def caption_event_proto(event: CaptionEvent) -> vigil_pb2.CaptionEvent:
    if isinstance(event, FeedState):
        return vigil_pb2.CaptionEvent(state=vigil_pb2.CaptionStreamState(stream_id=event.stream_id, live=event.live))
    if isinstance(event, CaptionProgress):
        progress = vigil_pb2.CaptionProgress(kind=CAPTION_KIND_TO_PROTO[event.kind], until=event.until)
        return vigil_pb2.CaptionEvent(progress=progress)
    return vigil_pb2.CaptionEvent(caption=caption_proto(event))


def caption_proto(c: Caption) -> vigil_pb2.Caption:
    return vigil_pb2.Caption(
        caption_id=c.caption_id,
        stream_id=c.stream_id,
        kind=CAPTION_KIND_TO_PROTO[c.kind],
        is_final=c.final,
        start=c.start,
        end=c.end,
        text=c.text,
        stable_text=c.stable_text,
        words=[
            vigil_pb2.CaptionWord(start=w.start, end=w.end, text=w.text.strip(), probability=w.probability)
            for w in c.words
        ],
        language=c.language,
        translation=c.translation,
        segment_ids=list(c.segment_ids),
        concepts=[vigil_pb2.Concept(name=k.name, score=k.score) for k in c.concepts],
        sequence=c.sequence,
        replayed=c.replayed,
    )
