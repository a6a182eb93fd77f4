"""vPDQ: Meta's video hash (vigil_models.vpdq), matched over a live stream (MatchMethod.VPDQ).

A video item is described by the PDQ hash of each of its frames sampled once a second at the
frame's own size, as Meta's `vpdq` hasher samples and hashes them (ItemMedia.frame_pdq); an
imported vPDQ hash by its frames. Both keep every frame, so the item exports as it came.

vPDQ compares two whole videos: the reference matches when at least `match_percent` (80) % of its
distinct frames of quality >= `min_quality` (50) have a frame of the other video within
`max_distance` (31) bits. A live stream has no end, so the other video is a moving window of the
stream's recent frames: each stream keeps, per item, when each reference frame last had a match
(its `stream_state`), and the item matches when the frames matched within the last `window`
seconds (the reference's length plus WINDOW_SLACK of it, at least WINDOW_MIN_SLACK_S) reach the
share. That is vPDQ's comparison of the reference with that window, with the query share at 0 %
(extra stream material never prevents a match). The alert covers the window's matched stretch;
the item's memory then starts afresh, so a second showing is a second alert.
"""

from __future__ import annotations

import re
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from vigil_models.hashing import PdqHash, PdqIndex, hamming
from vigil_models.vpdq import VpdqFrame, format_vpdq, format_vpdq_compact, parse_vpdq, unique_frames
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
from vigil_server.types import Evidence, MatchMethod, ReferenceKind, Segment

WINDOW_SLACK = 0.25  # the window is the reference's length plus this share of it...
WINDOW_MIN_SLACK_S = 5.0  # ...and at least this many seconds more
PRUNE_EVERY = 500  # frames a stream's memory sees between clean-ups of items it stopped seeing
_FRAME = struct.Struct("<iBd32s")  # frame number, quality, timestamp, hash


@dataclass(frozen=True)
class VpdqHash:
    """A video's vPDQ hash: every hashed frame, in order."""

    frames: tuple[VpdqFrame, ...]


@dataclass(frozen=True)
class VpdqLive:
    """A live frame's PDQ hashes (its own, and inside its letterbox bars) and where it lies in its stream."""

    hashes: tuple[PdqHash, ...]
    start: float
    end: float


@dataclass
class _Memory:
    """One stream's memory: per item, the stream time each of its unique frames last had a match."""

    seen: dict[str, dict[int, float]] = field(default_factory=dict)
    latest: float = 0.0
    frames: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)  # a stream's frames are checked in parallel


@dataclass(frozen=True)
class _Reference:
    frames: int  # unique frames of good quality: the share's denominator
    window: float  # seconds of stream its frames are looked for in


class VpdqSignal(Signal[VpdqHash, VpdqLive]):
    name: ClassVar[str] = "vpdq"
    method: ClassVar[MatchMethod | None] = MatchMethod.VPDQ
    reads: ClassVar[LiveInput] = LiveInput.FRAME
    exchange_names: ClassVar[tuple[str, ...]] = ("vpdq",)
    hash_kind: ClassVar[ReferenceKind | None] = ReferenceKind.VPDQ_HASH
    # Lines of Meta's vPDQ file: an ImportHashes text starting with one is one video's hash.
    file_line: ClassVar[re.Pattern[str] | None] = re.compile(r"^\d+\s*,\s*\d+\s*,\s*[0-9a-fA-F]{64}\s*,\s*[0-9.]+$")

    def __init__(self, max_distance: int, min_quality: int, match_percent: float):
        self.max_distance = max_distance
        self.min_quality = min_quality
        self.match_percent = match_percent

    @property
    def threshold(self) -> float:
        return self.match_percent

    def adjusted(self, threshold: float) -> VpdqSignal:
        if not 0 < threshold <= 100:
            raise ValueError(f"a vpdq threshold is a share of the reference's frames in (0, 100] %, got {threshold:g}")
        return VpdqSignal(self.max_distance, self.min_quality, threshold)

    def stream_state(self) -> _Memory:
        return _Memory()

    def reference(self, values: VpdqHash) -> tuple[list[VpdqFrame], _Reference]:
        """The frames compared and how the item is looked for in a stream."""
        unique = unique_frames(values.frames, self.min_quality)
        times = [f.timestamp for f in values.frames] or [0.0]
        length = max(times) - min(times) + 1.0  # frames are a second apart
        return unique, _Reference(len(unique), length + max(WINDOW_MIN_SLACK_S, WINDOW_SLACK * length))

    # -- reference items

    async def describe_item(self, media: ItemMedia) -> VpdqHash | None:
        if media.kind is not ReferenceKind.VIDEO or not media.frame_pdq:
            return None
        rate = media.frame_rate
        frames = tuple(
            VpdqFrame(round(f.time * rate) if rate else n, f.hash.quality or 0, f.hash, round(f.time, 3))
            for n, f in enumerate(media.frame_pdq)
        )  # numbered and timed as Meta's hasher writes them (clips.decode_clip_full samples as it does)
        return VpdqHash(frames) if unique_frames(frames, self.min_quality) else None

    def amount(self, values: VpdqHash) -> float:
        return len(values.frames)

    def encode(self, values: VpdqHash) -> bytes:
        return b"".join(_FRAME.pack(f.frame_number, f.quality, f.timestamp, f.hash.bits) for f in values.frames)

    def decode(self, blob: bytes) -> VpdqHash:
        frames = []
        for number, quality, timestamp, bits in _FRAME.iter_unpack(blob):
            frames.append(VpdqFrame(number, quality, PdqHash(bits, quality), timestamp))
        return VpdqHash(tuple(frames))

    # -- live media

    def usable(self, value: PdqHash) -> bool:
        return (value.quality or 0) >= self.min_quality

    def describe_live(self, live: Live) -> VpdqLive | None:
        assert isinstance(live, LiveFrame)
        hashes = tuple(h for h in live.pdq if self.usable(h))
        return VpdqLive(hashes, live.segment.start, live.segment.end) if hashes else None

    def compare(self, values: VpdqHash, live: VpdqLive) -> Comparison | None:
        """One frame alone: the share of the reference it matches (all of it only for a one-frame reference)."""
        unique, reference = self.reference(values)
        hashes = [h for h in live.hashes if self.usable(h)]
        if not unique or not hashes:
            return None
        near = any(hamming(f.hash, h) <= self.max_distance for f in unique for h in hashes)
        share = 100.0 / reference.frames if near else 0.0
        return Comparison(Evidence(self.name, self.method, share, share >= self.match_percent))

    def index(self, items: Sequence[tuple[str, VpdqHash]]) -> SignalIndex[VpdqHash, VpdqLive]:
        return _VpdqItems(self, items)

    # -- hashes as exchanged

    def parse_hash(self, text: str) -> VpdqHash:
        frames = tuple(parse_vpdq(text))
        if not unique_frames(frames, self.min_quality):
            raise ValueError(f"the vPDQ hash has no frame of quality {self.min_quality} or more to match")
        return VpdqHash(frames)

    def format_hash(self, values: VpdqHash, kind: ReferenceKind) -> str | None:
        return format_vpdq_compact(values.frames)

    def format_file(self, values: VpdqHash) -> str:
        """Meta's vPDQ file of the item."""
        return format_vpdq(values.frames)

    def lookup_values(self, text: str) -> list[VpdqLive]:
        frames = self.parse_hash(text).frames
        ordered = sorted(frames, key=lambda f: f.timestamp)
        return [VpdqLive((PdqHash(f.hash.bits, f.quality),), f.timestamp, f.timestamp + 1.0) for f in ordered
                if f.quality >= self.min_quality]  # fmt: skip

    # -- the archive

    def encode_live(self, live: VpdqLive) -> bytes:
        return b"".join(h.bits + bytes([h.quality or 0]) for h in live.hashes)

    def decode_live(self, blob: bytes) -> VpdqLive:
        rows = [blob[i : i + 33] for i in range(0, len(blob), 33)]
        return VpdqLive(tuple(PdqHash(row[:32], row[32]) for row in rows), 0.0, 0.0)

    def search_archive(
        self, archive: SignalArchive, items: Iterable[tuple[str, VpdqHash]], tenant: str, since: float
    ) -> list[ArchiveHit]:
        """Each stream's archived frames, in order, through a fresh stream memory."""
        index = _VpdqItems(self, list(items))
        streams: dict[str, list[tuple[Segment, bytes]]] = {}
        for segment, blob in archive.since(self.name, tenant, since):
            streams.setdefault(segment.stream_id, []).append((segment, blob))
        hits = []
        for kept in streams.values():
            memory = _Memory()
            for segment, blob in sorted(kept, key=lambda row: row[0].start):
                live = VpdqLive(self.decode_live(blob).hashes, segment.start, segment.end)
                hits += [ArchiveHit(item_id, segment, c, live) for item_id, c in index.match(live, memory)]
        return hits


class _VpdqItems(SignalIndex[VpdqHash, VpdqLive]):
    """Every item's unique frames in one PdqIndex; a stream's memory says which matched when."""

    def __init__(self, signal: VpdqSignal, items: Sequence[tuple[str, VpdqHash]]):
        super().__init__(signal, items)
        self._vpdq = signal
        self._references: dict[str, _Reference] = {}
        owners: list[tuple[str, int]] = []
        hashes: list[tuple[str, PdqHash]] = []
        for item_id, values in items:
            unique, reference = signal.reference(values)
            if not unique:
                continue
            self._references[item_id] = reference
            for n, frame in enumerate(unique):
                hashes.append((str(len(owners)), frame.hash))
                owners.append((item_id, n))
        self._owners = owners
        self._hashes = PdqIndex.of(hashes)
        self._longest = max((r.window for r in self._references.values()), default=0.0)

    def match(self, live: VpdqLive, memory: Any = None) -> list[tuple[str, Comparison]]:
        signal = self._vpdq
        hashes = [h for h in live.hashes if signal.usable(h)]
        if not len(self._hashes) or not hashes:
            return []
        stream = memory if isinstance(memory, _Memory) else _Memory()  # no stream: this frame alone
        positions = {p for h in hashes for p in self._hashes.match_positions(h, signal.max_distance)[0].tolist()}
        hits = []
        with stream.lock:
            touched = set()
            for position in sorted(positions):
                item_id, frame = self._owners[position]
                seen = stream.seen.setdefault(item_id, {})
                seen[frame] = max(seen.get(frame, live.start), live.start)
                touched.add(item_id)
            for item_id in sorted(touched):
                reference, seen = self._references[item_id], stream.seen[item_id]
                since = live.end - reference.window
                for frame in [f for f, at in seen.items() if at < since]:
                    del seen[frame]
                share = 100.0 * len(seen) / reference.frames
                if share >= signal.match_percent:
                    first = min(seen.values())
                    evidence = Evidence(signal.name, signal.method, share, True)
                    hits.append((item_id, Comparison(evidence, (first - live.start, live.end - live.start))))
                    del stream.seen[item_id]  # a later showing is a new match
            self._prune(stream, live.end)
        return hits

    def _prune(self, stream: _Memory, now: float) -> None:
        stream.latest = max(stream.latest, now)
        stream.frames += 1
        if stream.frames % PRUNE_EVERY:
            return
        since = stream.latest - self._longest
        for item_id in list(stream.seen):
            kept = {f: at for f, at in stream.seen[item_id].items() if at >= since}
            if kept:
                stream.seen[item_id] = kept
            else:
                del stream.seen[item_id]
