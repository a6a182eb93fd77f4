"""What a signal is: one kind of evidence that a piece of live media shows a reference item.

In the spirit of python-threatexchange's SignalType, a signal knows how to

- describe a reference item (`describe_item`: hashes, descriptors, a fingerprint) and keep the
  description (`encode` / `decode`, stored per item by the moderation database);
- describe live media (`describe_live`): a frame as it is stored, or a window of a stream's audio;
- compare the two against its own documented threshold (`compare`, and `match` over all items
  at once through the index it builds);
- keep what it saw for the archive window and search that archive for a new item.

Moderation loops over the signals it was given; it never branches on which signal it is. A
signal reads either frames or audio (`reads`). Signals take what they need (thresholds, a frame
describer, an archive) in their constructor; the registry (signals/__init__.py) builds them.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar

import numpy as np

from vigil_server.types import Evidence, MatchMethod, ReferenceKind, Segment


class LiveInput(enum.Enum):
    FRAME = "frame"  # each sampled frame, as it is stored
    AUDIO = "audio"  # the stream's audio, in overlapping windows (moderation.AUDIO_WINDOW_S)


@dataclass(frozen=True)
class LiveFrame:
    segment: Segment  # the stored frame segment (stream, time, tenant)
    pixels: np.ndarray  # uint8 RGB, squashed to the decoder's frame size
    descriptor: np.ndarray  # the frame's copy descriptor, from the image worker


@dataclass(frozen=True)
class LiveAudio:
    segment: Segment  # where the window lies: stream, stream times, tenant (no segment id)
    samples: np.ndarray  # float32 mono at 16 kHz


@dataclass(frozen=True)
class ItemMedia:
    """A reference item's media, decoded once for every signal."""

    kind: ReferenceKind
    picture: np.ndarray | None = None  # images: the picture as uploaded (uint8 RGB)
    frames: tuple[np.ndarray, ...] = ()  # squashed like stream frames: the picture, or a video's distinct frames
    audio: np.ndarray | None = None  # audio and video items: float32 mono at 16 kHz


@dataclass(frozen=True)
class Comparison:
    """A signal's verdict on one (item, live media) pair."""

    evidence: Evidence
    # For audio: where the whole item plays, in seconds relative to the live window's start.
    span: tuple[float, float] | None = None


@dataclass(frozen=True)
class ArchiveHit:
    item_id: str
    segment: Segment  # the archived frame or audio stretch (its stream times)
    comparison: Comparison


class SignalArchive(Protocol):
    """Where signals keep what they saw of the streams, for the archive window (moderation's database)."""

    def keep(self, signal: str, segment: Segment, value: bytes) -> None: ...

    def since(self, signal: str, tenant: str, since: float) -> list[tuple[Segment, bytes]]: ...


V = TypeVar("V")  # a reference item's description
L = TypeVar("L")  # live media's description


class SignalIndex(Generic[V, L]):
    """All items' descriptions for one signal, matched against live values. Default: compare each."""

    def __init__(self, signal: Signal[V, L], items: Sequence[tuple[str, V]]):
        self._signal = signal
        self._items = list(items)

    def __len__(self) -> int:
        return len(self._items)

    def match(self, live: L) -> list[tuple[str, Comparison]]:
        """(item id, comparison) of every item the live value matches."""
        hits = []
        for item_id, values in self._items:
            comparison = self._signal.compare(values, live)
            if comparison is not None and comparison.evidence.matched:
                hits.append((item_id, comparison))
        return hits


class Signal(ABC, Generic[V, L]):
    name: ClassVar[str]  # python-threatexchange's name where there is one ("pdq")
    method: ClassVar[MatchMethod | None]  # how the wire contract reports it (Alert.methods)
    reads: ClassVar[LiveInput]

    # -- reference items

    @abstractmethod
    async def describe_item(self, media: ItemMedia) -> V | None:
        """This signal's description of a reference item, or None when it has nothing to say."""

    @abstractmethod
    def amount(self, values: V) -> float:
        """How much of the item the description covers (hashes, descriptors, seconds), for listings."""

    @abstractmethod
    def encode(self, values: V) -> bytes: ...

    @abstractmethod
    def decode(self, blob: bytes) -> V: ...

    # -- live media

    @abstractmethod
    def describe_live(self, live: LiveFrame | LiveAudio) -> L | None:
        """The description of a stored frame or an audio window (blocking; runs off the event loop)."""

    @abstractmethod
    def compare(self, values: V, live: L) -> Comparison | None:
        """The evidence of one item against one live value; `matched` by this signal's own threshold."""

    def index(self, items: Sequence[tuple[str, V]]) -> SignalIndex[V, L]:
        """An index of every item's description (rebuilt whenever items change)."""
        return SignalIndex(self, items)

    # -- the archive: what streamed by in the last archive window

    @abstractmethod
    def encode_live(self, live: L) -> bytes: ...

    @abstractmethod
    def decode_live(self, blob: bytes) -> L: ...

    def keep(self, archive: SignalArchive, segment: Segment, live: L) -> None:
        """Keep a live value in the archive (signals with an archive of their own override this)."""
        archive.keep(self.name, segment, self.encode_live(live))

    def search_archive(
        self, archive: SignalArchive, items: Iterable[tuple[str, V]], tenant: str, since: float
    ) -> list[ArchiveHit]:
        """Archived live values (stored at or after `since`, unix s) that match any of the items."""
        kept = [(segment, self.decode_live(blob)) for segment, blob in archive.since(self.name, tenant, since)]
        hits = []
        for item_id, values in items:
            for segment, live in kept:
                comparison = self.compare(values, live)
                if comparison is not None and comparison.evidence.matched:
                    hits.append(ArchiveHit(item_id, segment, comparison))
        return hits
