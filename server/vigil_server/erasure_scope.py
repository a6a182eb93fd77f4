"""What an erasure removes, in terms every store can filter on.

An `ErasureScope` picks stored rows: one tenant's (or, for server-wide retention, every tenant's but
those with a retention of their own), of one stream or all, overlapping a stretch of stream time,
and/or stored before a time. Each store turns it into its own filter (store.py: a Milvus expression;
rules_db.py: SQL); `overlaps` is the same time test in Python (caption replay). A row overlaps
[start, end) when it ends after `start` (or, having no length, starts at it) and starts before `end`:
the rule AlertLog.erase applies to alerts too.

`Spans` gathers, per (tenant, stream), the stretches of stream time that an erasure removed, merged,
so that what is *about* those stretches (alerts, captions) can go with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

COMPACT_EVERY = 4096  # unmerged stretches kept per stream before they are merged


@dataclass(frozen=True)
class ErasureScope:
    tenant: str | None  # None: every tenant but `except_tenants` (then `stored_before` is required)
    except_tenants: tuple[str, ...] = ()
    stream_id: str | None = None  # None: every stream
    start: float | None = None  # stream seconds: rows overlapping [start, end); None: unbounded
    end: float | None = None
    stored_before: float | None = None  # unix seconds: rows stored before this; None: whenever

    def __post_init__(self) -> None:
        if self.tenant is None and self.stored_before is None:
            raise ValueError("an erasure across tenants needs stored_before (it is retention's, nothing else's)")
        if self.tenant is not None and self.except_tenants:
            raise ValueError("except_tenants goes with tenant=None")

    def overlaps(self, start: float, end: float) -> bool:
        """Whether a stretch of stream time [start, end) falls in the scope's time range."""
        if self.start is not None and not (end > self.start or start >= self.start):
            return False
        return self.end is None or start < self.end


@dataclass(frozen=True)
class StoredSpan:
    """A stored row as erasure sees it: which tenant's stream, and the stretch it covers."""

    segment_id: str
    tenant: str
    stream_id: str
    start: float
    end: float


class Spans:
    """Stretches of stream time per (tenant, stream), merged where they touch or overlap."""

    def __init__(self) -> None:
        self._spans: dict[tuple[str, str], list[tuple[float, float]]] = {}

    def add(self, tenant: str, stream_id: str, start: float, end: float) -> None:
        spans = self._spans.setdefault((tenant, stream_id), [])
        spans.append((start, max(start, end)))
        if len(spans) >= COMPACT_EVERY:
            spans[:] = _merged(spans)

    def __iter__(self) -> Iterator[tuple[str, str, float, float]]:
        """(tenant, stream id, start, end) of each merged stretch."""
        for (tenant, stream_id), spans in sorted(self._spans.items()):
            for start, end in _merged(spans):
                yield tenant, stream_id, start, end

    def __bool__(self) -> bool:
        return bool(self._spans)


def _merged(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
