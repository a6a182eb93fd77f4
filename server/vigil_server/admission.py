"""Admission: which Ingest calls may run, and how much each tenant may send and store.

- One call per (tenant, stream id); at most `max_streams` calls at once over all tenants, and at
  most a tenant's own `max_streams` (TenantPolicy) of its own.
- A tenant's media bytes over all its streams are metered by a token bucket refilled at its
  `max_ingest_bytes_per_s`, holding up to BURST_S of it: a chunk the bucket cannot pay for waits
  (the producer is slowed down: its chunks are acknowledged later), unless it would wait more than
  MAX_WAIT_S, and then the call ends with RESOURCE_EXHAUSTED naming the limit.
- A tenant's stored segments are counted from the store when an Ingest call starts and then as
  its calls store segments; a call that finds the tenant at `max_stored_segments` is refused, and
  a call whose segment brings the tenant to it ends after that segment. The count may pass the
  limit by the segments already in flight when it is reached (a few per stream).

Everything here runs on the event loop: no locks.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vigil_server.errors import AlreadyExists, LimitReached, Overloaded, Unsupported
from vigil_server.identity import NO_POLICY, TenantPolicy
from vigil_server.types import Chunk

BURST_S = 1.0  # a tenant's bucket holds this many seconds of its byte rate (at least one chunk's worth)
MAX_WAIT_S = 5.0  # a chunk that would wait longer than this for its bytes ends the call


@dataclass
class _Bucket:
    tokens: float  # bytes that may be sent now; negative: owed by chunks already waiting
    at: float  # time.monotonic() of the last refill


class StoredSegments:
    """A running count of one tenant's stored segments while it ingests; `stored()` after each one."""

    def __init__(self, admission: Admission, tenant: str, limit: int | None):
        self._admission = admission
        self._tenant = tenant
        self._limit = limit

    def stored(self) -> None:
        """Count one stored segment; LimitReached when that brings the tenant to its limit."""
        if self._limit is None:
            return
        count = self._admission.stored_counts.get(self._tenant, 0) + 1
        self._admission.stored_counts[self._tenant] = count
        if count >= self._limit:
            raise _stored_limit(self._tenant, self._limit)


def _stored_limit(tenant: str, limit: int) -> LimitReached:
    return LimitReached(
        f"tenant {tenant!r} has reached its max_stored_segments ({limit}): delete streams or segments "
        "(DeleteStream, DeleteSegments) or raise the tenant's max_stored_segments in the key file",
        limit="max_stored_segments",
    )


class Admission:
    def __init__(self, max_streams: int):
        self.max_streams = max_streams
        self._active: set[tuple[str, str]] = set()
        self._erasing: dict[tuple[str, str], int] = {}  # streams whose data is being erased: by how many calls
        self._buckets: dict[str, _Bucket] = {}
        self.stored_counts: dict[str, int] = {}  # tenant -> stored segments, for tenants with a limit

    @contextmanager
    def stream(
        self, tenant: str, stream_id: str, policy: TenantPolicy = NO_POLICY, stored: int | None = None
    ) -> Iterator[StoredSegments]:
        """Hold a stream slot for the duration of the block, or raise without holding one.

        `stored`: the tenant's stored segments as the store counts them now (needed with a
        max_stored_segments policy). The block gets the counter to call for each segment it stores.
        """
        key = (tenant, stream_id)
        if key in self._active:
            raise AlreadyExists(
                f"stream {stream_id!r} is already being ingested by another call", field="config.stream_id"
            )
        if key in self._erasing:
            raise Unsupported(
                f"stream {stream_id!r} is being erased (DeleteStream or DeleteSegments); ingest it again once "
                "that call has returned",
                field="config.stream_id",
            )
        if len(self._active) >= self.max_streams:
            raise Overloaded(f"{self.max_streams} streams are already being ingested; retry later")
        if policy.max_streams is not None and self.active_of(tenant) >= policy.max_streams:
            raise LimitReached(
                f"tenant {tenant!r} is at its max_streams ({policy.max_streams} concurrent Ingest calls): end one "
                "of its streams first, or raise the tenant's max_streams in the key file",
                limit="max_streams",
                retry_after_s=5.0,
            )
        limit = policy.max_stored_segments
        if limit is not None:
            self.stored_counts[tenant] = stored if stored is not None else self.stored_counts.get(tenant, 0)
            if self.stored_counts[tenant] >= limit:
                raise _stored_limit(tenant, limit)
        self._active.add(key)
        try:
            yield StoredSegments(self, tenant, limit)
        finally:
            self._active.discard(key)

    @contextmanager
    def erasing(self, tenant: str, stream_id: str) -> Iterator[None]:
        """Keep the stream from being ingested while its data is erased; Unsupported while it is being ingested."""
        key = (tenant, stream_id)
        if key in self._active:
            raise Unsupported(
                f"stream {stream_id!r} is being ingested: end its Ingest call first, then delete", field="stream_id"
            )
        self._erasing[key] = self._erasing.get(key, 0) + 1
        try:
            yield
        finally:
            self._erasing[key] -= 1
            if not self._erasing[key]:
                del self._erasing[key]

    def active_of(self, tenant: str) -> int:
        return sum(1 for t, _ in self._active if t == tenant)

    async def metered(self, tenant: str, chunks: AsyncIterator[Chunk], policy: TenantPolicy) -> AsyncIterator[Chunk]:
        """The chunks, each let through once the tenant's byte rate can pay for it (see the module docstring)."""
        async for chunk in chunks:
            rate = policy.max_ingest_bytes_per_s
            if rate is not None:
                await self._pay(tenant, len(chunk.data), rate)
            yield chunk

    async def _pay(self, tenant: str, size: int, rate: float) -> None:
        now = time.monotonic()
        capacity = max(rate * BURST_S, 1.0)
        bucket = self._buckets.setdefault(tenant, _Bucket(capacity, now))
        bucket.tokens = min(capacity, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        wait = (size - bucket.tokens) / rate
        if wait > MAX_WAIT_S:
            raise LimitReached(
                f"tenant {tenant!r} sends more than its max_ingest_bytes_per_s ({rate:g} bytes/s over all its "
                f"streams): a chunk of {size} bytes would wait {wait:.0f} s; send less, in smaller chunks, or raise "
                "the tenant's max_ingest_bytes_per_s in the key file",
                limit="max_ingest_bytes_per_s",
                retry_after_s=min(wait, 60.0),
            )
        bucket.tokens -= size
        if wait > 0:
            await asyncio.sleep(wait)

    @property
    def active(self) -> int:
        return len(self._active)
