"""The pipeline: the model and store workers, shared by every stream, and the two operations.

One worker owns each model and batches requests from all streams; one owns store inserts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from vigil_models import ModelSet, SoundWindow, SpeechRegion, TranscriptPiece
from vigil_server.batching import BatchOptions, BatchWorker
from vigil_server.calibrate import Calibrator
from vigil_server.decode import DecodeSettings
from vigil_server.errors import AlreadyExists, Overloaded
from vigil_server.ingest import IngestSession
from vigil_server.moderation import Moderation, ModerationSettings
from vigil_server.query import embed_query
from vigil_server.store import SegmentStore
from vigil_server.types import Chunk, IngestEvent, Match, Modality, SearchQuery, Segment, SegmentRef, StreamConfig
from vigil_server.watchlist import Thresholds, Watchlist
from vigil_server.watchlist_db import WatchlistDb

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineSettings:
    decode: DecodeSettings
    image_batch: BatchOptions = BatchOptions(max_batch=16, max_wait_s=0.02)
    text_batch: BatchOptions = BatchOptions(max_batch=32, max_wait_s=0.005)
    speech_batch: BatchOptions = BatchOptions(max_batch=4, max_wait_s=0.0, max_pending=64)
    store_batch: BatchOptions = BatchOptions(max_batch=256, max_wait_s=0.05, max_pending=4096)
    max_streams: int = 32  # concurrent Ingest calls
    moderation: ModerationSettings = ModerationSettings()
    thresholds: Thresholds = Thresholds()


# A segment, its vector in the shared space and, for frames, its copy descriptor.
StoreRow = tuple[Segment, np.ndarray, np.ndarray | None]


def _rows(matrix: np.ndarray) -> list[np.ndarray]:
    return list(matrix)


class Pipeline:
    def __init__(
        self,
        models: ModelSet,
        store: SegmentStore,
        calibrator: Calibrator,
        settings: PipelineSettings,
        watchlist_db: WatchlistDb,
    ):
        self.models = models
        self.store = store
        self.calibrator = calibrator
        self.settings = settings
        self.text = BatchWorker[str, np.ndarray]("text", lambda b: _rows(models.text.embed(b)), settings.text_batch)
        # Frames: the shared-space vector and the copy descriptor (for reference banks), one pass.
        self.image = BatchWorker[np.ndarray, tuple[np.ndarray, np.ndarray]](
            "image", lambda b: list(zip(*models.image.embed_and_describe(b), strict=True)), settings.image_batch
        )
        self.detector = BatchWorker[np.ndarray, list[SpeechRegion]](
            "vad", lambda b: [models.detector.find(a) for a in b], settings.speech_batch
        )
        self.transcriber = BatchWorker[tuple[np.ndarray, str], list[TranscriptPiece]](
            "asr", lambda b: [models.transcriber.transcribe(a, lang) for a, lang in b], settings.speech_batch
        )
        self.sound = BatchWorker[np.ndarray, list[SoundWindow]](
            "sound", lambda b: [models.sound.tag(a) for a in b], settings.speech_batch
        )
        self.inserter = BatchWorker[StoreRow, None]("store", self._insert, settings.store_batch)
        self._workers: list[BatchWorker[Any, Any]] = [
            self.text, self.image, self.detector, self.transcriber, self.sound, self.inserter,
        ]  # fmt: skip
        # An audio encoder (CLAP) embeds sound itself; label spaces embed the sound's caption mixture.
        self.audio: BatchWorker[np.ndarray, np.ndarray] | None = None
        if models.audio is not None:
            audio = models.audio
            self.audio = BatchWorker[np.ndarray, np.ndarray](
                "audio", lambda b: _rows(audio.embed(b)), settings.image_batch
            )
            self._workers.append(self.audio)
        self._active: set[tuple[str, str]] = set()
        watchlist = Watchlist(calibrator, store.dim, store.descriptor_dim, settings.thresholds)
        self.moderation = Moderation(self, watchlist_db, watchlist, settings.moderation)

    def _insert(self, batch: Sequence[StoreRow]) -> list[None]:
        self.store.insert([(segment, vector.tolist()) for segment, vector, _ in batch])
        descriptors = [(segment, d.tolist()) for segment, _, d in batch if d is not None]
        if descriptors:
            self.store.insert_descriptors(descriptors)
        for modality in Modality:
            vectors = [vector for segment, vector, _ in batch if segment.modality is modality]
            if vectors:
                self.calibrator.observe(modality, np.stack(vectors))
        return [None] * len(batch)

    def start(self) -> None:
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        for worker in self._workers:
            worker.stop()
        self.calibrator.save()
        self.moderation.close()
        self.store.close()

    async def ingest(self, config: StreamConfig, chunks: AsyncIterator[Chunk]) -> AsyncIterator[IngestEvent]:
        key = (config.tenant, config.stream_id)
        if key in self._active:
            raise AlreadyExists(f"stream {config.stream_id!r} is already being ingested by another call")
        if len(self._active) >= self.settings.max_streams:
            raise Overloaded(f"{self.settings.max_streams} streams are already being ingested; retry later")
        self._active.add(key)
        try:
            async for event in IngestSession(self, config).run(chunks):
                yield event
        finally:
            self._active.discard(key)

    async def search(self, query: SearchQuery) -> list[Match]:
        """Search each modality, calibrate the scores, and merge into one list, best first."""
        vector = (await embed_query(self, query.item, query.filter.tenant)).tolist()
        search_filter = query.filter
        if isinstance(query.item, SegmentRef):
            search_filter = replace(search_filter, exclude_ids=(query.item.segment_id,))

        def run() -> list[Match]:
            matches = []
            for modality in search_filter.modalities or tuple(Modality):
                calibration = self.calibrator.calibration(modality)
                one = replace(search_filter, modalities=(modality,))
                for match in self.store.search(vector, one, query.top_k):
                    matches.append(replace(match, score=calibration.score(match.cosine)))
            matches.sort(key=lambda m: m.score, reverse=True)
            return matches[: query.top_k]

        return await asyncio.to_thread(run)
