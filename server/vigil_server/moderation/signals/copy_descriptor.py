"""Copy descriptor: pooled image-model features of a whole frame, for near-duplicate pictures.

The shared-space vector of a frame says what it shows ("a cat"), so two photos of two cats are
close in it; the copy descriptor (ImageEmbedder.embed_and_describe, from the same forward pass
as the frame's vector) tells two photos of one kind of thing apart and survives resizing,
re-encoding, small crops and mirroring. A frame matches a reference picture when their
descriptors' cosine is at least `min_cosine` (server flag --bank-min-cosine, default 0.75;
measured in docs/moderation.md). Reported as MatchMethod.EMBEDDING with the cosine.

The segment index keeps every frame's descriptor (a second Milvus collection), so this signal's
archive is a vector search there, not the moderation database.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from vigil_server.moderation.signals.base import (
    ArchiveHit,
    Comparison,
    ItemMedia,
    Live,
    LiveFrame,
    LiveInput,
    Signal,
    SignalArchive,
    SignalIndex,
)
from vigil_server.types import Evidence, Match, MatchMethod

# Frames returned per archive search for each reference picture (Milvus caps a search at 16384).
ARCHIVE_TOP_K = 1000

DescribeFrames = Callable[[list[np.ndarray]], Awaitable[np.ndarray]]  # frames -> float32 [n, descriptor_dim]
SearchCopies = Callable[[np.ndarray, str, int, int], list[Match]]  # descriptor, tenant, since ms, top k


class CopyDescriptorSignal(Signal[np.ndarray, np.ndarray]):
    name: ClassVar[str] = "copy_descriptor"
    method: ClassVar[MatchMethod | None] = MatchMethod.EMBEDDING
    reads: ClassVar[LiveInput] = LiveInput.FRAME

    def __init__(self, describe_frames: DescribeFrames, search_copies: SearchCopies, dim: int, min_cosine: float):
        self._describe_frames = describe_frames
        self._search_copies = search_copies
        self.dim = dim
        self.min_cosine = min_cosine

    @property
    def threshold(self) -> float:
        return self.min_cosine

    def adjusted(self, threshold: float) -> CopyDescriptorSignal:
        if not 0 < threshold <= 1:
            raise ValueError(f"a copy_descriptor threshold is a cosine in (0, 1], got {threshold:g}")
        return CopyDescriptorSignal(self._describe_frames, self._search_copies, self.dim, threshold)

    async def describe_item(self, media: ItemMedia) -> np.ndarray | None:
        if not media.frames:
            return None
        return await self._describe_frames(list(media.frames))

    def amount(self, values: np.ndarray) -> float:
        return len(values)

    def encode(self, values: np.ndarray) -> bytes:
        return values.astype(np.float32).tobytes()

    def decode(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype=np.float32).reshape(-1, self.dim).copy()

    def describe_live(self, live: Live) -> np.ndarray | None:
        assert isinstance(live, LiveFrame)
        return live.descriptor

    def compare(self, values: np.ndarray, live: np.ndarray) -> Comparison | None:
        if not len(values):
            return None
        cosine = float(np.max(values @ live))
        return Comparison(Evidence(self.name, self.method, cosine, cosine >= self.min_cosine))

    def index(self, items: Sequence[tuple[str, np.ndarray]]) -> SignalIndex[np.ndarray, np.ndarray]:
        return _Pictures(self, items)

    def encode_live(self, live: np.ndarray) -> bytes:
        return live.astype(np.float32).tobytes()

    def decode_live(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype=np.float32).copy()

    def keep(self, archive: SignalArchive, segment: object, live: np.ndarray) -> None:
        """Nothing to do: the segment index stores every frame's descriptor with the frame."""

    def search_archive(
        self, archive: SignalArchive, items: Iterable[tuple[str, np.ndarray]], tenant: str, since: float
    ) -> list[ArchiveHit]:
        hits = []
        for item_id, values in items:
            best: dict[str, tuple[Match, float]] = {}  # segment id -> (match, best cosine over the item's pictures)
            for vector in values:
                for match in self._search_copies(vector, tenant, int(since * 1000), ARCHIVE_TOP_K):
                    seen = best.get(match.segment.segment_id)
                    if match.cosine >= self.min_cosine and (seen is None or match.cosine > seen[1]):
                        best[match.segment.segment_id] = (match, match.cosine)
            for match, cosine in best.values():
                evidence = Evidence(self.name, self.method, cosine, True)
                hits.append(ArchiveHit(item_id, match.segment, Comparison(evidence)))
        return hits


class _Pictures(SignalIndex[np.ndarray, np.ndarray]):
    """Every item's descriptors in one matrix: one product per frame."""

    def __init__(self, signal: CopyDescriptorSignal, items: Sequence[tuple[str, np.ndarray]]):
        super().__init__(signal, items)
        self._copy = signal
        rows = [(item_id, v) for item_id, v in items if len(v)]
        self._matrix = (
            np.ascontiguousarray(np.concatenate([v for _, v in rows]).astype(np.float32))
            if rows
            else np.zeros((0, signal.dim), np.float32)
        )
        self._owners = [item_id for item_id, v in rows for _ in range(len(v))]

    def match(self, live: np.ndarray, memory: Any = None) -> list[tuple[str, Comparison]]:
        if not self._owners:
            return []
        best: dict[str, float] = {}
        for item_id, cosine in zip(self._owners, (self._matrix @ live).tolist(), strict=True):
            best[item_id] = max(cosine, best.get(item_id, -1.0))
        signal = self._copy
        return [
            (item_id, Comparison(Evidence(signal.name, signal.method, cosine, True)))
            for item_id, cosine in best.items()
            if cosine >= signal.min_cosine
        ]
