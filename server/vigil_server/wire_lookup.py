"""Protobuf <-> dataclasses for hash sharing: lookups (MatchFile, MatchHashes), bank settings, reviews,
and the options of hash-list export.

With servicer.py, wire.py and wire_moderation.py, the only modules that know protobuf: requests
are checked here (every list and text bounded) and turned into the domain types.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Sequence

from vigil.v1 import vigil_pb2
from vigil_server.decode import CONTAINER_FORMATS
from vigil_server.errors import InvalidRequest, TooLarge
from vigil_server.types import (
    AlertRecord,
    BankInfo,
    BankSettingsChange,
    HashListForm,
    HashQuery,
    LookupMatch,
    ReferenceKind,
    Verdict,
)
from vigil_server.wire import ALERT_KIND_TO_PROTO, MAX_ID_CHARS, MAX_QUERY_MEDIA_BYTES, METHOD_TO_PROTO, echo
from vigil_server.wire_moderation import KIND_FROM_PROTO, bank_item_proto, bank_name, object_id

MAX_LOOKUP_HASHES = 1000  # hashes per MatchHashes
MAX_LOOKUP_BYTES = 16 << 20  # of hash text per MatchHashes, and of media per MatchFile
MAX_LOOKUP_MATCHES = 1000  # items per MatchResponse
MAX_THRESHOLDS = 16  # overrides per SetBankSettings
MAX_REVIEWER_CHARS = 128
MAX_NOTE_CHARS = 2000

VERDICT_FROM_PROTO = {
    vigil_pb2.REVIEW_VERDICT_CONFIRMED: Verdict.CONFIRMED,
    vigil_pb2.REVIEW_VERDICT_DISMISSED: Verdict.DISMISSED,
}
VERDICT_TO_PROTO = {v: k for k, v in VERDICT_FROM_PROTO.items()}
FORM_FROM_PROTO = {
    vigil_pb2.HASH_LIST_FORMAT_UNSPECIFIED: HashListForm.PDQ,
    vigil_pb2.HASH_LIST_FORMAT_PDQ: HashListForm.PDQ,
    vigil_pb2.HASH_LIST_FORMAT_TYPED: HashListForm.TYPED,
    vigil_pb2.HASH_LIST_FORMAT_VPDQ: HashListForm.VPDQ,
}


# -- protobuf -> dataclasses ------------------------------------------------------------------


async def match_file_request(requests: AsyncIterator[vigil_pb2.MatchFileRequest]) -> tuple[ReferenceKind, bytes, str]:
    """Header, then the media from sequenced chunks: (kind, bytes, format)."""
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("request") != "header":
        raise InvalidRequest("the first MatchFileRequest must carry a header (MatchFileHeader)", field="header")
    header = first.header
    if header.kind not in KIND_FROM_PROTO:
        raise InvalidRequest("header.kind must be REFERENCE_KIND_IMAGE, _AUDIO or _VIDEO (look up hashes with "
                             "MatchHashes)", field="header.kind")  # fmt: skip
    kind = KIND_FROM_PROTO[header.kind]
    fmt = header.format.lower()
    if kind is not ReferenceKind.IMAGE and fmt not in CONTAINER_FORMATS:
        raise InvalidRequest(
            f"header.format {echo(header.format)} is not supported for {kind.value} files; "
            f"use one of {', '.join(sorted(CONTAINER_FORMATS))}",
            field="header.format",
        )
    parts: list[bytes] = []
    size = 0
    async for request in requests:
        if request.WhichOneof("request") != "chunk":
            raise InvalidRequest("only the first MatchFileRequest may carry a header; later ones carry a chunk",
                                 field="chunk")  # fmt: skip
        if request.chunk.sequence != len(parts):
            raise InvalidRequest(f"chunk sequence {request.chunk.sequence} where {len(parts)} was expected",
                                 field="chunk.sequence")  # fmt: skip
        size += len(request.chunk.data)
        if size > MAX_QUERY_MEDIA_BYTES:
            raise TooLarge(f"the file is over {MAX_QUERY_MEDIA_BYTES >> 20} MiB", field="chunk.data")
        parts.append(request.chunk.data)
    if size == 0:
        raise InvalidRequest("the file is empty: send it in chunks after the header", field="chunk")
    return kind, b"".join(parts), fmt


def hash_queries(msg: vigil_pb2.MatchHashesRequest) -> list[HashQuery]:
    if not msg.hashes:
        raise InvalidRequest("give at least one hash to look up", field="hashes")
    if len(msg.hashes) > MAX_LOOKUP_HASHES:
        raise TooLarge(f"{len(msg.hashes)} hashes; look up at most {MAX_LOOKUP_HASHES} per call", field="hashes")
    if sum(len(h.value) for h in msg.hashes) > MAX_LOOKUP_BYTES:
        raise TooLarge(f"the hashes are over {MAX_LOOKUP_BYTES >> 20} MiB in all; look them up in parts",
                       field="hashes")  # fmt: skip
    queries = []
    for n, h in enumerate(msg.hashes):
        if not h.signal_type or len(h.signal_type) > MAX_ID_CHARS:
            raise InvalidRequest(f"hashes[{n}].signal_type must name a signal type such as pdq, vpdq or video_md5",
                                 field=f"hashes[{n}].signal_type")  # fmt: skip
        if not h.value.strip():
            raise InvalidRequest(f"hashes[{n}].value is empty", field=f"hashes[{n}].value")
        queries.append(HashQuery(h.signal_type, h.value))
    return queries


def bank_settings_change(msg: vigil_pb2.SetBankSettingsRequest) -> BankSettingsChange:
    bank = bank_name(msg.bank)
    if len(msg.thresholds) + len(msg.clear_thresholds) > MAX_THRESHOLDS:
        raise TooLarge(f"set or clear at most {MAX_THRESHOLDS} thresholds per call", field="thresholds")
    thresholds = []
    for name in [*msg.thresholds, *msg.clear_thresholds]:
        if not name or len(name) > MAX_ID_CHARS:
            raise InvalidRequest(f"threshold names are signal names such as pdq, got {echo(name)}", field="thresholds")
    for name, value in sorted(msg.thresholds.items()):
        if not math.isfinite(value):
            raise InvalidRequest(f"thresholds[{name}] must be a finite number", field=f"thresholds[{name}]")
        thresholds.append((name, float(value)))
    return BankSettingsChange(
        bank=bank,
        enabled=msg.enabled if msg.HasField("enabled") else None,
        allow_list=msg.allow_list if msg.HasField("allow_list") else None,
        thresholds=tuple(thresholds),
        clear_thresholds=tuple(dict.fromkeys(msg.clear_thresholds)),
    )


def review_request(msg: vigil_pb2.ReviewAlertRequest) -> tuple[str, Verdict, str, str]:
    """(alert id, verdict, reviewer, note)."""
    alert_id = object_id(msg.alert_id, "alert_id")
    if msg.verdict not in VERDICT_FROM_PROTO:
        raise InvalidRequest("verdict must be REVIEW_VERDICT_CONFIRMED or REVIEW_VERDICT_DISMISSED", field="verdict")
    if len(msg.reviewer) > MAX_REVIEWER_CHARS:
        raise InvalidRequest(f"reviewer has {len(msg.reviewer)} characters; the limit is {MAX_REVIEWER_CHARS}",
                             field="reviewer")  # fmt: skip
    if len(msg.note) > MAX_NOTE_CHARS:
        raise InvalidRequest(f"note has {len(msg.note)} characters; the limit is {MAX_NOTE_CHARS}", field="note")
    return alert_id, VERDICT_FROM_PROTO[msg.verdict], msg.reviewer, msg.note


def export_form(msg: vigil_pb2.ExportHashesRequest) -> tuple[str, HashListForm, str]:
    """(bank, form, item id) of an export."""
    bank = bank_name(msg.bank) if msg.bank else ""
    if msg.format not in FORM_FROM_PROTO:
        raise InvalidRequest(f"unknown format {msg.format}", field="format")
    form = FORM_FROM_PROTO[msg.format]
    item_id = object_id(msg.item_id, "item_id") if msg.item_id else ""
    if form is HashListForm.VPDQ and not item_id:
        raise InvalidRequest("HASH_LIST_FORMAT_VPDQ writes one item's vPDQ file: give item_id", field="item_id")
    return bank, form, item_id


# -- dataclasses -> protobuf ------------------------------------------------------------------


def match_response(matches: Sequence[LookupMatch]) -> vigil_pb2.MatchResponse:
    return vigil_pb2.MatchResponse(
        matches=[lookup_match_proto(m) for m in matches[:MAX_LOOKUP_MATCHES]],
        truncated=len(matches) > MAX_LOOKUP_MATCHES,
    )


def lookup_match_proto(m: LookupMatch) -> vigil_pb2.LookupMatch:
    return vigil_pb2.LookupMatch(
        item=bank_item_proto(m.item),
        methods=[METHOD_TO_PROTO[method] for method in m.methods],
        evidence=[vigil_pb2.Evidence(signal=e.signal, value=e.value, matched=e.matched) for e in m.evidence],
        start=m.start,
        end=m.end,
        query=m.query,
        allow_list=m.allow_list,
    )


def bank_proto(info: BankInfo) -> vigil_pb2.Bank:
    s = info.settings
    return vigil_pb2.Bank(
        bank=s.bank,
        enabled=s.enabled,
        allow_list=s.allow_list,
        thresholds=dict(s.thresholds),
        items=info.items,
        suppressed=info.suppressed,
        updated_at=s.updated_at,
    )


def alert_record_proto(r: AlertRecord) -> vigil_pb2.AlertRecord:
    msg = vigil_pb2.AlertRecord(
        alert_id=r.alert_id,
        kind=ALERT_KIND_TO_PROTO[r.kind],
        match_id=r.match_id,
        bank=r.bank,
        stream_id=r.stream_id,
        start=r.start,
        end=r.end,
        raised_at=r.raised_at,
    )
    review = r.review
    if review is not None:
        msg.review.CopyFrom(
            vigil_pb2.AlertReview(verdict=VERDICT_TO_PROTO[review.verdict], reviewer=review.reviewer,
                                  note=review.note, reviewed_at=review.reviewed_at)
        )  # fmt: skip
    return msg
