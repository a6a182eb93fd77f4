"""Listing a stream's segments in time order, a page at a time, from a store that cannot sort.

Milvus queries filter but do not order, and fetch a bounded number of rows. So a page is read
window by window along the segments' start times: count the segments starting in [lo, lo + w),
halve w while that is more than one fetch may hold, double it while the window is empty (as long
as anything starts at or after lo at all), fetch the window, sort it by (start, end, segment id),
and go on from lo + w until the page is full. Windows are disjoint and in order, so the pages
are in order too. The cursor carries the last segment's key and the window width that worked, so
the next page starts where this one ended, at the right scale. Each page costs a few store queries
however long the stream is.

A page token is the cursor, bound to the listing's filter: a token used with other filters is
refused. It is opaque to clients (URL-safe base64 of JSON); its form may change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from typing import Protocol

from vigil_server.errors import InvalidRequest
from vigil_server.types import SearchFilter, Segment

FIRST_WINDOW_S = 60.0  # start times read by the first query of a listing
MIN_WINDOW_S = 1e-3  # windows are not narrowed below this
SCAN_LIMIT = 4096  # rows one store query may fetch
TOKEN_VERSION = 1

Key = tuple[float, float, str]


class SegmentRows(Protocol):
    """The store queries a listing needs (store.SegmentStore is one); `starts` is [from, to), None: unbounded."""

    def segments(self, f: SearchFilter, starts: tuple[float, float | None], limit: int) -> list[Segment]: ...

    def count_segments(self, f: SearchFilter, starts: tuple[float, float | None]) -> int: ...


@dataclass(frozen=True)
class Cursor:
    """Where a listing goes on: after the segment with this key, reading windows of `window_s`."""

    start: float
    end: float
    segment_id: str
    window_s: float = FIRST_WINDOW_S

    @property
    def key(self) -> Key:
        return (self.start, self.end, self.segment_id)


@dataclass(frozen=True)
class SegmentPage:
    segments: list[Segment]
    cursor: Cursor | None  # None: this was the last page


def key(segment: Segment) -> Key:
    return (segment.start, segment.end, segment.segment_id)


def list_page(rows: SegmentRows, f: SearchFilter, size: int, after: Cursor | None) -> SegmentPage:
    """The next `size` segments passing `f` after the cursor, in time order (blocking: store queries)."""
    lo = after.start if after is not None else 0.0
    window = after.window_s if after is not None else FIRST_WINDOW_S
    found: list[Segment] = []
    while len(found) <= size and rows.count_segments(f, (lo, None)):
        count = rows.count_segments(f, (lo, lo + window))
        if count > SCAN_LIMIT and window > MIN_WINDOW_S:
            window /= 2
            continue
        if count == 0:
            window *= 2
            continue
        fetched = sorted(rows.segments(f, (lo, lo + window), SCAN_LIMIT), key=key)
        found += [s for s in fetched if after is None or key(s) > after.key]
        lo += window
        if len(found) < size:
            window *= 2  # sparse here: read further at once
    if len(found) <= size:
        return SegmentPage(found, None)
    last = found[size - 1]
    return SegmentPage(found[:size], Cursor(last.start, last.end, last.segment_id, window))


def _binding(f: SearchFilter) -> str:
    """What a token is bound to: the listing's filters."""
    text = json.dumps([f.tenant, sorted(m.value for m in f.modalities), list(f.stream_ids), f.start, f.end])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode_token(cursor: Cursor, f: SearchFilter) -> str:
    data = {"v": TOKEN_VERSION, "s": cursor.start, "e": cursor.end, "i": cursor.segment_id, "w": cursor.window_s,
            "f": _binding(f)}  # fmt: skip
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str, f: SearchFilter) -> Cursor:
    """The cursor of a page token from encode_token with the same filter; InvalidRequest otherwise."""
    bad = InvalidRequest("page_token is not a next_page_token of this listing", field="page_token")
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor = Cursor(float(data["s"]), float(data["e"]), str(data["i"]), float(data["w"]))
        version, binding = data["v"], data["f"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise bad from exc
    if version != TOKEN_VERSION:
        raise bad
    if binding != _binding(f):
        raise InvalidRequest(
            "page_token belongs to a listing with other filters: send the same stream_id, modalities and time_range",
            field="page_token",
        )
    if not (cursor.window_s >= MIN_WINDOW_S and cursor.start >= 0):
        raise bad
    return cursor
