"""What a signal is: one kind of evidence that a piece of live media shows a reference item.

In the spirit of python-threatexchange's SignalType, a signal knows how to

- describe a reference item (`describe_item`: hashes, descriptors, a fingerprint) and keep the
  description (`encode` / `decode`, stored per item by the moderation database);
- describe live media (`describe_live`): a frame as it is stored, a window of a stream's audio,
  or a whole file (a stream's bytes at its end, an uploaded file);
- compare the two against its own documented threshold (`compare`, and `match` over all items
  at once through the index it builds), which a bank may override (`adjusted`);
- keep what it saw for the archive window and search that archive for a new item;
- read and write its hashes in the form hash-sharing programmes exchange them (`exchange_names`,
  `parse_hash`, `format_hash`, `lookup_values`), where it has one.

Moderation loops over the signals it was given; it never branches on which signal it is. A
signal reads frames, audio or whole files (`reads`). A signal that matches over time (vPDQ's
moving window of recent frames) or over a whole file (MD5) keeps per-stream memory: moderation
asks it for a fresh `stream_state()` per stream and hands that back to its index's `match`; for a
file reader, the state is fed every byte and comes back in `LiveFile`. Signals take what they need
(thresholds, a frame describer) in their constructor; the registry (signals/__init__.py) builds them.
"""

from __future__ import annotations

import enum
import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, TypeVar

import numpy as np

from vigil_models.hashing import PdqHash, frame_hashes
from vigil_server.types import Evidence, MatchMethod, ReferenceKind, Segment


class LiveInput(enum.Enum):
    FRAME = "frame"  # each sampled frame, as it is stored
    AUDIO = "audio"  # the stream's audio, in overlapping windows (moderation.AUDIO_WINDOW_S)
    FILE = "file"  # the whole bytes: of a stream when it ends, of an uploaded file


@dataclass(frozen=True)
class LiveFrame:
    segment: Segment  # the stored frame segment (stream, time, tenant)
    pixels: np.ndarray  # uint8 RGB, squashed to the decoder's frame size
    descriptor: np.ndarray  # the frame's copy descriptor, from the image worker
    full: np.ndarray | None = None  # the same frame at its own size and aspect, when decoded so

    @property
    def hash_pixels(self) -> np.ndarray:
        """What perceptual hashes read: the frame at its own size when there is one, else as squashed."""
        return self.full if self.full is not None else self.pixels

    @functools.cached_property
    def pdq(self) -> tuple[PdqHash, ...]:
        """The frame's PDQ hash (of hash_pixels), and its hash inside letterbox bars when it has them;
        computed once for every signal that reads it (vigil_models.hashing.frame_hashes)."""
        return frame_hashes(self.hash_pixels)


class FileReader(Protocol):
    """The per-stream state of a signal that reads whole files: it is fed every byte, in order."""

    def update(self, data: bytes, /) -> None: ...


@dataclass(frozen=True)
class LiveFile:
    segment: Segment  # the whole stream or upload: its stream, [start, end of the media), tenant; no segment id
    reader: FileReader  # the signal's stream_state(), fed every byte of the file


@dataclass(frozen=True)
class LiveAudio:
    segment: Segment  # where the window lies: stream, stream times, tenant (no segment id)
    samples: np.ndarray  # float32 mono at 16 kHz


Live = LiveFrame | LiveAudio | LiveFile


@dataclass(frozen=True)
class FramePdq:
    """The PDQ hash of one sampled frame at its own size (full frames are too big to keep for a long clip)."""

    time: float  # seconds from the start of the clip
    hash: PdqHash


@dataclass(frozen=True)
class ItemMedia:
    """A reference item's (or a looked-up file's) media, decoded once for every signal."""

    kind: ReferenceKind
    picture: np.ndarray | None = None  # images: the picture as uploaded (uint8 RGB)
    frames: tuple[np.ndarray, ...] = ()  # squashed like stream frames: the picture, or a video's distinct frames
    audio: np.ndarray | None = None  # audio and video items: float32 mono at 16 kHz
    data: bytes = b""  # the file as uploaded
    frame_pdq: tuple[FramePdq, ...] = ()  # video: every sampled frame (1 per second), hashed at its own size
    frame_rate: float = 0.0  # video: the clip's own frames per second (0: unknown)


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
    live: object = None  # the archived live value, when the signal kept one (allow-lists check it)


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

    def match(self, live: L, memory: Any = None) -> list[tuple[str, Comparison]]:
        """(item id, comparison) of every item the live value matches.

        `memory` is the stream's `stream_state()` of this signal (None when there is no stream, as in
        lookups and for stateless signals); signals that match over time update it.
        """
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
    # Hash lists: the signal-type names a list line may carry for this signal (python-threatexchange's
    # first; export writes the first), and the kind of item a bare imported hash becomes. Empty/None:
    # the signal has no exchange form.
    exchange_names: ClassVar[tuple[str, ...]] = ()
    hash_kind: ClassVar[ReferenceKind | None] = None
    # A file format of the signal's own (Meta's vPDQ file): what its lines look like, so an imported
    # text made of such lines is read whole as one hash; None: no such format.
    file_line: ClassVar[re.Pattern[str] | None] = None

    # -- per-stream memory and thresholds

    def stream_state(self) -> Any:
        """A new stream's memory for this signal (a FileReader for FILE signals); None: it needs none."""
        return None

    @property
    def threshold(self) -> float | None:
        """The threshold `compare` applies, in the signal's own measure; None when it has none to adjust."""
        return None

    def adjusted(self, threshold: float) -> Signal[V, L]:
        """This signal with another threshold (a bank's override); signals without one cannot be adjusted."""
        raise ValueError(f"the {self.name} signal has no threshold to set")

    # -- hashes as hash lists carry them

    def parse_hash(self, text: str) -> V:
        """An item's description from the text of an exchanged hash; ValueError saying what is wrong."""
        raise ValueError(f"the {self.name} signal cannot be imported from a hash list")

    def format_hash(self, values: V, kind: ReferenceKind) -> str | None:
        """The text of an item's hash as exchanged (what parse_hash reads), or None when there is none."""
        return None

    def format_file(self, values: V) -> str | None:
        """The item's hash as a file in the signal's own format (see file_line), or None."""
        return None

    def lookup_values(self, text: str) -> list[L]:
        """The live values an exchanged hash stands for, to look it up; ValueError saying what is wrong."""
        raise ValueError(f"the {self.name} signal cannot look up hashes")

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
    def describe_live(self, live: Live) -> L | None:
        """The description of a stored frame, an audio window or a file (blocking; runs off the event loop)."""

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
                    hits.append(ArchiveHit(item_id, segment, comparison, live))
        return hits
