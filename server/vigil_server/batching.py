"""One thread owns one model; requests from every stream queue up and run in batches.

Callers on the event loop `await worker.submit(item)`. The worker thread takes the first
waiting item, then up to `max_batch - 1` more that arrive within `max_wait_s`, runs the batch
function once, and answers each caller through its future. At most `max_pending` items wait:
`submit(wait=True)` (ingest) waits for room, `submit(wait=False)` (search) fails fast with
Overloaded.

`on_batch`, when set (app.assemble sets it to the metrics' recorder), is called on the worker
thread after each batch with the worker's name, the batch's size and the seconds it took.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from vigil_server.errors import Overloaded

In = TypeVar("In")
Out = TypeVar("Out")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchOptions:
    max_batch: int = 16  # items run together
    max_wait_s: float = 0.01  # how long the first item waits for company
    max_pending: int = 256  # items queued before submitters wait (or fail)


_STOP = object()


class BatchWorker(Generic[In, Out]):
    def __init__(self, name: str, run_batch: Callable[[list[In]], Sequence[Out]], options: BatchOptions):
        self.name = name
        self._run_batch = run_batch
        self._options = options
        self._queue: queue.Queue[object] = queue.Queue()
        self._room: asyncio.Semaphore | None = None
        self._thread = threading.Thread(target=self._serve, name=f"worker-{name}", daemon=True)
        self.batches_run = 0
        self.items_run = 0
        self.on_batch: Callable[[str, int, float], None] | None = None  # (name, items, seconds) after each batch

    def queued(self) -> int:
        """Items queued and not yet taken into a batch (approximate: read without a lock)."""
        return self._queue.qsize()

    @property
    def max_pending(self) -> int:
        return self._options.max_pending

    def start(self) -> None:
        """Start the thread. Call from the event loop that will submit."""
        self._room = asyncio.Semaphore(self._options.max_pending)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Finish the batch in hand, then fail whatever is still queued with Overloaded."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP:
                future: concurrent.futures.Future[Out] = item[1]  # type: ignore[index]
                if future.set_running_or_notify_cancel():
                    future.set_exception(Overloaded(f"the {self.name} worker is shutting down"))

    async def submit(self, item: In, wait: bool = True) -> Out:
        assert self._room is not None, f"worker {self.name} not started"
        if not wait and self._room.locked():
            raise Overloaded(f"the {self.name} worker has {self._options.max_pending} requests queued; retry shortly")
        await self._room.acquire()
        loop = asyncio.get_running_loop()
        future: concurrent.futures.Future[Out] = concurrent.futures.Future()
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        self._queue.put((item, future))
        return await asyncio.wrap_future(future)

    async def submit_many(self, items: Sequence[In], wait: bool = True) -> list[Out]:
        return list(await asyncio.gather(*(self.submit(item, wait) for item in items)))

    def _release(self) -> None:
        assert self._room is not None
        self._room.release()

    def _next_batch(self) -> list[tuple[In, concurrent.futures.Future[Out]]] | None:
        first = self._queue.get()
        if first is _STOP:
            return None
        batch = [first]
        deadline = time.monotonic() + self._options.max_wait_s
        while len(batch) < self._options.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)
                break
            batch.append(item)
        return batch  # type: ignore[return-value]

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            live = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
            if not live:
                continue
            began = time.monotonic()
            try:
                results = self._run_batch([item for item, _ in live])
                if len(results) != len(live):  # a mismatch would kill this thread and strand every caller
                    raise RuntimeError(f"batch function gave {len(results)} results for {len(live)} items")
            except BaseException as exc:
                log.exception("worker %s failed on a batch of %d", self.name, len(live))
                for _, fut in live:
                    fut.set_exception(exc)
                continue
            self.batches_run += 1
            self.items_run += len(live)
            if self.on_batch is not None:
                self.on_batch(self.name, len(live), time.monotonic() - began)
            for (_, fut), result in zip(live, results, strict=True):
                fut.set_result(result)
