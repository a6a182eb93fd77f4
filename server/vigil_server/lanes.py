"""A lane: one consumer's items, handled in order on a task of its own, so it never holds up the others.

An Ingest call's audio has several consumers (speech, sound tagging, fingerprint scans) and its speech
segments are stored after their captions are out. Each slow consumer gets a lane: `put` hands it an
item and returns once there is room (at most `backlog` wait), and the caller goes on. A producer that
cannot wait where it hands items over (a callback) uses `put_nowait`, which always accepts, and waits
for `room()` at a point where it can (ingest.py waits before it decodes more audio), so the backlog
stays bounded all the same. The first failure of the consumer is raised by the next `put` or by
`drain`; items after it are dropped, not handled.

BoundedQueue is the queue under a lane, and under an Ingest call's events: `put` waits for room,
`offer` adds only when there is room (for items the next one supersedes), `put_urgent` always adds
(for the few items whose producer cannot wait; every other producer of the queue waits, so they are
bounded by the work in flight).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class BoundedQueue(Generic[T]):
    """An asyncio queue of at most `limit` items for `put` and `offer` (0: no limit). Loop-bound."""

    def __init__(self, limit: int = 0):
        self.limit = limit
        self._items: deque[T] = deque()
        self._readable = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    def __len__(self) -> int:
        return len(self._items)

    def full(self) -> bool:
        return self.limit > 0 and len(self._items) >= self.limit

    async def put(self, item: T) -> None:
        """Add the item once fewer than `limit` wait."""
        await self.room()
        self.put_urgent(item)

    def offer(self, item: T) -> bool:
        """Add the item if there is room; False (and the item left out) when full."""
        if self.full():
            return False
        self.put_urgent(item)
        return True

    def put_urgent(self, item: T) -> None:
        """Add the item now, over the limit if need be."""
        self._items.append(item)
        self._readable.set()
        if self.full():
            self._room.clear()

    async def room(self) -> None:
        """Wait until fewer than `limit` items wait."""
        while self.full():
            self._room.clear()
            await self._room.wait()

    async def get(self) -> T:
        while not self._items:
            self._readable.clear()
            await self._readable.wait()
        item = self._items.popleft()
        if not self.full():
            self._room.set()
        return item


class Lane(Generic[T]):
    """Create it on the event loop that will use it; `drain` at the end, `close` always."""

    def __init__(self, consume: Callable[[T], Awaitable[None]], backlog: int = 0, name: str = "lane"):
        self._consume = consume
        self._queue: BoundedQueue[T | object] = BoundedQueue(backlog)
        self._error: BaseException | None = None
        self._task = asyncio.create_task(self._run(), name=name)

    def __len__(self) -> int:
        """Items waiting (not counting the one being handled)."""
        return len(self._queue)

    async def put(self, item: T) -> None:
        """Hand over an item, waiting while `backlog` items wait; raises the consumer's failure, if any."""
        self._raise()
        await self._queue.put(item)

    def put_nowait(self, item: T) -> None:
        """Hand over an item without waiting, even over the backlog (then wait for `room()` soon)."""
        self._raise()
        self._queue.put_urgent(item)

    async def room(self) -> None:
        """Wait until fewer than `backlog` items wait; raises the consumer's failure, if any."""
        self._raise()
        await self._queue.room()

    async def drain(self) -> None:
        """Wait until every item handed over is handled; raises the consumer's failure, if any."""
        self._queue.put_urgent(_END)
        await asyncio.shield(self._task)
        self._raise()

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    async def _run(self) -> None:
        while (item := await self._queue.get()) is not _END:
            if self._error is not None:
                continue  # keep the queue moving so that no `put` waits for ever
            try:
                await self._consume(item)  # type: ignore[arg-type]
            except Exception as exc:  # noqa: BLE001 - kept, and raised to the producer by put or drain
                self._error = exc
