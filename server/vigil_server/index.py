"""The segment index: stored segments, their calibrated search, and frames' copy descriptors.

Inserts from every stream go through one store worker, which writes them to Milvus in batches
and updates the per-modality calibration (calibrate.py) from their vectors. `insert` returns once
the row is written, so a segment announced to a client is already searchable. Searches take the
top_k of each modality from the store in one grouped search, turn each cosine into that
modality's calibrated score, and merge. The store worker also feeds the keyword index
(word_index.py) every segment with words, once it is written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np

from vigil_server.batching import BatchOptions, BatchWorker
from vigil_server.calibrate import Calibration, Calibrator
from vigil_server.erasure_scope import ErasureScope, StoredSpan
from vigil_server.keywords import KEYWORD_MODALITIES
from vigil_server.listing import Cursor, SegmentPage, list_page
from vigil_server.store import SegmentStore
from vigil_server.types import Match, Modality, SearchFilter, Segment
from vigil_server.word_index import WordHit, WordIndex

# Store searches running at once; more wait their turn, and one whose call was cancelled (the client
# gave up, or its deadline passed) while it waited never starts.
MAX_CONCURRENT_SEARCHES = 4

# A segment, its vector in the shared space and, for frames, its copy descriptor.
StoreRow = tuple[Segment, np.ndarray, np.ndarray | None]


class SegmentIndex:
    def __init__(self, store: SegmentStore, calibrator: Calibrator, options: BatchOptions):
        self.store = store
        self.calibrator = calibrator
        self.dim = store.dim
        self.descriptor_dim = store.descriptor_dim
        # Keyword search (word_index.py): fed every stored segment with words, reads the rest back once.
        self.words = WordIndex(lambda: store.text_segments(tuple(sorted(KEYWORD_MODALITIES, key=lambda m: m.value))))
        self._inserter = BatchWorker[StoreRow, None]("store", self._insert, options)
        self._searches = asyncio.Semaphore(MAX_CONCURRENT_SEARCHES)  # binds to the loop at first use

    def start(self) -> None:
        """Start the store worker; call from the event loop that will insert."""
        self._inserter.start()

    @property
    def batch_worker(self) -> BatchWorker[StoreRow, None]:
        """The store worker (for metrics: its queue and batches)."""
        return self._inserter

    def stop(self) -> None:
        """Finish pending inserts, save the calibration, close the store."""
        self._inserter.stop()
        self.calibrator.save()
        self.store.close()

    async def insert(self, segment: Segment, vector: np.ndarray, descriptor: np.ndarray | None = None) -> None:
        """Store a segment (and a frame's copy descriptor); returns once it is searchable."""
        await self._inserter.submit((segment, vector, descriptor))

    def _insert(self, batch: Sequence[StoreRow]) -> list[None]:
        self.store.insert([(segment, vector.tolist()) for segment, vector, _ in batch])
        self.words.add(segment for segment, _, _ in batch)
        descriptors = [(segment, d.tolist()) for segment, _, d in batch if d is not None]
        if descriptors:
            self.store.insert_descriptors(descriptors)
        for modality in Modality:
            vectors = [vector for segment, vector, _ in batch if segment.modality is modality]
            if vectors:
                self.calibrator.observe(modality, np.stack(vectors), save=False)
        self.calibrator.save_if_due()  # after the whole batch: a saved file accounts for every row stored before it
        return [None] * len(batch)

    def calibration(self, modality: Modality) -> Calibration:
        return self.calibrator.calibration(modality)

    async def search(self, vector: np.ndarray, search_filter: SearchFilter, top_k: int) -> list[Match]:
        """The top_k segments nearest to `vector`, every modality on one calibrated scale, best first."""
        query = vector.tolist()

        def run() -> list[Match]:
            calibrations = {m: self.calibrator.calibration(m) for m in Modality}
            matches = [
                replace(match, score=calibrations[match.segment.modality].score(match.cosine))
                for match in self.store.search_per_modality(query, search_filter, top_k)
            ]
            matches.sort(key=lambda m: m.score, reverse=True)
            return matches[:top_k]

        async with self._searches:
            return await asyncio.to_thread(run)

    async def search_words(
        self, keywords: Sequence[tuple[str, tuple[str, ...]]], search_filter: SearchFilter, top_k: int
    ) -> list[WordHit]:
        """Segments holding any of the keywords ((as asked, folded words) pairs), best BM25 first."""
        async with self._searches:
            return await asyncio.to_thread(self.words.search, keywords, search_filter, top_k)

    async def rescore(
        self, vectors: Sequence[np.ndarray], hits: Sequence[Segment], tenant: str
    ) -> list[tuple[Match, int]]:
        """Each segment as a match with its best cosine to any of `vectors` (and that cosine's calibrated
        score), and the index of that vector; cosine 0 and index -1 without vectors."""
        if not hits or not vectors:
            return [(Match(segment, 0.0), -1) for segment in hits]
        query = np.stack(vectors)

        def run() -> list[tuple[Match, int]]:
            stored = self.store.vectors([s.segment_id for s in hits], tenant)
            matches = []
            for segment in hits:
                vector = stored.get(segment.segment_id)
                if vector is None:
                    matches.append((Match(segment, 0.0), -1))
                    continue
                cosines = query @ vector
                best = int(np.argmax(cosines))
                cosine = float(cosines[best])
                score = self.calibrator.calibration(segment.modality).score(cosine)
                matches.append((Match(segment, cosine, score), best))
            return matches

        async with self._searches:
            return await asyncio.to_thread(run)

    async def list_segments(self, search_filter: SearchFilter, size: int, after: Cursor | None) -> SegmentPage:
        """Stored segments passing the filter, in time order, `size` at a time (listing.py)."""
        return await asyncio.to_thread(list_page, self.store, search_filter, size, after)

    async def get(self, segment_id: str, tenant: str) -> tuple[Segment, np.ndarray] | None:
        """A stored segment and its vector, or None."""
        return await asyncio.to_thread(self.store.get, segment_id, tenant)

    def erase(self, scope: ErasureScope, before: Callable[[list[StoredSpan]], None] | None = None) -> int:
        """Delete the segments in scope and their copy descriptors, and forget their words; how many (blocking).

        `before` sees each batch of segments before it goes (erasure.py erases what is about them first).
        """

        def each(spans: list[StoredSpan]) -> None:
            if before is not None:
                before(spans)
            self.words.remove(s.segment_id for s in spans)

        return self.store.erase(scope, each)

    def search_copies(self, descriptor: np.ndarray, tenant: str, since_ms: int, top_k: int) -> list[Match]:
        """Frames stored since `since_ms` (unix ms) by copy-descriptor cosine, nearest first (blocking)."""
        return self.store.search_descriptors(descriptor.tolist(), tenant, since_ms, top_k)
