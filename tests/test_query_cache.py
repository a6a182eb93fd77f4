"""The query-text cache: a repeated text query (searches, standing queries) is embedded once."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import numpy as np

from tests.fakes import fake_model_set
from vigil_server.query import QueryEmbedder
from vigil_server.settings import SpeechSettings, WorkerSettings
from vigil_server.types import TextItem
from vigil_server.workers import ModelWorkers, TextCache


def run_with_workers(options: WorkerSettings, body: Any) -> Any:
    """Run `body(workers)` on an event loop with started fake-model workers."""

    async def main() -> Any:
        workers = ModelWorkers(fake_model_set(), options)
        workers.start()
        try:
            return await body(workers)
        finally:
            workers.stop()

    return asyncio.run(main())


def embedder(workers: ModelWorkers) -> QueryEmbedder:
    # A text query touches neither the index nor the decoder.
    return QueryEmbedder(workers, index=None, decode=None, speech=SpeechSettings())  # type: ignore[arg-type]


def test_a_repeated_text_query_is_embedded_once_and_gives_the_same_vector() -> None:
    async def body(workers: ModelWorkers) -> None:
        query = embedder(workers)
        first = await query.embed(TextItem("a red rocket on the launch pad"), "")
        assert workers._text.items_run == 1
        again = await query.embed(TextItem("a red rocket on the launch pad"), "")
        assert workers._text.items_run == 1  # no second trip through the text model
        np.testing.assert_array_equal(first, again)
        np.testing.assert_array_equal(first, await workers.embed_text("a red rocket on the launch pad"))
        assert workers._text.items_run == 2  # embed_text itself is not cached
        other = await query.embed(TextItem("a cup of espresso"), "")
        assert workers._text.items_run == 3
        assert not np.array_equal(first, other)
        assert (workers.query_cache.hits, workers.query_cache.misses) == (1, 2)

    run_with_workers(WorkerSettings(), body)


def test_a_caller_changing_its_vector_does_not_change_the_cached_one() -> None:
    async def body(workers: ModelWorkers) -> None:
        first = await workers.embed_query_text("the lighthouse")
        kept = first.copy()
        first[:] = 0.0
        np.testing.assert_array_equal(await workers.embed_query_text("the lighthouse"), kept)

    run_with_workers(WorkerSettings(), body)


def test_the_least_recently_used_text_goes_first_when_the_cache_is_full() -> None:
    async def body(workers: ModelWorkers) -> None:
        for text in ("one", "two", "one", "three"):  # "two" is the least recently used when "three" comes
            await workers.embed_query_text(text)
        assert len(workers.query_cache) == 2
        assert workers._text.items_run == 3
        await workers.embed_query_text("one")
        assert workers._text.items_run == 3
        await workers.embed_query_text("two")
        assert workers._text.items_run == 4

    run_with_workers(replace(WorkerSettings(), query_cache=2), body)


def test_a_cache_of_size_zero_keeps_nothing() -> None:
    async def body(workers: ModelWorkers) -> None:
        await workers.embed_query_text("one")
        await workers.embed_query_text("one")
        assert workers._text.items_run == 2
        assert len(workers.query_cache) == 0

    run_with_workers(replace(WorkerSettings(), query_cache=0), body)


def test_the_cache_stays_bounded_and_consistent_under_threads() -> None:
    cache = TextCache(50)
    vectors = {f"text {i}": np.full(4, float(i), dtype=np.float32) for i in range(200)}
    errors: list[str] = []

    def hammer(seed: int) -> None:
        rng = np.random.default_rng(seed)
        for _ in range(2000):
            text = f"text {int(rng.integers(200))}"
            got = cache.get(text)
            if got is None:
                cache.put(text, vectors[text])
            elif not np.array_equal(got, vectors[text]):
                errors.append(text)

    threads = [threading.Thread(target=hammer, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache) == 50
    assert cache.hits + cache.misses == 8 * 2000
