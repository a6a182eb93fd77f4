"""PDQ: Meta's perceptual image hash, for pictures and frames (MatchMethod.PDQ).

A picture is described by the hashes of its 8 rotations and flips (so a turned or mirrored
re-upload matches), a video by the hashes of its distinct frames, an imported hash list by its
hashes. A frame matches an item when its hash is within `max_distance` bits (of 256) of one of
the item's; hashes of pictures or frames with a quality under `min_quality` (flat, detail-less
images, where PDQ is unreliable) are neither kept nor matched. Defaults: ThreatExchange's 31
bits and 50 (vigil_models.hashing), server flags --pdq-max-distance and --pdq-min-quality.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

import numpy as np

from vigil_models.hashing import PdqHash, PdqIndex, hamming, pdq_hash, pdq_hash_dihedral
from vigil_server.moderation.signals.base import (
    ArchiveHit,
    Comparison,
    ItemMedia,
    LiveAudio,
    LiveFrame,
    LiveInput,
    Signal,
    SignalArchive,
    SignalIndex,
)
from vigil_server.types import Evidence, MatchMethod, ReferenceKind

Hashes = tuple[PdqHash, ...]
# A reference video keeps at most this many distinct frames.
MAX_ITEM_FRAMES = 300
_NO_QUALITY = 255  # stored in place of an unknown quality


class PdqSignal(Signal[Hashes, PdqHash]):
    name: ClassVar[str] = "pdq"
    method: ClassVar[MatchMethod | None] = MatchMethod.PDQ
    reads: ClassVar[LiveInput] = LiveInput.FRAME

    def __init__(self, max_distance: int, min_quality: int):
        self.max_distance = max_distance
        self.min_quality = min_quality

    def usable(self, value: PdqHash) -> bool:
        """Whether a hash may be kept or matched (imported hashes without a quality are trusted)."""
        return value.quality is None or value.quality >= self.min_quality

    def hash_frame(self, frame: np.ndarray) -> PdqHash | None:
        """The hash of a picture or frame when it has enough detail, else None."""
        value = pdq_hash(frame)
        return value if self.usable(value) else None

    def distinct_frames(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """Frames with enough detail whose hash differs from every frame kept before (greedy)."""
        kept: list[tuple[np.ndarray, PdqHash]] = []
        for frame in frames:
            value = self.hash_frame(frame)
            if value is not None and all(hamming(value, h) > self.max_distance for _, h in kept):
                kept.append((frame, value))
                if len(kept) == MAX_ITEM_FRAMES:
                    break
        return [frame for frame, _ in kept]

    async def describe_item(self, media: ItemMedia) -> Hashes | None:
        if media.kind is ReferenceKind.IMAGE and media.picture is not None:
            # The picture's own hashes, not the squashed frame's: they are what a hash list would carry.
            hashes = tuple(h for h in pdq_hash_dihedral(media.picture) if self.usable(h))
        else:
            hashes = tuple(h for h in map(self.hash_frame, media.frames) if h is not None)
        return hashes or None

    def amount(self, values: Hashes) -> float:
        return len(values)

    def encode(self, values: Hashes) -> bytes:
        return b"".join(h.bits + bytes([_NO_QUALITY if h.quality is None else h.quality]) for h in values)

    def decode(self, blob: bytes) -> Hashes:
        rows = [blob[i : i + 33] for i in range(0, len(blob), 33)]
        return tuple(PdqHash(row[:32], None if row[32] == _NO_QUALITY else row[32]) for row in rows)

    def describe_live(self, live: LiveFrame | LiveAudio) -> PdqHash | None:
        assert isinstance(live, LiveFrame)
        return self.hash_frame(live.pixels)

    def compare(self, values: Hashes, live: PdqHash) -> Comparison | None:
        if not values or not self.usable(live):
            return None
        distance = min(hamming(h, live) for h in values)
        return Comparison(Evidence(self.name, self.method, float(distance), distance <= self.max_distance))

    def index(self, items: Sequence[tuple[str, Hashes]]) -> SignalIndex[Hashes, PdqHash]:
        return _PdqItems(self, items)

    def encode_live(self, live: PdqHash) -> bytes:
        return live.bits

    def decode_live(self, blob: bytes) -> PdqHash:
        return PdqHash(blob)

    def search_archive(
        self, archive: SignalArchive, items: Iterable[tuple[str, Hashes]], tenant: str, since: float
    ) -> list[ArchiveHit]:
        kept = archive.since(self.name, tenant, since)
        frames = PdqIndex((str(i), self.decode_live(blob)) for i, (_, blob) in enumerate(kept))
        hits = []
        for item_id, values in items:
            best: dict[int, int] = {}  # archived frame -> nearest distance
            for value in values:
                for key, distance in frames.match(value, self.max_distance):
                    best[int(key)] = min(distance, best.get(int(key), distance))
            for n in sorted(best):
                evidence = Evidence(self.name, self.method, float(best[n]), True)
                hits.append(ArchiveHit(item_id, kept[n][0], Comparison(evidence)))
        return hits


class _PdqItems(SignalIndex[Hashes, PdqHash]):
    """Every item's hashes in one vectorised PdqIndex."""

    def __init__(self, signal: PdqSignal, items: Sequence[tuple[str, Hashes]]):
        super().__init__(signal, items)
        self._pdq = signal
        self._hashes = PdqIndex((item_id, h) for item_id, values in items for h in values)

    def match(self, live: PdqHash) -> list[tuple[str, Comparison]]:
        if not len(self._hashes) or not self._pdq.usable(live):
            return []
        nearest: dict[str, int] = {}
        for item_id, distance in self._hashes.match(live, self._pdq.max_distance):
            nearest.setdefault(item_id, distance)  # nearest first
        method = self._pdq.method
        return [(i, Comparison(Evidence(self._pdq.name, method, float(d), True))) for i, d in nearest.items()]
