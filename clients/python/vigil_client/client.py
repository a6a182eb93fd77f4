"""A small synchronous client for the Vigil gRPC API. No torch, no server code."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client.captions import CaptionWatch
from vigil_client.connection import Connection, open_channel
from vigil_client.erasure import Deleted, delete_segments_request
from vigil_client.errors import VigilError
from vigil_client.hash_sharing import (
    HASH_LIST_FORMATS,
    AlertRecordInfo,
    BankInfo,
    LookupMatchInfo,
    bank_settings_request,
    hash_queries,
    match_file_requests,
)
from vigil_client.media import MODALITIES, MODALITY_NAMES, MediaBytes
from vigil_client.moderation import (
    DEFAULT_BANK_CHUNK_BYTES,
    REFERENCE_KINDS,
    VERDICTS,
    AddedBankItem,
    AlertInfo,
    BankItemInfo,
    Example,
    ImportedHashes,
    StandingQueryInfo,
    alert_list_request,
    bank_item_kind,
    bank_item_requests,
    media_chunks,
    standing_query_request,
)
from vigil_client.streams import ServerStream

# A search's keyword mode by name; "" lets the server choose (see vigil.proto KeywordMode).
KEYWORD_MODES = {
    "": vigil_pb2.KEYWORD_MODE_UNSPECIFIED,
    "hybrid": vigil_pb2.KEYWORD_MODE_HYBRID,
    "only": vigil_pb2.KEYWORD_MODE_ONLY,
}

DEFAULT_SERVER = "127.0.0.1:50051"
SERVICE = "vigil.v1.Vigil"
DEFAULT_CHUNK_BYTES = 64 << 10
DEFAULT_MAX_IN_FLIGHT = 64  # chunks sent but not yet acknowledged
PACINGS = {"": vigil_pb2.PACING_UNSPECIFIED, "live": vigil_pb2.PACING_LIVE, "upload": vigil_pb2.PACING_UPLOAD}
DEFAULT_CALL_TIMEOUT = 120.0  # seconds, for calls when the client has no timeout of its own
ARCHIVE_CALL_TIMEOUT = 600.0  # AddBankItem and ImportHashes also search the archive


@dataclass(frozen=True)
class SegmentInfo:
    segment_id: str
    stream_id: str
    modality: str  # frame, speech, sound, on_screen_text
    start: float
    end: float
    text: str
    language: str
    translation: str = ""
    text_boxes: tuple[tuple[float, float, float, float], ...] = ()  # on-screen text: (x, y, w, h) per line
    shot_start: bool = False  # frames: the frame begins a shot
    scene_score: float = 0.0  # frames: difference from the shot's first frame, 0-1
    explicit_score: float | None = None  # frames: how likely sexually explicit, 0-1; None: not scored
    person_count: int | None = None  # frames: people seen; None: not looked for
    face_count: int | None = None  # frames: faces seen

    @classmethod
    def from_proto(cls, s: vigil_pb2.Segment) -> SegmentInfo:
        modality = MODALITY_NAMES.get(s.modality, "unspecified")
        boxes = tuple((round(b.x, 4), round(b.y, 4), round(b.width, 4), round(b.height, 4)) for b in s.text_boxes)
        return cls(s.segment_id, s.stream_id, modality, s.start, s.end, s.text, s.language, s.translation,
                   boxes, s.shot_start, round(s.scene_score, 4),
                   round(s.explicit_score, 4) if s.HasField("explicit_score") else None,
                   s.person_count if s.HasField("person_count") else None,
                   s.face_count if s.HasField("face_count") else None)  # fmt: skip


@dataclass(frozen=True)
class SearchMatch:
    segment: SegmentInfo
    score: float  # calibrated: comparable across modalities
    cosine: float = 0.0  # raw similarity
    matched_sentence: str = ""  # passage searches: the sentence nearest to the segment
    keyword_hits: tuple[str, ...] = ()  # keyword searches: the keywords the segment holds
    fused_score: float = 0.0  # keyword searches: what they rank by (reciprocal-rank fusion, or BM25)

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
            **({"text_boxes": [list(b) for b in s.text_boxes]} if s.text_boxes else {}),
            **({"shot_start": s.shot_start, "scene_score": s.scene_score} if s.modality == "frame" else {}),
            **({"matched_sentence": self.matched_sentence} if self.matched_sentence else {}),
            **({"keyword_hits": list(self.keyword_hits)} if self.keyword_hits else {}),
            **({"fused_score": round(self.fused_score, 6)} if self.fused_score else {}),
        }


@dataclass(frozen=True)
class SegmentPage:
    segments: list[SegmentInfo]  # in time order
    next_page_token: str  # empty on the last page


class AlertWatch(ServerStream[AlertInfo]):
    """The alerts of one Watch call, as the server raises them: iterate it for AlertInfo (see ServerStream)."""

    def convert(self, message: Any) -> AlertInfo:
        return AlertInfo.from_proto(message)


class VigilClient:
    """A connection to one server. `tls`, `ca`, `cert`, `key`, `token`: see connection.Connection (token: an API
    key, sent on every call; ValueError when a certificate file cannot be read)."""

    def __init__(
        self,
        target: str = DEFAULT_SERVER,
        timeout: float | None = None,
        *,
        tls: bool = False,
        ca: str = "",
        token: str = "",
        cert: str = "",
        key: str = "",
    ):
        self.target = target
        self.timeout = timeout
        self.connection = Connection(tls, ca, token, cert, key)
        self._channel = open_channel(
            target,
            self.connection,
            [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)],
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
        sample_rate: int = 0,
        channels: int = 0,
        time_offset: float = 0.0,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        pacing: str = "",
    ) -> Iterator[vigil_pb2.IngestEvent]:
        """Stream `data` (an iterable of byte chunks) and yield the server's events as they come.

        At most `max_in_flight` chunks are sent ahead of the server's acknowledgements. `pacing`: "upload" for a
        recording sent as fast as the server takes it (nothing is ever dropped), "live" for media sent as it happens
        (frames may be dropped when the server falls behind), "" to let the server tell from the timing.
        """
        if pacing not in PACINGS:
            raise ValueError(f"pacing must be one of {sorted(PACINGS)}, got {pacing!r}")
        config = vigil_pb2.StreamConfig(
            stream_id=stream_id,
            format=format,
            frame_rate=frame_rate,
            language=language,
            sample_rate=sample_rate,
            channels=channels,
            time_offset=time_offset,
            pacing=PACINGS[pacing],
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
        passage: str | None = None,
        top_k: int = 10,
        modalities: Sequence[str] = (),
        stream_ids: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        keywords: Sequence[str] = (),
        keyword_mode: str = "",
        min_explicit_score: float = 0.0,
    ) -> list[SearchMatch]:
        """Search by exactly one of: text, image bytes, an audio or video clip, a segment id or a passage (a
        long text, searched sentence by sentence), and/or by `keywords` (exact words or phrases; alone, or fused
        with the query). `keyword_mode`: "" (hybrid with keywords), "hybrid" or "only" (see KeywordMode)."""
        given = [name for name, value in [("text", text), ("image", image), ("audio", audio), ("video", video),
                                          ("segment_id", segment_id), ("passage", passage)]
                 if value is not None]  # fmt: skip
        if len(given) > 1 or not (given or keywords):
            raise ValueError(f"search takes one query and/or keywords, got {given or 'neither'}")
        if keyword_mode not in KEYWORD_MODES:
            raise ValueError(f"keyword_mode must be one of {', '.join(KEYWORD_MODES)}, got {keyword_mode!r}")
        request = vigil_pb2.SearchRequest(
            top_k=top_k, modalities=[MODALITIES[m] for m in modalities], stream_ids=list(stream_ids),
            keywords=list(keywords), keyword_mode=KEYWORD_MODES[keyword_mode], min_explicit_score=min_explicit_score,
        )  # fmt: skip
        if text is not None:
            request.text = text
        elif passage is not None:
            request.passage = passage
        elif image is not None:
            request.image = image
        elif audio is not None:
            request.audio.CopyFrom(vigil_pb2.MediaClip(data=audio.data, format=audio.format))
        elif video is not None:
            request.video.CopyFrom(vigil_pb2.MediaClip(data=video.data, format=video.format))
        elif segment_id is not None:
            request.segment_id = segment_id
        if start is not None or end is not None:
            request.time_range.start = start or 0.0
            request.time_range.end = end or 0.0
        try:
            response = self._stub.Search(request, timeout=self.timeout or 120.0)
        except grpc.RpcError as exc:
            raise VigilError(exc.code(), exc.details() or "") from None
        return [
            SearchMatch(SegmentInfo.from_proto(m.segment), m.score, m.cosine, m.matched_sentence,
                        tuple(m.keyword_hits), m.fused_score)
            for m in response.matches
        ]  # fmt: skip

    # -- Segments and captions ---------------------------------------------------------------------------------

    def list_segments(
        self,
        stream_id: str,
        *,
        modalities: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        page_size: int = 0,
        page_token: str = "",
    ) -> SegmentPage:
        """One page of a stream's stored segments in time order (page_size 0: the server's 100; at most 1000)."""
        request = vigil_pb2.ListSegmentsRequest(stream_id=stream_id, modalities=[MODALITIES[m] for m in modalities],
                                                page_size=page_size, page_token=page_token)  # fmt: skip
        if start is not None or end is not None:
            request.time_range.start = start or 0.0
            request.time_range.end = end or 0.0
        response = self._unary(self._stub.ListSegments, request)
        return SegmentPage([SegmentInfo.from_proto(s) for s in response.segments], response.next_page_token)

    def iter_segments(
        self,
        stream_id: str,
        *,
        modalities: Sequence[str] = (),
        start: float | None = None,
        end: float | None = None,
        page_size: int = 0,
    ) -> Iterator[SegmentInfo]:
        """Every stored segment of a stream (that passes the filters) in time order, fetched a page at a time."""
        token = ""
        while True:
            page = self.list_segments(stream_id, modalities=modalities, start=start, end=end, page_size=page_size,
                                      page_token=token)  # fmt: skip
            yield from page.segments
            if not (token := page.next_page_token):
                return

    def delete_stream(self, stream_id: str) -> Deleted:
        """Erase a stream: its segments, archived hashes and fingerprints, thumbnails and alerts, for good. An
        unknown stream deletes nothing (a retry is safe); a stream being ingested is refused (FAILED_PRECONDITION)."""
        return Deleted.from_proto(
            self._unary(self._stub.DeleteStream, vigil_pb2.DeleteStreamRequest(stream_id=stream_id))
        )

    def delete_segments(self, stream_id: str, start: float, end: float) -> Deleted:
        """Erase the segments of a stream that overlap [start, end) (stream seconds) and the alerts about that
        stretch, as delete_stream does for a whole stream."""
        return Deleted.from_proto(
            self._unary(self._stub.DeleteSegments, delete_segments_request(stream_id, start, end))
        )

    def watch_captions(
        self, stream_id: str, *, descriptions: bool = False, finals_only: bool = False, replay: int | None = None
    ) -> CaptionWatch:
        """A stream's live captions until cancelled: see CaptionWatch and vigil_client.captions.

        First a StreamState (is the stream being ingested now?), then up to `replay` of its last final captions
        (None: all the server keeps; 0: none), then every caption as it is made. Interim captions (is_final
        False) are replaced in place by the next caption with the same caption_id; `finals_only` leaves them
        out. `descriptions` adds what new scenes show. A stream that is not live is waited for.
        """
        request = vigil_pb2.WatchCaptionsRequest(stream_id=stream_id, descriptions=descriptions,
                                                 finals_only=finals_only)  # fmt: skip
        if replay is not None:
            request.replay = replay
        return CaptionWatch(self._stub.WatchCaptions(request))  # no deadline, whatever the timeout

    # -- Moderation: standing queries, reference banks, alerts -------------------------------------------------

    def _unary(self, method: Any, request: Any, timeout: float = DEFAULT_CALL_TIMEOUT) -> Any:
        try:
            return method(request, timeout=self.timeout or timeout)
        except grpc.RpcError as exc:
            raise VigilError.of(exc) from None

    def add_query(
        self,
        text: str = "",
        *,
        examples: Iterable[Example] = (),
        negatives: Iterable[Example] = (),
        modalities: Iterable[str] = (),
        stream_ids: Iterable[str] = (),
        threshold: float = 0.0,
        label: str = "",
        keywords: Iterable[str] = (),
        regex: str = "",
        keyword_rule: str = "",
        min_explicit_score: float = 0.0,
    ) -> StandingQueryInfo:
        """Register a standing query; every segment indexed from now on is checked against it.

        An example or negative is text (str), an encoded image (bytes), a clip (MediaBytes), or a file path
        (pathlib.Path or os.PathLike: image, audio or video by its extension). The query is the mean of the text
        and the examples; a segment closer to any negative than to the query does not fire. `modalities`
        (frame, speech, sound, on_screen_text) and `stream_ids` narrow what is checked; empty means all.
        `threshold` is the minimum calibrated score (0: the server's default); `label` defaults to the text on
        the server.
        `keywords` (exact words or phrases) and `regex` fire the query on what is said or shown, case- and
        accent-insensitively on word boundaries: alone (`keyword_rule` "only", the default without text or
        examples) or together with the embedding threshold ("and_embedding", the default with them).
        """
        request = standing_query_request(text, examples=examples, negatives=negatives, modalities=modalities,
                                         stream_ids=stream_ids, threshold=threshold, label=label, keywords=keywords,
                                         regex=regex, keyword_rule=keyword_rule)  # fmt: skip
        request.min_explicit_score = min_explicit_score  # frames scoring at least this; alone, the score is the query
        return StandingQueryInfo.from_proto(self._unary(self._stub.AddStandingQuery, request))

    def list_queries(self) -> list[StandingQueryInfo]:
        """Every standing query (read a page at a time)."""
        queries, token = [], None
        while token != "":
            response = self._unary(self._stub.ListStandingQueries,
                                   vigil_pb2.ListStandingQueriesRequest(page_token=token or ""))  # fmt: skip
            queries += [StandingQueryInfo.from_proto(q) for q in response.queries]
            token = response.next_page_token
        return queries

    def remove_query(self, query_id: str) -> None:
        """Remove a standing query; VigilError with NOT_FOUND for an unknown id."""
        self._unary(self._stub.RemoveStandingQuery, vigil_pb2.RemoveStandingQueryRequest(query_id=query_id))

    def add_bank_item(
        self,
        source: bytes | str | os.PathLike[str],
        *,
        bank: str,
        kind: str | None = None,
        format: str | None = None,
        label: str = "",
        external_id: str = "",
        archive_window: float = 0.0,
        chunk_size: int = DEFAULT_BANK_CHUNK_BYTES,
    ) -> AddedBankItem:
        """Add a picture, audio clip or video clip (a file path, or its bytes) to a reference bank.

        `kind` ("image", "audio", "video") and `format` (as Ingest's, for audio and video) default to what the
        file's extension says; bytes without a kind must be an image. The media is streamed in `chunk_size`
        pieces. The server also searches the last `archive_window` seconds of indexed streams for the item
        (0: its default; negative: none) and alerts the matches; their count comes back with the item.
        """
        kind, format = bank_item_kind(source, kind, format)
        header = vigil_pb2.BankItemHeader(bank=bank, kind=REFERENCE_KINDS[kind], format=format, label=label,
                                          external_id=external_id, archive_window=archive_window)  # fmt: skip
        with contextlib.ExitStack() as stack:  # a file is opened here, so a missing one fails here
            media = source if isinstance(source, bytes) else stack.enter_context(open(source, "rb"))
            requests = bank_item_requests(header, media_chunks(media, chunk_size))
            response = self._unary(self._stub.AddBankItem, requests, ARCHIVE_CALL_TIMEOUT)
        return AddedBankItem(BankItemInfo.from_proto(response.item), response.archive_alerts)

    def list_bank_items(self, bank: str = "") -> list[BankItemInfo]:
        """The items of one bank, or of every bank when `bank` is empty (read a page at a time)."""
        items, token = [], None
        while token != "":
            response = self._unary(self._stub.ListBankItems,
                                   vigil_pb2.ListBankItemsRequest(bank=bank, page_token=token or ""))  # fmt: skip
            items += [BankItemInfo.from_proto(item) for item in response.items]
            token = response.next_page_token
        return items

    def remove_bank_item(self, item_id: str) -> None:
        """Remove a bank item; VigilError with NOT_FOUND for an unknown id."""
        self._unary(self._stub.RemoveBankItem, vigil_pb2.RemoveBankItemRequest(item_id=item_id))

    def import_hashes(
        self,
        hash_list: str,
        *,
        bank: str,
        label: str = "",
        archive_window: float = 0.0,
        signal_type: str = "",
        external_id: str = "",
    ) -> ImportedHashes:
        """Load a hash list into a bank, one item per hash: PDQ lists (one 64-hex-digit hash per line, optionally
        with a label; pdq-photo-hasher's "hash,quality,label" lines; CSV with a hash column), typed lists whose
        lines name their signal type (pdq, vpdq, video_md5, video_sha256; mixed freely), or Meta's vPDQ file of
        one video. `signal_type` is the type of lines that name none ("vpdq": the text is one video's hash);
        `label` and `external_id` are for lines without one; `archive_window` as for add_bank_item."""
        request = vigil_pb2.ImportHashesRequest(bank=bank, hash_list=hash_list, label=label,
                                                archive_window=archive_window, signal_type=signal_type,
                                                external_id=external_id)  # fmt: skip
        response = self._unary(self._stub.ImportHashes, request, ARCHIVE_CALL_TIMEOUT)
        return ImportedHashes(response.imported, response.archive_alerts, dict(response.signals))

    def export_hashes(self, bank: str = "", *, format: str = "pdq", item_id: str = "") -> str:
        """The hashes of one bank (or all, or one item): `format` "pdq" (hash,quality,label lines under a header,
        PDQ only), "typed" (signal_type,signal_value,label,external_id: every hash that has an exchange form) or
        "vpdq" (one video item's vPDQ hash as Meta's file; needs item_id). import_hashes reads each back."""
        if format not in HASH_LIST_FORMATS:
            raise ValueError(f"format must be one of {', '.join(HASH_LIST_FORMATS)}, got {format!r}")
        pages: list[str] = []
        token = None
        while token != "":
            request = vigil_pb2.ExportHashesRequest(bank=bank, format=HASH_LIST_FORMATS[format], item_id=item_id,
                                                    page_token=token or "")  # fmt: skip
            response = self._unary(self._stub.ExportHashes, request)
            text = str(response.hash_list)
            # Each page repeats the list's header line (vpdq files have none): keep the first page's only.
            pages.append(text if not pages or format == "vpdq" else text.split("\n", 1)[1] if "\n" in text else "")
            token = response.next_page_token
        return "".join(pages)

    def watch(
        self,
        stream_ids: Iterable[str] = (),
        banks: Iterable[str] = (),
        query_ids: Iterable[str] = (),
        *,
        resume_after: int | None = None,
    ) -> AlertWatch:
        """Alerts as they are raised, until cancelled: see AlertWatch.

        Only alerts about `stream_ids` (empty: all streams); when `banks` or `query_ids` are given, only alerts
        from items of those banks or from those standing queries. Without `resume_after`, earlier alerts are not
        replayed. With it, the stored alerts whose `sequence` is larger come first (`replayed` True; 0: all of
        them), then live ones, with no gap and no repeat: pass the last sequence seen to miss nothing.

            with client.watch(banks=["logos"]) as alerts:
                for alert in alerts:
                    print(alert.stream_id, alert.start, alert.label)
        """
        request = vigil_pb2.WatchRequest(stream_ids=list(stream_ids), banks=list(banks), query_ids=list(query_ids))
        if resume_after is not None:
            request.resume_after = resume_after
        return AlertWatch(self._stub.Watch(request))  # no deadline, whatever the client's timeout

    def list_alerts(
        self,
        stream_ids: Iterable[str] = (),
        banks: Iterable[str] = (),
        query_ids: Iterable[str] = (),
        *,
        raised_after: float = 0.0,
        raised_before: float = 0.0,
        review_state: str | None = None,
        after_sequence: int = 0,
        page_size: int = 0,
    ) -> Iterator[AlertInfo]:
        """Every stored alert that passes the filters, oldest first (by sequence), with its review, fetched a
        page at a time (`page_size` 0: the server's 100; at most 1000) as it is iterated.

        Filters as for watch(); `raised_after` / `raised_before`: Unix seconds, [after, before), 0 for no bound;
        `review_state`: None (all), "unreviewed", "confirmed" or "dismissed"; `after_sequence`: only alerts with
        a larger sequence. ValueError at once for an unknown review state.
        """
        request = alert_list_request(stream_ids, banks, query_ids, raised_after=raised_after,
                                     raised_before=raised_before, review_state=review_state,
                                     after_sequence=after_sequence, page_size=page_size)  # fmt: skip
        return self._alert_pages(request)

    def _alert_pages(self, request: vigil_pb2.ListAlertsRequest) -> Iterator[AlertInfo]:
        while True:
            response = self._unary(self._stub.ListAlerts, request)
            yield from (AlertInfo.from_proto(a) for a in response.alerts)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token  # the same filters, the next page

    # -- Hash sharing: lookups, bank settings, reviews --------------------------------------------------------

    def match_file(
        self,
        source: bytes | str | os.PathLike[str],
        *,
        kind: str | None = None,
        format: str | None = None,
        chunk_size: int = DEFAULT_BANK_CHUNK_BYTES,
    ) -> list[LookupMatchInfo]:
        """The bank items a picture, audio or video clip (a file path, or its bytes) matches, with how and how
        closely; nothing is stored or alerted. Kind and format as for add_bank_item."""
        kind, format = bank_item_kind(source, kind, format)
        with contextlib.ExitStack() as stack:
            media = source if isinstance(source, bytes) else stack.enter_context(open(source, "rb"))
            requests = match_file_requests(kind, format, media_chunks(media, chunk_size))
            response = self._unary(self._stub.MatchFile, requests)
        return [LookupMatchInfo.from_proto(m) for m in response.matches]

    def match_hashes(self, hashes: Iterable[tuple[str, str]]) -> list[LookupMatchInfo]:
        """The bank items some hashes match: (signal type, hash) pairs such as ("pdq", "f8f8...") or
        ("video_md5", "d41d..."), or ("vpdq", the text of a vPDQ file); `query` says which hash matched."""
        response = self._unary(self._stub.MatchHashes, hash_queries(hashes))
        return [LookupMatchInfo.from_proto(m) for m in response.matches]

    def set_bank(
        self,
        bank: str,
        *,
        enabled: bool | None = None,
        allow_list: bool | None = None,
        thresholds: Mapping[str, float] | None = None,
        clear_thresholds: Iterable[str] = (),
    ) -> BankInfo:
        """Change a bank's settings (None leaves one as it is): enabled, allow-list, threshold overrides by signal
        ("pdq": bits, "vpdq": %, "copy_descriptor": cosine, "chromaprint": score); returns the bank."""
        request = bank_settings_request(bank, enabled=enabled, allow_list=allow_list, thresholds=thresholds,
                                        clear_thresholds=clear_thresholds)  # fmt: skip
        return BankInfo.from_proto(self._unary(self._stub.SetBankSettings, request))

    def list_banks(self) -> tuple[list[BankInfo], dict[str, float]]:
        """Every bank with items or settings, and the server's default thresholds by signal."""
        response = self._unary(self._stub.ListBanks, vigil_pb2.ListBanksRequest())
        return [BankInfo.from_proto(b) for b in response.banks], dict(response.default_thresholds)

    def review_alert(self, alert_id: str, verdict: str, *, reviewer: str = "", note: str = "") -> AlertRecordInfo:
        """Confirm ("confirmed") or dismiss ("dismissed") an alert; a dismissed item raises no more alerts on the
        alert's stream. VigilError with NOT_FOUND for an unknown alert id."""
        if verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {', '.join(VERDICTS)}, got {verdict!r}")
        request = vigil_pb2.ReviewAlertRequest(alert_id=alert_id, verdict=VERDICTS[verdict], reviewer=reviewer,
                                               note=note)  # fmt: skip
        return AlertRecordInfo.from_proto(self._unary(self._stub.ReviewAlert, request))
