"""BatchWorker: one thread runs a batch function for callers on the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence

import pytest

from vigil_server.batching import BatchOptions, BatchWorker
from vigil_server.errors import Overloaded


class Recorder:
    """A batch function that records every batch it gets and can be held until released."""

    def __init__(self, fn: Callable[[int], object] = lambda x: x * 10, hold: bool = False):
        self.fn = fn
        self.batches: list[list[int]] = []
        self.release = threading.Event()
        self.entered = threading.Event()  # set when a batch starts
        if not hold:
            self.release.set()

    def __call__(self, batch: list[int]) -> Sequence[object]:
        self.batches.append(list(batch))
        self.entered.set()
        assert self.release.wait(10), "the test never released the batch"
        return [self.fn(x) for x in batch]


def run_with_worker(
    run_batch: Callable[[list[int]], Sequence[object]],
    options: BatchOptions,
    body: Callable[[BatchWorker[int, object]], Awaitable[None]],
) -> BatchWorker[int, object]:
    worker: BatchWorker[int, object] = BatchWorker("test", run_batch, options)

    async def main() -> None:
        worker.start()
        try:
            await asyncio.wait_for(body(worker), timeout=20)
        finally:
            worker.stop()

    asyncio.run(main())
    return worker


def test_concurrent_submitters_share_batches_of_at_most_max_batch() -> None:
    recorder = Recorder()
    results: dict[int, object] = {}

    async def body(worker: BatchWorker[int, object]) -> None:
        async def caller(x: int) -> None:
            results[x] = await worker.submit(x)

        await asyncio.gather(*(caller(x) for x in range(10)))

    worker = run_with_worker(recorder, BatchOptions(max_batch=4, max_wait_s=0.2), body)
    assert results == {x: x * 10 for x in range(10)}  # each caller got its own item's result
    assert [len(b) for b in recorder.batches] == [4, 4, 2]
    assert sorted(x for b in recorder.batches for x in b) == list(range(10))
    assert (worker.batches_run, worker.items_run) == (3, 10)


def test_each_caller_gets_the_result_of_its_own_item() -> None:
    # Items that differ only by caller: a result routed to the wrong future would show.
    recorder = Recorder(fn=lambda x: f"item-{x}")

    async def body(worker: BatchWorker[int, object]) -> None:
        assert await worker.submit_many([7, 3, 9, 3, 1]) == ["item-7", "item-3", "item-9", "item-3", "item-1"]

    run_with_worker(recorder, BatchOptions(max_batch=8, max_wait_s=0.05), body)
    assert recorder.batches == [[7, 3, 9, 3, 1]]


def test_a_first_item_does_not_wait_longer_than_max_wait() -> None:
    recorder = Recorder()

    async def body(worker: BatchWorker[int, object]) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        assert await worker.submit(1) == 10
        assert loop.time() - start < 1.0

    run_with_worker(recorder, BatchOptions(max_batch=16, max_wait_s=0.05), body)


def test_an_exception_reaches_every_caller_of_its_batch_and_the_worker_goes_on() -> None:
    def run_batch(batch: list[int]) -> list[int]:
        if 13 in batch:
            raise RuntimeError("unlucky batch")
        return [x + 1 for x in batch]

    async def body(worker: BatchWorker[int, object]) -> None:
        outcomes = await asyncio.gather(*(worker.submit(x) for x in (1, 13, 2)), return_exceptions=True)
        assert all(isinstance(o, RuntimeError) and str(o) == "unlucky batch" for o in outcomes), outcomes
        assert await worker.submit_many([5, 6]) == [6, 7]

    worker = run_with_worker(run_batch, BatchOptions(max_batch=8, max_wait_s=0.1), body)
    assert worker.batches_run == 1  # the failed batch does not count


def test_submit_without_waiting_raises_overloaded_when_max_pending_is_reached() -> None:
    recorder = Recorder(hold=True)

    async def body(worker: BatchWorker[int, object]) -> None:
        queued = [asyncio.create_task(worker.submit(x)) for x in (1, 2)]
        await asyncio.sleep(0.05)
        with pytest.raises(Overloaded, match="2 requests queued"):
            await worker.submit(3, wait=False)
        waiting = asyncio.create_task(worker.submit(4))  # wait=True: waits for room instead
        await asyncio.sleep(0.1)
        assert not waiting.done()
        recorder.release.set()
        assert await asyncio.gather(*queued, waiting) == [10, 20, 40]
        await asyncio.sleep(0.01)  # room is given back from the worker thread
        assert await worker.submit(5, wait=False) == 50

    run_with_worker(recorder, BatchOptions(max_batch=1, max_wait_s=0.0, max_pending=2), body)
    assert 3 not in [x for b in recorder.batches for x in b]


def test_a_cancelled_submit_is_skipped_and_gives_back_its_room() -> None:
    recorder = Recorder(hold=True)

    async def body(worker: BatchWorker[int, object]) -> None:
        first = asyncio.create_task(worker.submit(1))
        await asyncio.to_thread(recorder.entered.wait, 5)  # the worker is busy with item 1
        cancelled = asyncio.create_task(worker.submit(2))
        await asyncio.sleep(0.05)  # item 2 is queued
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await asyncio.sleep(0.01)
        # With max_pending=2, item 1 still holds one place; the cancelled item must have given its back.
        third = asyncio.create_task(worker.submit(3, wait=False))
        await asyncio.sleep(0.05)
        recorder.release.set()
        assert await first == 10
        assert await third == 30

    run_with_worker(recorder, BatchOptions(max_batch=1, max_wait_s=0.0, max_pending=2), body)
    assert recorder.batches == [[1], [3]]


def test_a_batch_function_returning_the_wrong_number_of_results_fails_its_callers_not_the_worker() -> None:
    def run_batch(batch: list[int]) -> list[int]:
        return [x for x in batch if x != 2]  # drops an item

    async def body(worker: BatchWorker[int, object]) -> None:
        outcomes = await asyncio.gather(*(worker.submit(x) for x in (1, 2, 3)), return_exceptions=True)
        assert all(isinstance(o, RuntimeError) and "gave 2 results for 3 items" in str(o) for o in outcomes), outcomes
        assert await worker.submit(4) == 4  # the thread is still alive

    run_with_worker(run_batch, BatchOptions(max_batch=8, max_wait_s=0.1), body)
