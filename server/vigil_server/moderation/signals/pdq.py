"""PDQ: Meta's perceptual image hash, for pictures and frames (MatchMethod.PDQ).

A picture is described by the hashes of its 8 rotations and flips (so a turned or mirrored
re-upload matches), a video by the hashes of its distinct frames (hashed at their own size), an
imported hash list by its hashes. A live frame is hashed at its own size when the decoder gave it
(LiveFrame.full), as other PDQ hashers hash it, and, when it has letterbox or pillarbox bars,
also without them (LiveFrame.pdq): it matches by the nearer of its hashes. A frame matches an
item when a hash of it is within `max_distance` bits (of 256) of one of the item's; hashes of
pictures or frames with a quality under `min_quality` (flat, detail-less images, where PDQ is
unreliable) are neither kept nor matched. Defaults: ThreatExchange's 31 bits and 50
(vigil_models.hashing), server flags --pdq-max-distance and --pdq-min-quality.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from vigil_models.hashing import PdqHash, PdqIndex, hamming, pdq_hash, pdq_hash_dihedral
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
from vigil_server.types import Evidence, MatchMethod, ReferenceKind

Hashes = tuple[PdqHash, ...]  # an item's
FrameHashes = PdqHash | Hashes  # a live frame's: its own hash, and its hash inside its bars when it has them
# A reference video keeps at most this many distinct frames.
MAX_ITEM_FRAMES = 300
_NO_QUALITY = 255  # stored in place of an unknown quality


def _seen(live: FrameHashes) -> Hashes:
    return (live,) if isinstance(live, PdqHash) else live


class PdqSignal(Signal[Hashes, FrameHashes]):
    name: ClassVar[str] = "pdq"
    method: ClassVar[MatchMethod | None] = MatchMethod.PDQ
    reads: ClassVar[LiveInput] = LiveInput.FRAME
    exchange_names: ClassVar[tuple[str, ...]] = ("pdq", "pdq_hash")
    hash_kind: ClassVar[ReferenceKind | None] = ReferenceKind.PDQ_HASH

    def __init__(self, max_distance: int, min_quality: int):
        self.max_distance = max_distance
        self.min_quality = min_quality

    @property
    def threshold(self) -> float:
        return float(self.max_distance)

    def adjusted(self, threshold: float) -> PdqSignal:
        if not (threshold.is_integer() and 0 <= threshold <= 256):
            raise ValueError(f"a pdq threshold is a whole number of bits 0-256, got {threshold:g}")
        return PdqSignal(int(threshold), self.min_quality)

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
        elif media.frame_pdq:  # a video's frames hashed at their own size: its distinct ones
            hashes = tuple(self.distinct_hashes([f.hash for f in media.frame_pdq]))
        else:
            hashes = tuple(h for h in map(self.hash_frame, media.frames) if h is not None)
        return hashes or None

    def distinct_hashes(self, hashes: Iterable[PdqHash]) -> list[PdqHash]:
        """Usable hashes farther than max_distance from every hash kept before (greedy), at most MAX_ITEM_FRAMES."""
        kept: list[PdqHash] = []
        for value in hashes:
            if self.usable(value) and all(hamming(value, h) > self.max_distance for h in kept):
                kept.append(value)
                if len(kept) == MAX_ITEM_FRAMES:
                    break
        return kept

    def amount(self, values: Hashes) -> float:
        return len(values)

    def encode(self, values: Hashes) -> bytes:
        return b"".join(h.bits + bytes([_NO_QUALITY if h.quality is None else h.quality]) for h in values)

    def decode(self, blob: bytes) -> Hashes:
        rows = [blob[i : i + 33] for i in range(0, len(blob), 33)]
        return tuple(PdqHash(row[:32], None if row[32] == _NO_QUALITY else row[32]) for row in rows)

    def describe_live(self, live: Live) -> FrameHashes | None:
        assert isinstance(live, LiveFrame)
        return tuple(h for h in live.pdq if self.usable(h)) or None

    def compare(self, values: Hashes, live: FrameHashes) -> Comparison | None:
        seen = [h for h in _seen(live) if self.usable(h)]
        if not values or not seen:
            return None
        distance = min(hamming(h, frame) for h in values for frame in seen)
        return Comparison(Evidence(self.name, self.method, float(distance), distance <= self.max_distance))

    def index(self, items: Sequence[tuple[str, Hashes]]) -> SignalIndex[Hashes, FrameHashes]:
        return _PdqItems(self, items)

    def parse_hash(self, text: str) -> Hashes:
        return (PdqHash.from_hex(text),)

    def format_hash(self, values: Hashes, kind: ReferenceKind) -> str | None:
        # A picture keeps the hashes of its 8 rotations and flips: its own comes first.
        return values[0].to_hex() if values else None

    def lookup_values(self, text: str) -> list[FrameHashes]:
        return [(PdqHash.from_hex(text),)]

    def encode_live(self, live: FrameHashes) -> bytes:
        return b"".join(h.bits for h in _seen(live))

    def decode_live(self, blob: bytes) -> FrameHashes:
        return tuple(PdqHash(blob[i : i + 32]) for i in range(0, len(blob), 32))

    def search_archive(
        self, archive: SignalArchive, items: Iterable[tuple[str, Hashes]], tenant: str, since: float
    ) -> list[ArchiveHit]:
        kept = archive.since(self.name, tenant, since)
        frames = PdqIndex.of((str(i), h) for i, (_, blob) in enumerate(kept) for h in _seen(self.decode_live(blob)))
        hits = []
        for item_id, values in items:
            best: dict[int, int] = {}  # archived frame -> nearest distance
            for value in values:
                for key, distance in frames.match(value, self.max_distance):
                    best[int(key)] = min(distance, best.get(int(key), distance))
            for n in sorted(best):
                evidence = Evidence(self.name, self.method, float(best[n]), True)
                hits.append(ArchiveHit(item_id, kept[n][0], Comparison(evidence), self.decode_live(kept[n][1])))
        return hits


class _PdqItems(SignalIndex[Hashes, FrameHashes]):
    """Every item's hashes in one vectorised PdqIndex."""

    def __init__(self, signal: PdqSignal, items: Sequence[tuple[str, Hashes]]):
        super().__init__(signal, items)
        self._pdq = signal
        self._hashes = PdqIndex.of((item_id, h) for item_id, values in items for h in values)

    def match(self, live: FrameHashes, memory: Any = None) -> list[tuple[str, Comparison]]:
        if not len(self._hashes):
            return []
        nearest: dict[str, int] = {}
        for seen in _seen(live):
            if self._pdq.usable(seen):
                for item_id, distance in self._hashes.match(seen, self._pdq.max_distance):
                    nearest[item_id] = min(distance, nearest.get(item_id, distance))
        method = self._pdq.method
        return [(i, Comparison(Evidence(self._pdq.name, method, float(d), True))) for i, d in nearest.items()]
