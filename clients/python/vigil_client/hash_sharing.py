"""Hash sharing from the client: lookups (MatchFile, MatchHashes), bank settings, alert reviews; typed results
and the requests that make them. No I/O beyond reading the files the caller names."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from vigil.v1 import vigil_pb2
from vigil_client.moderation import (
    ALERT_KIND_NAMES,
    METHOD_NAMES,
    REFERENCE_KINDS,
    VERDICT_NAMES,
    BankItemInfo,
)

HASH_LIST_FORMATS = {
    "pdq": vigil_pb2.HASH_LIST_FORMAT_PDQ,
    "typed": vigil_pb2.HASH_LIST_FORMAT_TYPED,
    "vpdq": vigil_pb2.HASH_LIST_FORMAT_VPDQ,
}


@dataclass(frozen=True)
class EvidenceInfo:
    signal: str  # "pdq", "vpdq", "md5", "sha256", "copy_descriptor", "chromaprint", ...
    value: float  # the signal's own measure: bits, %, cosine, score, 1 for the same bytes
    matched: bool


@dataclass(frozen=True)
class LookupMatchInfo:
    item: BankItemInfo
    methods: tuple[str, ...]  # embedding, pdq, fingerprint, vpdq, exact
    evidence: tuple[EvidenceInfo, ...]
    start: float  # match_file: where in the file (seconds)
    end: float
    query: int  # match_hashes: which hash matched (its index); -1 for files
    allow_list: bool  # the item's bank is an allow-list

    @classmethod
    def from_proto(cls, m: vigil_pb2.LookupMatch) -> LookupMatchInfo:
        evidence = tuple(EvidenceInfo(e.signal, e.value, e.matched) for e in m.evidence)
        methods = tuple(METHOD_NAMES.get(x, "unspecified") for x in m.methods)
        return cls(BankItemInfo.from_proto(m.item), methods, evidence, m.start, m.end, m.query, m.allow_list)

    def as_json(self) -> dict[str, object]:
        return {
            **self.item.as_json(),
            "methods": list(self.methods),
            "evidence": {e.signal: {"value": round(e.value, 6), "matched": e.matched} for e in self.evidence},
            "start": self.start,
            "end": self.end,
            "query": self.query,
            "allow_list": self.allow_list,
        }


@dataclass(frozen=True)
class BankInfo:
    bank: str
    enabled: bool
    allow_list: bool
    thresholds: Mapping[str, float]  # the bank's overrides by signal name
    items: int
    suppressed: int  # allow-lists: other banks' alerts kept back
    updated_at: float  # unix seconds; 0 for a bank with defaults

    @classmethod
    def from_proto(cls, b: vigil_pb2.Bank) -> BankInfo:
        return cls(b.bank, b.enabled, b.allow_list, dict(b.thresholds), b.items, b.suppressed, b.updated_at)

    def as_json(self) -> dict[str, object]:
        return {**self.__dict__, "thresholds": dict(self.thresholds)}


@dataclass(frozen=True)
class AlertRecordInfo:
    alert_id: str
    kind: str  # query or reference
    match_id: str
    bank: str
    stream_id: str
    start: float
    end: float
    raised_at: float
    verdict: str  # confirmed, dismissed, or "" before any review
    reviewer: str
    note: str
    reviewed_at: float

    @classmethod
    def from_proto(cls, r: vigil_pb2.AlertRecord) -> AlertRecordInfo:
        review = r.review
        return cls(r.alert_id, ALERT_KIND_NAMES.get(r.kind, "unspecified"), r.match_id, r.bank, r.stream_id, r.start,
                   r.end, r.raised_at, VERDICT_NAMES.get(review.verdict, ""), review.reviewer, review.note,
                   review.reviewed_at)  # fmt: skip

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def match_file_requests(kind: str, fmt: str, chunks: Iterable[bytes]) -> Iterator[vigil_pb2.MatchFileRequest]:
    """The MatchFile request stream: the header, then the chunks numbered 0, 1, 2, ..."""
    if kind not in REFERENCE_KINDS:
        raise ValueError(f"kind must be one of {', '.join(REFERENCE_KINDS)}, got {kind!r}")
    yield vigil_pb2.MatchFileRequest(header=vigil_pb2.MatchFileHeader(kind=REFERENCE_KINDS[kind], format=fmt))
    for sequence, data in enumerate(chunks):
        yield vigil_pb2.MatchFileRequest(chunk=vigil_pb2.MediaChunk(sequence=sequence, data=data))


def hash_queries(hashes: Iterable[tuple[str, str]]) -> vigil_pb2.MatchHashesRequest:
    """A MatchHashes request from (signal type, hash text) pairs."""
    return vigil_pb2.MatchHashesRequest(hashes=[vigil_pb2.HashQuery(signal_type=t, value=v) for t, v in hashes])


def bank_settings_request(
    bank: str,
    *,
    enabled: bool | None = None,
    allow_list: bool | None = None,
    thresholds: Mapping[str, float] | None = None,
    clear_thresholds: Iterable[str] = (),
) -> vigil_pb2.SetBankSettingsRequest:
    request = vigil_pb2.SetBankSettingsRequest(bank=bank, thresholds=dict(thresholds or {}),
                                               clear_thresholds=list(clear_thresholds))  # fmt: skip
    if enabled is not None:
        request.enabled = enabled
    if allow_list is not None:
        request.allow_list = allow_list
    return request
