"""The gRPC servicer: protobuf in, dataclasses to the pipeline, dataclasses back to protobuf.

Errors become status codes here and nowhere else.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_server.decode import CONTAINER_FORMATS, FORMATS, RAW_PCM_FORMATS
from vigil_server.errors import (
    AlreadyExists,
    InvalidMedia,
    InvalidRequest,
    NotFound,
    NotReady,
    Overloaded,
    StoreUnavailable,
    TooLarge,
    VigilError,
)
from vigil_server.pipeline import Pipeline
from vigil_server.types import (
    AudioClip,
    Chunk,
    ChunkAcked,
    ImageItem,
    IngestEvent,
    IngestSummary,
    Match,
    Modality,
    QueryItem,
    SearchFilter,
    SearchQuery,
    Segment,
    SegmentRef,
    SegmentStored,
    StreamConfig,
    TextItem,
    VideoClip,
)

log = logging.getLogger(__name__)

STREAM_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MAX_QUERY_CHARS = 2000
MAX_QUERY_MEDIA_BYTES = 16 << 20
DEFAULT_TOP_K = 10
MAX_TOP_K = 1000
MAX_FRAME_RATE = 30.0

STATUS = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidMedia: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NotReady: grpc.StatusCode.UNAVAILABLE,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
}

MODALITY_TO_PROTO = {
    Modality.FRAME: vigil_pb2.MODALITY_FRAME,
    Modality.SPEECH: vigil_pb2.MODALITY_SPEECH,
    Modality.SOUND: vigil_pb2.MODALITY_SOUND,
}
MODALITY_FROM_PROTO = {v: k for k, v in MODALITY_TO_PROTO.items()}


@dataclass
class ServerState:
    """What the servicer needs; `pipeline` is None until the models have loaded."""

    pipeline: Pipeline | None
    default_frame_rate: float
    max_chunk_bytes: int

    def ready(self) -> Pipeline:
        if self.pipeline is None:
            raise NotReady("models are still loading; retry when the health status is SERVING")
        return self.pipeline


def status_of(error: VigilError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


# -- protobuf -> dataclasses ------------------------------------------------------------------


def stream_config(msg: vigil_pb2.StreamConfig, default_frame_rate: float) -> StreamConfig:
    if not STREAM_ID.match(msg.stream_id):
        raise InvalidRequest("config.stream_id must be 1-128 characters from [A-Za-z0-9._:-]")
    fmt = msg.format.lower()
    if fmt not in FORMATS:
        raise InvalidRequest(f"config.format {msg.format!r} is not supported; use one of {', '.join(sorted(FORMATS))}")
    if fmt in RAW_PCM_FORMATS and not (8000 <= msg.sample_rate <= 192_000 and 1 <= msg.channels <= 8):
        raise InvalidRequest(f"raw {fmt} needs config.sample_rate (8000-192000) and config.channels (1-8)")
    frame_rate = msg.frame_rate or default_frame_rate
    if not (math.isfinite(frame_rate) and 0 < frame_rate <= MAX_FRAME_RATE):
        raise InvalidRequest(f"config.frame_rate must be in (0, {MAX_FRAME_RATE:g}], got {msg.frame_rate}")
    if msg.language and not LANGUAGE.match(msg.language):
        raise InvalidRequest(f"config.language must be an ISO 639-1 code such as 'en', got {msg.language!r}")
    if not (math.isfinite(msg.time_offset) and msg.time_offset >= 0):
        raise InvalidRequest("config.time_offset must be a finite number of seconds >= 0")
    return StreamConfig(
        stream_id=msg.stream_id,
        format=fmt,
        sample_rate=msg.sample_rate,
        channels=msg.channels,
        frame_rate=frame_rate,
        language=msg.language,
        labels=dict(msg.labels),
        time_offset=msg.time_offset,
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
    if kind == "text":
        if not msg.text.strip():
            raise InvalidRequest("SearchRequest.text must be a non-empty query")
        if len(msg.text) > MAX_QUERY_CHARS:
            raise InvalidRequest(f"SearchRequest.text has {len(msg.text)} characters; the limit is {MAX_QUERY_CHARS}")
        return TextItem(msg.text)
    if kind == "segment_id":
        if not msg.segment_id or len(msg.segment_id) > 64:
            raise InvalidRequest("SearchRequest.segment_id must be a segment id as returned by Ingest or Search")
        return SegmentRef(msg.segment_id)
    if kind == "image":
        _check_size("image", len(msg.image))
        return ImageItem(msg.image)
    if kind in ("audio", "video"):
        clip = getattr(msg, kind)
        _check_size(kind, len(clip.data))
        fmt = clip.format.lower()
        if fmt not in CONTAINER_FORMATS:
            raise InvalidRequest(
                f"{kind}.format {clip.format!r} is not supported for query clips; "
                f"use one of {', '.join(sorted(CONTAINER_FORMATS))}"
            )
        return AudioClip(clip.data, fmt) if kind == "audio" else VideoClip(clip.data, fmt)
    raise InvalidRequest("SearchRequest needs a query: text, image, audio, video or segment_id")


def _check_size(kind: str, size: int) -> None:
    if size == 0:
        raise InvalidRequest(f"the {kind} query is empty")
    if size > MAX_QUERY_MEDIA_BYTES:
        raise TooLarge(f"the {kind} query has {size} bytes; the limit is {MAX_QUERY_MEDIA_BYTES >> 20} MiB")


def search_query(msg: vigil_pb2.SearchRequest) -> SearchQuery:
    item = query_item(msg)
    top_k = msg.top_k or DEFAULT_TOP_K
    if top_k > MAX_TOP_K:
        raise InvalidRequest(f"top_k must be at most {MAX_TOP_K}")
    modalities = []
    for value in msg.modalities:
        if value not in MODALITY_FROM_PROTO:
            raise InvalidRequest(f"unknown modality {value} in SearchRequest.modalities")
        modalities.append(MODALITY_FROM_PROTO[value])
    start = end = None
    if msg.HasField("time_range"):
        start = msg.time_range.start
        end = msg.time_range.end if msg.time_range.end > 0 else None
        if end is not None and end <= start:
            raise InvalidRequest("time_range.end must be after time_range.start (or <= 0 for no upper bound)")
    for stream_id in msg.stream_ids:
        if not STREAM_ID.match(stream_id):
            raise InvalidRequest(f"stream id {stream_id!r} is not valid")
    return SearchQuery(
        item=item,
        top_k=top_k,
        filter=SearchFilter(modalities=tuple(modalities), stream_ids=tuple(msg.stream_ids), start=start, end=end),
    )


# -- dataclasses -> protobuf ------------------------------------------------------------------


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
    )


def event_proto(event: IngestEvent) -> vigil_pb2.IngestEvent:
    if isinstance(event, ChunkAcked):
        return vigil_pb2.IngestEvent(
            ack=vigil_pb2.ChunkAck(sequence=event.sequence, bytes_received=event.bytes_received)
        )
    if isinstance(event, SegmentStored):
        return vigil_pb2.IngestEvent(segment=vigil_pb2.SegmentIndexed(segment=segment_proto(event.segment)))
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
        )
    )


def match_proto(m: Match) -> vigil_pb2.Match:
    return vigil_pb2.Match(segment=segment_proto(m.segment), score=m.score, cosine=m.cosine)


# -- the service ------------------------------------------------------------------------------


class VigilServicer(vigil_pb2_grpc.VigilServicer):
    def __init__(self, state: ServerState):
        self.state = state

    async def Ingest(  # noqa: N802 - generated name
        self, request_iterator: AsyncIterator[vigil_pb2.IngestRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[vigil_pb2.IngestEvent]:
        try:
            pipeline = self.state.ready()
            first = await anext(aiter(request_iterator), None)
            if first is None or first.WhichOneof("request") != "config":
                raise InvalidRequest("the first IngestRequest must carry a config (StreamConfig)")
            config = stream_config(first.config, self.state.default_frame_rate)
            body = chunks(request_iterator, self.state.max_chunk_bytes)
            async for event in pipeline.ingest(config, body):
                yield event_proto(event)
        except VigilError as error:
            log.info("Ingest failed: %s: %s", type(error).__name__, error)
            await context.abort(status_of(error), str(error))

    async def Search(  # noqa: N802 - generated name
        self, request: vigil_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.SearchResponse:
        try:
            matches = await self.state.ready().search(search_query(request))
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.SearchResponse(matches=[match_proto(m) for m in matches])
