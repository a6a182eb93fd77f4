"""Protobuf <-> dataclasses for the alert store: ListAlerts and Watch requests (checked here), and pages.

A ListAlerts page token is the last sequence a page returned, bound to the listing's filters (a
token used with other filters is refused): opaque to clients, URL-safe base64 of JSON.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vigil.v1 import vigil_pb2
from vigil_server.errors import InvalidRequest
from vigil_server.settings import MAX_PAGE_SIZE
from vigil_server.types import AlertFilter, AlertPage, ReviewState, WatchFilter
from vigil_server.wire import STREAM_ID, alert_proto

DEFAULT_PAGE_SIZE = 100
MAX_FILTER_IDS = 100  # stream ids, banks or query ids per ListAlerts or Watch call
BANK_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # as wire_moderation's
OBJECT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")  # the server's ids (uuid hex)
MAX_TOKEN_CHARS = 512
MAX_SEQUENCE = (1 << 63) - 1  # SQLite's largest integer: no stored alert has a larger sequence
TOKEN_VERSION = 1

REVIEW_STATE_FROM_PROTO = {
    vigil_pb2.REVIEW_STATE_UNSPECIFIED: ReviewState.ANY,
    vigil_pb2.REVIEW_STATE_UNREVIEWED: ReviewState.UNREVIEWED,
    vigil_pb2.REVIEW_STATE_CONFIRMED: ReviewState.CONFIRMED,
    vigil_pb2.REVIEW_STATE_DISMISSED: ReviewState.DISMISSED,
}


@dataclass(frozen=True)
class AlertListing:
    filter: AlertFilter  # its after_sequence is where this page starts (the request's or the token's)
    page_size: int
    binding: str  # what the page tokens are bound to


def _ids(values: Sequence[str], field: str, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    """Ids, each once, in the order first given; at most MAX_FILTER_IDS, each matching `pattern`."""
    if len(values) > MAX_FILTER_IDS:
        raise InvalidRequest(f"{field} has {len(values)} entries; the limit is {MAX_FILTER_IDS}", field=field)
    for value in values:
        if not pattern.match(value):
            shown = repr(value) if len(value) <= 40 else repr(value[:40]) + "..."
            raise InvalidRequest(f"{field}: {shown} is not {what}", field=field)
    return tuple(dict.fromkeys(values))


def _watch(stream_ids: Sequence[str], banks: Sequence[str], query_ids: Sequence[str], tenant: str) -> WatchFilter:
    return WatchFilter(
        stream_ids=_ids(stream_ids, "stream_ids", STREAM_ID, "a stream id (1-128 characters from [A-Za-z0-9._:-])"),
        banks=_ids(banks, "banks", BANK_NAME, "a bank name (1-64 characters from [A-Za-z0-9._:-])"),
        query_ids=_ids(query_ids, "query_ids", OBJECT_ID, "a standing query id as returned by the server"),
        tenant=tenant,
    )


def watch_request(msg: vigil_pb2.WatchRequest, tenant: str) -> tuple[WatchFilter, int | None]:
    """The filter and resume_after (None: live alerts only) of a Watch call."""
    watch = _watch(msg.stream_ids, msg.banks, msg.query_ids, tenant)
    return watch, min(msg.resume_after, MAX_SEQUENCE) if msg.HasField("resume_after") else None


def _unix_time(value: float, field: str) -> float | None:
    if not math.isfinite(value) or value < 0:
        raise InvalidRequest(f"{field} must be Unix seconds (0: no bound), got {value}", field=field)
    return value or None


def alert_listing(msg: vigil_pb2.ListAlertsRequest, tenant: str) -> AlertListing:
    watch = _watch(msg.stream_ids, msg.banks, msg.query_ids, tenant)
    after, before = _unix_time(msg.raised_after, "raised_after"), _unix_time(msg.raised_before, "raised_before")
    if after is not None and before is not None and before <= after:
        raise InvalidRequest("raised_before must be after raised_after (or 0 for no bound)", field="raised_before")
    if msg.review_state not in REVIEW_STATE_FROM_PROTO:
        raise InvalidRequest(f"unknown review_state {msg.review_state}", field="review_state")
    page_size = msg.page_size or DEFAULT_PAGE_SIZE
    if page_size > MAX_PAGE_SIZE:
        raise InvalidRequest(f"page_size must be 1-{MAX_PAGE_SIZE} (0: {DEFAULT_PAGE_SIZE})", field="page_size")
    f = AlertFilter(watch, after, before, REVIEW_STATE_FROM_PROTO[msg.review_state],
                    min(msg.after_sequence, MAX_SEQUENCE))  # fmt: skip
    binding = _binding(f)
    if msg.page_token:
        f = AlertFilter(f.watch, f.raised_after, f.raised_before, f.review, _decode_token(msg.page_token, binding))
    return AlertListing(f, page_size, binding)


def alert_page_proto(page: AlertPage, listing: AlertListing) -> vigil_pb2.ListAlertsResponse:
    token = _encode_token(page.alerts[-1].sequence, listing.binding) if page.more and page.alerts else ""
    return vigil_pb2.ListAlertsResponse(alerts=[alert_proto(a) for a in page.alerts], next_page_token=token)


def _binding(f: AlertFilter) -> str:
    w = f.watch
    text = json.dumps([w.tenant, list(w.stream_ids), list(w.banks), list(w.query_ids), f.raised_after,
                       f.raised_before, f.review.value, f.after_sequence])  # fmt: skip
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode_token(sequence: int, binding: str) -> str:
    data = {"v": TOKEN_VERSION, "q": sequence, "f": binding}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def _decode_token(token: str, binding: str) -> int:
    bad = InvalidRequest("page_token is not a next_page_token of this listing", field="page_token")
    if len(token) > MAX_TOKEN_CHARS:
        raise bad
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        sequence, version, token_binding = data["q"], data["v"], data["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad from exc
    if version != TOKEN_VERSION or not isinstance(sequence, int) or not 0 <= sequence <= MAX_SEQUENCE:
        raise bad
    if token_binding != binding:
        raise InvalidRequest(
            "page_token belongs to a listing with other filters: send the same filters as for the first page",
            field="page_token",
        )
    return sequence
