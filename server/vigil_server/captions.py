"""Live captions: one feed per stream, which any number of clients follow (WatchCaptions).

A stream's Ingest call publishes to its feed as it goes: interim speech captions while someone
speaks (only while a watcher wants them: they cost a transcription each), the final caption of each
utterance, sound captions, and frame descriptions (only while a watcher asks for them). None of
these wait for frame encoding, storage or moderation (live_speech.py, ingest.py).

A feed keeps the stream's last final captions (`--caption-replay`) and the latest interim of the
utterance in progress. A watcher first gets the stream's state (live or not), then that replay,
then every caption as it is published, in order. Speech and sound are made on separate paths, so
their finals may arrive out of time order; progress events (no final of a kind sent later starts
before `until`) let a client that writes a caption file put its cues in order without guessing.

A watcher of a stream that is not live waits for it: a caption display may well start before the
broadcast does, and a producer that reconnects under the same stream id continues the same feed.
Feeds are bounded: at most `feeds` of them; the least recently used feed that is neither live nor
watched is forgotten first.

Loop-bound: call every method from the event loop thread.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
from collections import OrderedDict, deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from vigil_models import Concept
from vigil_server.errors import Overloaded
from vigil_server.settings import CaptionSettings
from vigil_server.types import DEFAULT_TENANT


class CaptionKind(enum.Enum):
    SPEECH = "speech"  # what is said; interim, then final
    SOUND = "sound"  # non-speech sound, e.g. "[music]"; always final
    DESCRIPTION = "description"  # what a new scene shows, in label-space concepts; always final


@dataclass(frozen=True)
class CaptionWord:
    start: float  # stream seconds
    end: float
    text: str  # as the model spells it, with the space before it
    probability: float = 1.0


@dataclass(frozen=True)
class Caption:
    caption_id: str  # one per utterance, sound window or description; interims and their final share it
    kind: CaptionKind
    final: bool  # False: an interim, replaced by later captions with the same id
    start: float  # stream seconds
    end: float
    text: str  # speech: what was said so far (interim) or in all (final); sound: "[music]"; description
    stable_text: str = ""  # speech: the start of `text` that no later caption of this id changes
    words: tuple[CaptionWord, ...] = ()  # final speech: the words with their times
    language: str = ""  # ISO 639-1, speech
    translation: str = ""  # final speech not in English: the English translation
    segment_ids: tuple[str, ...] = ()  # the segments the caption is stored as (searchable shortly after)
    concepts: tuple[Concept, ...] = ()  # descriptions: the classes named, with their probabilities
    stream_id: str = ""  # set by the feed
    sequence: int = 0  # set by the feed: 1, 2, 3, ... per feed, in publishing order
    replayed: bool = False  # sent to a watcher that joined after it was published
    tenant: str = DEFAULT_TENANT


@dataclass(frozen=True)
class FeedState:
    """Whether the stream is being ingested: sent first to every watcher, then on each change."""

    stream_id: str
    live: bool


@dataclass(frozen=True)
class CaptionProgress:
    """No final caption of this kind published later starts before `until` (stream seconds)."""

    kind: CaptionKind  # SPEECH or SOUND
    until: float


CaptionEvent = Caption | FeedState | CaptionProgress

# Progress is sent when it has moved on by at least this much.
PROGRESS_STEP_S = 0.5


class _Watcher:
    def __init__(self, interims: bool, descriptions: bool, limit: int):
        self.interims = interims
        self.descriptions = descriptions
        self.queue: asyncio.Queue[CaptionEvent] = asyncio.Queue()
        self.limit = limit
        self.overflowed = False

    def wants(self, caption: Caption) -> bool:
        if caption.kind is CaptionKind.DESCRIPTION:
            return self.descriptions
        return caption.final or self.interims

    def offer(self, event: CaptionEvent) -> None:
        if isinstance(event, Caption) and not self.wants(event):
            return
        if self.queue.qsize() < self.limit:
            self.queue.put_nowait(event)
        elif isinstance(event, FeedState) or (isinstance(event, Caption) and event.final):
            self.overflowed = True  # an interim or a progress event left out is superseded by the next one


class CaptionFeed:
    """One stream's captions: published by its Ingest call, followed by its watchers."""

    def __init__(self, tenant: str, stream_id: str, settings: CaptionSettings):
        self.tenant = tenant
        self.stream_id = stream_id
        self.settings = settings
        self.live = False
        # The last finals, kept for watchers that join late; descriptions apart, so they never crowd out speech.
        self._finals: deque[Caption] = deque(maxlen=max(1, settings.replay))
        self._descriptions: deque[Caption] = deque(maxlen=max(1, settings.replay))
        self._interim: Caption | None = None  # the latest interim of the utterance in progress
        self._sequence = itertools.count(1)
        self._watchers: dict[int, _Watcher] = {}
        self._ids = itertools.count()
        self._describe_next = False
        self._progress: dict[CaptionKind, float] = {}

    @property
    def watched(self) -> bool:
        return bool(self._watchers)

    @property
    def wants_interims(self) -> bool:
        """Whether a watcher wants interim captions (each costs a transcription)."""
        return any(w.interims for w in self._watchers.values())

    @property
    def wants_descriptions(self) -> bool:
        return any(w.descriptions for w in self._watchers.values())

    def take_describe_request(self) -> bool:
        """True once after a watcher asking for descriptions joined: describe the next frame, scene change or not."""
        asked, self._describe_next = self._describe_next, False
        return asked

    def begin(self) -> None:
        """The stream's Ingest call started."""
        self._set_live(True)

    def end(self) -> None:
        """The stream's Ingest call ended; every caption it made has been published."""
        self._interim = None
        self._progress.clear()  # a later call for the stream starts again (possibly with another time offset)
        self._set_live(False)

    def _set_live(self, live: bool) -> None:
        self.live = live
        for watcher in list(self._watchers.values()):
            watcher.offer(FeedState(self.stream_id, live))

    def publish(self, caption: Caption) -> Caption:
        """Send a caption to every watcher that wants it; returns it as sent (stream id and sequence set)."""
        caption = replace(caption, stream_id=self.stream_id, tenant=self.tenant, sequence=next(self._sequence))
        if caption.kind is CaptionKind.DESCRIPTION:
            self._descriptions.append(caption)
        elif caption.final:
            self._finals.append(caption)
            if self._interim is not None and self._interim.caption_id == caption.caption_id:
                self._interim = None
        else:
            self._interim = caption
        for watcher in list(self._watchers.values()):
            watcher.offer(caption)
        return caption

    def progress(self, kind: CaptionKind, until: float) -> None:
        """Finals of `kind` published from now on start at or after `until` (stream seconds)."""
        last = self._progress.get(kind)
        if last is not None and until < last + PROGRESS_STEP_S:
            return
        self._progress[kind] = until
        for watcher in list(self._watchers.values()):
            watcher.offer(CaptionProgress(kind, until))

    def _watch(self, interims: bool, descriptions: bool, replay: int) -> tuple[int, _Watcher]:
        watcher = _Watcher(interims, descriptions, self.settings.watch_queue)
        watcher.queue.put_nowait(FeedState(self.stream_id, self.live))
        kept = list(self._finals)[len(self._finals) - min(replay, len(self._finals)) :]
        if descriptions:
            kept += list(self._descriptions)[len(self._descriptions) - min(replay, len(self._descriptions)) :]
        for caption in sorted(kept, key=lambda c: c.sequence):
            watcher.queue.put_nowait(replace(caption, replayed=True))
        if interims and self._interim is not None:
            watcher.queue.put_nowait(replace(self._interim, replayed=True))
        for kind, until in self._progress.items():
            watcher.queue.put_nowait(CaptionProgress(kind, until))
        key = next(self._ids)
        self._watchers[key] = watcher
        if descriptions:
            self._describe_next = True
        return key, watcher

    def _unwatch(self, key: int) -> None:
        self._watchers.pop(key, None)

    def forget(self, start: float | None, end: float | None) -> int:
        """Drop kept captions overlapping [start, end) (None: unbounded) from the replay; returns how many."""

        def gone(c: Caption) -> bool:
            return (start is None or c.end > start or c.start >= start) and (end is None or c.start < end)

        dropped = 0
        for kept in (self._finals, self._descriptions):
            left = [c for c in kept if not gone(c)]
            dropped += len(kept) - len(left)
            kept.clear()
            kept.extend(left)
        if self._interim is not None and gone(self._interim):
            self._interim = None
            dropped += 1
        return dropped


class CaptionWatch:
    """One WatchCaptions call: iterate it for FeedState and Caption events; `close()` (or ending the loop) stops it."""

    def __init__(self, hub: CaptionHub, feed: CaptionFeed, key: int, watcher: _Watcher):
        self._hub = hub
        self._feed = feed
        self._key = key
        self._watcher = watcher

    async def __aiter__(self) -> AsyncIterator[CaptionEvent]:
        try:
            while True:
                if self._watcher.overflowed and self._watcher.queue.empty():
                    raise Overloaded(
                        f"more than {self._watcher.limit} captions waited for this watcher and later ones were "
                        "dropped; read faster and reconnect (the replay fills the gap)"
                    )
                yield await self._watcher.queue.get()
        finally:
            self.close()

    def close(self) -> None:
        self._feed._unwatch(self._key)
        self._hub._touch(self._feed)


class CaptionHub:
    """Every stream's caption feed, by (tenant, stream id)."""

    def __init__(self, settings: CaptionSettings):
        self.settings = settings
        self._feeds: OrderedDict[tuple[str, str], CaptionFeed] = OrderedDict()

    def feed(self, tenant: str, stream_id: str) -> CaptionFeed:
        """The stream's feed, made when first asked for."""
        key = (tenant, stream_id)
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = CaptionFeed(tenant, stream_id, self.settings)
        self._touch(feed)
        return feed

    def __len__(self) -> int:
        """Feeds held."""
        return len(self._feeds)

    def forget(self, tenant: str, stream_id: str, start: float | None = None, end: float | None = None) -> int:
        """Drop a stream's kept captions overlapping [start, end) (erasure); returns how many."""
        feed = self._feeds.get((tenant, stream_id))
        return 0 if feed is None else feed.forget(start, end)

    def watch(self, tenant: str, stream_id: str, interims: bool, descriptions: bool, replay: int) -> CaptionWatch:
        """Follow a stream's captions (registered before this returns): its state, up to `replay` finals, then live."""
        feed = self.feed(tenant, stream_id)
        key, watcher = feed._watch(interims, descriptions, replay)
        return CaptionWatch(self, feed, key, watcher)

    def _touch(self, feed: CaptionFeed) -> None:
        key = (feed.tenant, feed.stream_id)
        if key in self._feeds:
            self._feeds.move_to_end(key)
        if len(self._feeds) > self.settings.feeds:
            idle = [k for k, f in self._feeds.items() if not f.live and not f.watched and k != key]
            for k in idle[: len(self._feeds) - self.settings.feeds]:
                del self._feeds[k]
