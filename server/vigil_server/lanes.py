"""A lane: one consumer's items, handled in order on a task of its own, so it never holds up the others.

An Ingest call's audio has several consumers (speech, sound tagging, fingerprint scans) and its speech
segments are stored after their captions are out. Each slow consumer gets a lane: `put` hands it an
item and returns once there is room (at most `backlog` wait; 0: no bound), and the caller goes on.
The first failure of the consumer is raised by the next `put` or by `drain`; items after it are
dropped, not handled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


class Lane(Generic[T]):
    """Create it on the event loop that will use it; `drain` at the end, `close` always."""

    def __init__(self, consume: Callable[[T], Awaitable[None]], backlog: int = 0, name: str = "lane"):
        self._consume = consume
        self._queue: asyncio.Queue[T | object] = asyncio.Queue(maxsize=backlog)
        self._error: BaseException | None = None
        self._task = asyncio.create_task(self._run(), name=name)

    async def put(self, item: T) -> None:
        """Hand over an item, waiting while `backlog` items wait; raises the consumer's failure, if any."""
        self._raise()
        await self._queue.put(item)

    def put_nowait(self, item: T) -> None:
        """Hand over an item without waiting (a lane without a backlog bound never refuses one)."""
        self._raise()
        self._queue.put_nowait(item)

    async def drain(self) -> None:
        """Wait until every item handed over is handled; raises the consumer's failure, if any."""
        await self._queue.put(_END)
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
