"""Standing queries, reference bank items and alerts: the client's typed view of them and the requests that
create them. No I/O beyond reading the files the caller names."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from vigil.v1 import vigil_pb2
from vigil_client.media import (
    FORMAT_BY_EXTENSION,
    MODALITIES,
    MODALITY_NAMES,
    MediaBytes,
    looks_like_image,
    media_kind,
    read_chunks,
)

DEFAULT_BANK_CHUNK_BYTES = 1 << 20
# A standing query's keyword rule by name; "" lets the server choose (see vigil.proto KeywordRule).
KEYWORD_RULES = {
    "": vigil_pb2.KEYWORD_RULE_UNSPECIFIED,
    "only": vigil_pb2.KEYWORD_RULE_ONLY,
    "and_embedding": vigil_pb2.KEYWORD_RULE_AND_EMBEDDING,
}

# An example (or negative) of a standing query: text; encoded image bytes; a clip; or a file, whose
# extension says whether it is an image, an audio clip or a video clip.
Example = str | bytes | MediaBytes | os.PathLike[str]

REFERENCE_KINDS = {
    "image": vigil_pb2.REFERENCE_KIND_IMAGE,
    "audio": vigil_pb2.REFERENCE_KIND_AUDIO,
    "video": vigil_pb2.REFERENCE_KIND_VIDEO,
}
REFERENCE_KIND_NAMES = {
    **{v: k for k, v in REFERENCE_KINDS.items()},
    vigil_pb2.REFERENCE_KIND_PDQ_HASH: "pdq_hash",
    vigil_pb2.REFERENCE_KIND_VPDQ_HASH: "vpdq_hash",
    vigil_pb2.REFERENCE_KIND_FILE_HASH: "file_hash",
}
ALERT_KIND_NAMES = {vigil_pb2.ALERT_KIND_QUERY: "query", vigil_pb2.ALERT_KIND_REFERENCE: "reference"}
METHOD_NAMES = {
    vigil_pb2.MATCH_METHOD_EMBEDDING: "embedding",
    vigil_pb2.MATCH_METHOD_PDQ: "pdq",
    vigil_pb2.MATCH_METHOD_FINGERPRINT: "fingerprint",
    vigil_pb2.MATCH_METHOD_VPDQ: "vpdq",
    vigil_pb2.MATCH_METHOD_EXACT: "exact",
}
VERDICTS = {"confirmed": vigil_pb2.REVIEW_VERDICT_CONFIRMED, "dismissed": vigil_pb2.REVIEW_VERDICT_DISMISSED}
VERDICT_NAMES = {v: k for k, v in VERDICTS.items()}
# Which stored alerts list_alerts returns, by their latest review; None: all (see vigil.proto ReviewState).
REVIEW_STATES = {
    None: vigil_pb2.REVIEW_STATE_UNSPECIFIED,
    "unreviewed": vigil_pb2.REVIEW_STATE_UNREVIEWED,
    "confirmed": vigil_pb2.REVIEW_STATE_CONFIRMED,
    "dismissed": vigil_pb2.REVIEW_STATE_DISMISSED,
}


@dataclass(frozen=True)
class StandingQueryInfo:
    query_id: str
    text: str
    label: str
    modalities: tuple[str, ...]  # frame, speech, sound, on_screen_text; empty: all
    stream_ids: tuple[str, ...]  # empty: all
    threshold: float  # minimum calibrated score to fire
    example_count: int
    negative_count: int
    created_at: float  # unix seconds
    keywords: tuple[str, ...] = ()  # exact words or phrases
    regex: str = ""
    keyword_rule: str = ""  # "only" or "and_embedding"; matters only with keywords or a regex

    @classmethod
    def from_proto(cls, q: vigil_pb2.StandingQuery) -> StandingQueryInfo:
        modalities = tuple(MODALITY_NAMES.get(m, "unspecified") for m in q.modalities)
        rule = next((name for name, value in KEYWORD_RULES.items() if value == q.keyword_rule and name), "")
        return cls(q.query_id, q.text, q.label, modalities, tuple(q.stream_ids), q.threshold, q.example_count,
                   q.negative_count, q.created_at, tuple(q.keywords), q.regex, rule)  # fmt: skip

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "modalities": list(self.modalities), "stream_ids": list(self.stream_ids),
                "threshold": round(self.threshold, 6), "keywords": list(self.keywords)}  # fmt: skip


@dataclass(frozen=True)
class BankItemInfo:
    item_id: str
    bank: str
    kind: str  # image, audio, video, pdq_hash, vpdq_hash, file_hash
    label: str
    external_id: str
    pdq_hashes: int  # PDQ hashes kept: one per picture or per distinct video frame
    fingerprint_seconds: float  # seconds of audio fingerprinted; 0 when none
    created_at: float  # unix seconds
    signals: Mapping[str, float] = field(default_factory=dict)  # how much each signal describes, by name
    confirmed: int = 0  # alerts reviewers confirmed
    dismissed: int = 0  # alerts reviewers dismissed

    @classmethod
    def from_proto(cls, b: vigil_pb2.BankItem) -> BankItemInfo:
        kind = REFERENCE_KIND_NAMES.get(b.kind, "unspecified")
        return cls(b.item_id, b.bank, kind, b.label, b.external_id, b.pdq_hashes, b.fingerprint_seconds, b.created_at,
                   dict(b.signals), b.confirmed, b.dismissed)  # fmt: skip

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "signals": dict(self.signals)}


@dataclass(frozen=True)
class AddedBankItem:
    item: BankItemInfo
    archive_alerts: int  # alerts raised from the archive search for the new item


@dataclass(frozen=True)
class ImportedHashes:
    imported: int  # bank items created, one per hash
    archive_alerts: int
    signals: Mapping[str, int] = field(default_factory=dict)  # items per signal ("pdq", "vpdq", "md5", ...)


@dataclass(frozen=True)
class AlertInfo:
    alert_id: str
    kind: str  # "query" (a standing query fired) or "reference" (a bank item matched)
    stream_id: str
    start: float  # the matching stretch, stream seconds
    end: float
    modality: str  # frame, speech, sound, on_screen_text
    segment_id: str  # empty for audio fingerprint matches
    match_id: str  # the standing query id or the bank item id
    label: str
    bank: str  # reference alerts only
    external_id: str  # reference alerts only
    methods: tuple[str, ...]  # reference alerts: embedding, pdq, fingerprint
    score: float  # query alerts: calibrated score; reference alerts: the embedding cosine or 0
    cosine: float
    hash_distance: int | None  # PDQ bits that differ, when a hash was compared
    fingerprint_score: float | None  # Chromaprint score, when compared
    text: str  # transcript or caption
    thumbnail_jpeg: bytes  # frames: a small JPEG of the frame; empty for archive alerts
    suppressed: int  # matches of this (stream, query or item) held back since the previous alert
    from_archive: bool
    raised_at: float  # unix seconds
    sequence: int = 0  # the alert's place in the alert store: only grows; watch(resume_after=) takes it
    replayed: bool = False  # sent from the store by a resumed watch, not as it was raised
    verdict: str | None = None  # list_alerts: the latest review, "confirmed" or "dismissed"; None before any
    reviewer: str | None = None
    note: str | None = None
    reviewed_at: float | None = None  # unix seconds

    @classmethod
    def from_proto(cls, a: vigil_pb2.Alert) -> AlertInfo:
        reviewed = a.HasField("review")
        review = a.review
        return cls(
            alert_id=a.alert_id,
            kind=ALERT_KIND_NAMES.get(a.kind, "unspecified"),
            stream_id=a.stream_id,
            start=a.start,
            end=a.end,
            modality=MODALITY_NAMES.get(a.modality, "unspecified"),
            segment_id=a.segment_id,
            match_id=a.match_id,
            label=a.label,
            bank=a.bank,
            external_id=a.external_id,
            methods=tuple(METHOD_NAMES.get(m, "unspecified") for m in a.methods),
            score=a.score,
            cosine=a.cosine,
            hash_distance=a.hash_distance if a.HasField("hash_distance") else None,
            fingerprint_score=a.fingerprint_score if a.HasField("fingerprint_score") else None,
            text=a.text,
            thumbnail_jpeg=a.thumbnail_jpeg,
            suppressed=a.suppressed,
            from_archive=a.from_archive,
            raised_at=a.raised_at,
            sequence=a.sequence,
            replayed=a.replayed,
            verdict=VERDICT_NAMES.get(review.verdict, "") if reviewed else None,
            reviewer=review.reviewer if reviewed else None,
            note=review.note if reviewed else None,
            reviewed_at=review.reviewed_at if reviewed else None,
        )

    def as_json(self) -> dict[str, object]:
        """JSON-ready: the thumbnail as its length in bytes; an absent hash distance, fingerprint score or review
        as None."""
        fingerprint = None if self.fingerprint_score is None else round(self.fingerprint_score, 6)
        return {
            "stream_id": self.stream_id,
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
            "match_id": self.match_id,
            "label": self.label,
            "score": round(self.score, 6),
            "hash_distance": self.hash_distance,
            "text": self.text,
            "alert_id": self.alert_id,
            "modality": self.modality,
            "segment_id": self.segment_id,
            "bank": self.bank,
            "external_id": self.external_id,
            "methods": list(self.methods),
            "cosine": round(self.cosine, 6),
            "fingerprint_score": fingerprint,
            "suppressed": self.suppressed,
            "from_archive": self.from_archive,
            "raised_at": self.raised_at,
            "thumbnail_bytes": len(self.thumbnail_jpeg),
            "sequence": self.sequence,
            "replayed": self.replayed,
            "verdict": self.verdict,
            "reviewer": self.reviewer,
            "note": self.note,
            "reviewed_at": self.reviewed_at,
        }


def example_proto(example: Example) -> vigil_pb2.QueryExample:
    """A QueryExample from text, image bytes, a MediaBytes clip, or a file (image, audio or video by extension)."""
    if isinstance(example, str):
        return vigil_pb2.QueryExample(text=example)
    if isinstance(example, bytes):
        return vigil_pb2.QueryExample(image=example)
    if isinstance(example, MediaBytes):
        clip = vigil_pb2.MediaClip(data=example.data, format=example.format)
        return vigil_pb2.QueryExample(audio=clip) if example.is_audio else vigil_pb2.QueryExample(video=clip)
    path = Path(example)
    kind = media_kind(path)
    if kind is None:
        raise ValueError(f"cannot tell whether {path} is an image, audio or video from its extension")
    if kind == "image":
        return vigil_pb2.QueryExample(image=path.read_bytes())
    return example_proto(MediaBytes.from_file(path))


def standing_query_request(
    text: str,
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
) -> vigil_pb2.AddStandingQueryRequest:
    if keyword_rule not in KEYWORD_RULES:
        raise ValueError(f"keyword_rule must be one of {', '.join(KEYWORD_RULES)}, got {keyword_rule!r}")
    return vigil_pb2.AddStandingQueryRequest(
        text=text,
        examples=[example_proto(e) for e in examples],
        negatives=[example_proto(e) for e in negatives],
        modalities=[MODALITIES[m] for m in modalities],
        stream_ids=list(stream_ids),
        threshold=threshold,
        label=label,
        keywords=list(keywords),
        regex=regex,
        keyword_rule=KEYWORD_RULES[keyword_rule],
    )


def alert_list_request(
    stream_ids: Iterable[str] = (),
    banks: Iterable[str] = (),
    query_ids: Iterable[str] = (),
    *,
    raised_after: float = 0.0,
    raised_before: float = 0.0,
    review_state: str | None = None,
    after_sequence: int = 0,
    page_size: int = 0,
) -> vigil_pb2.ListAlertsRequest:
    """The first page's ListAlertsRequest; ValueError for an unknown review state."""
    if review_state not in REVIEW_STATES:
        names = ", ".join(str(name) for name in REVIEW_STATES)
        raise ValueError(f"review_state must be one of {names}, got {review_state!r}")
    return vigil_pb2.ListAlertsRequest(stream_ids=list(stream_ids), banks=list(banks), query_ids=list(query_ids),
                                       raised_after=raised_after, raised_before=raised_before,
                                       review_state=REVIEW_STATES[review_state], after_sequence=after_sequence,
                                       page_size=page_size)  # fmt: skip


def bank_item_kind(source: bytes | str | os.PathLike[str], kind: str | None, format: str | None) -> tuple[str, str]:
    """The (kind, format) of a bank item's media: given, else from the file's extension (or, for bytes without a
    kind, image when they start like one). Images have an empty format."""
    if kind is not None and kind not in REFERENCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(REFERENCE_KINDS)}, got {kind!r}")
    if isinstance(source, bytes):
        kind = kind or ("image" if looks_like_image(source) else None)
        if kind is None:
            raise ValueError("these bytes are not a recognised image: pass kind='audio' or 'video' and a format")
        if kind != "image" and not format:
            raise ValueError(f"{kind} bytes need a format, e.g. 'mpegts' or 'wav'")
        return kind, "" if kind == "image" else str(format)
    kind = kind or media_kind(source)
    if kind is None:
        raise ValueError(f"cannot tell whether {source} is an image, audio or video from its extension: pass a kind")
    if kind == "image":
        return kind, ""
    format = format or FORMAT_BY_EXTENSION.get(Path(source).suffix.lower())
    if not format:
        raise ValueError(f"cannot tell the format of {source} from its extension: pass a format")
    return kind, format


def bank_item_requests(
    header: vigil_pb2.BankItemHeader, chunks: Iterable[bytes]
) -> Iterator[vigil_pb2.AddBankItemRequest]:
    """The AddBankItem request stream: the header, then the chunks numbered 0, 1, 2, ..."""
    yield vigil_pb2.AddBankItemRequest(header=header)
    for sequence, data in enumerate(chunks):
        yield vigil_pb2.AddBankItemRequest(chunk=vigil_pb2.MediaChunk(sequence=sequence, data=data))


def media_chunks(source: bytes | BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """The bytes, or an open file's contents read as they are asked for, in pieces of at most chunk_bytes."""
    if chunk_bytes <= 0:
        raise ValueError(f"chunk size must be positive, got {chunk_bytes}")
    if isinstance(source, bytes):
        return (source[i : i + chunk_bytes] for i in range(0, len(source), chunk_bytes))
    return read_chunks(source, chunk_bytes)
