"""Live speech: a stream's speech regions become interim captions, final captions and speech spans.

This is the caption path, and it waits for nothing but decoding, VAD and transcription. Each
pushed window goes through the stream's streaming VAD (speech.SpeechRegions). A finished region
is queued for its final transcription, done in order on a task of its own, so the VAD does not wait
for Whisper: its final caption is published at once, and its spans go to `store` (ingest.py embeds,
stores and checks them on another task). At most FINALS_BACKLOG regions wait: then `push` waits too
(speech is never dropped, so a stream whose speech falls behind is slowed down, overload.py).

A region ends only after `--speech-min-silence` of silence, but once a pause has lasted `pad_s` the
region's audio is known if the pause goes on: its final transcription starts then, speculatively,
and is used when the region does end there (and dropped if the speaker goes on). So the wait for
the silence and the transcription overlap. Segments are exactly what they would be without it.

Interim captions, while a region is open and a watcher wants them, follow LocalAgreement-2 (as
whisper_streaming does, Macháček et al., 2023) over a growing re-decode window:

- about every `interim_every_s` of audio the whole open region is transcribed again, from its
  start (a region is at most `--speech-max-region` long, so the window is bounded);
- a word becomes *stable* once two consecutive transcriptions agree on it and on every word before
  it; stable words are never changed, by later interims or by the final caption;
- an interim shows the stable words, then the latest transcription's other words, which may still
  change; `stable_text` is the stable start of its text;
- the final caption is the final transcription (beam search over the whole region, with word
  times) with its first words replaced by the stable ones where they differ. The stored segments
  keep the final transcription itself: search and moderation read Whisper's best.

Interims cost a transcription each, so they are made only while some watcher wants them, and only
when the model has nothing else to do (no transcription pending, of any stream): a final never
queues behind more than one interim. Interims carry no translation; finals do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from vigil_models import SAMPLE_RATE, TranscriptPiece
from vigil_server.captions import Caption, CaptionFeed, CaptionKind, CaptionWord
from vigil_server.clock import AudioWindow, stream_time
from vigil_server.settings import CaptionSettings
from vigil_server.speech import RegionAudio, SpeechRegions, SpeechSpan, span_of

log = logging.getLogger(__name__)

# Queues the spans of a final for storage; returns their segment ids (known before they are stored).
SpanSink = Callable[[list[SpeechSpan]], list[str]]
_WORD = re.compile(r"[\w']+")
_DONE = object()
# Finished regions that may wait for their final transcription before `push` waits (speech is never dropped).
FINALS_BACKLOG = 4


class Recognizer(Protocol):
    """What live speech needs of the transcription worker (workers.ModelWorkers is one).

    `transcriptions_pending` counts every transcription asked for and not answered yet, from the
    moment `transcribe` is called: optional ones (interims, speculative finals) go ahead only at 0.
    """

    def transcribe(
        self, audio: np.ndarray, language: str, *, words: bool = False, translate: bool = True, wait: bool = True
    ) -> Awaitable[list[TranscriptPiece]]: ...

    @property
    def transcriptions_pending(self) -> int: ...


def norm(text: str) -> str:
    """A word for comparing two transcriptions: lower case, letters, digits and apostrophes only."""
    return "".join(_WORD.findall(text.lower()))


def after_stable(stable: Sequence[CaptionWord], words: Sequence[CaptionWord]) -> list[CaptionWord]:
    """The words of a transcription that come after the stable ones.

    When the transcription starts with the stable words, the rest; otherwise (it heard them
    differently) the words centred after the last stable word's end.
    """
    if not stable:
        return list(words)
    if [norm(w.text) for w in words[: len(stable)]] == [norm(w.text) for w in stable]:
        return list(words[len(stable) :])
    cutoff = stable[-1].end
    return [w for w in words if (w.start + w.end) / 2 >= cutoff]


def keep_stable(stable: Sequence[CaptionWord], words: Sequence[CaptionWord]) -> list[CaptionWord]:
    """A transcription with its first words replaced by the stable ones (spelt as shown, timed as heard now)."""
    if [norm(w.text) for w in words[: len(stable)]] == [norm(w.text) for w in stable]:
        return [replace(w, text=s.text) for s, w in zip(stable, words, strict=False)] + list(words[len(stable) :])
    return [*stable, *after_stable(stable, words)]


def agreed(previous: Sequence[CaptionWord], latest: Sequence[CaptionWord]) -> int:
    """How many leading words two transcriptions agree on."""
    n = 0
    for a, b in zip(previous, latest, strict=False):
        if norm(a.text) != norm(b.text):
            break
        n += 1
    return n


def joined(words: Sequence[CaptionWord]) -> str:
    return "".join(w.text for w in words).strip()


Guess = asyncio.Future[list[TranscriptPiece]]


@dataclass(frozen=True)
class _Guess:
    """A final transcription started in a pause, for the region as it ends if the pause goes on."""

    first_sample: int
    samples: int
    task: Guess

    def matches(self, region: RegionAudio) -> bool:
        return (region.first_sample, region.samples.size) == (self.first_sample, self.samples)


@dataclass
class _Utterance:
    """An open region's caption: its id and what interims have shown of it."""

    caption_id: str
    first_sample: int
    stable: list[CaptionWord] = field(default_factory=list)
    previous: list[CaptionWord] = field(default_factory=list)  # the last transcription's words after `stable`
    shown: bool = False  # an interim was published: a final must follow
    closed: bool = False  # its region finished: interims still running are dropped
    asked_at: int = 0  # stream sample up to which the last interim transcribed
    asked_wall: float = 0.0  # monotonic time of the last interim request


class LiveSpeech:
    """One stream's speech: `push` consecutive AudioWindows, `flush` at the end, `close` always."""

    def __init__(
        self,
        regions: SpeechRegions,
        recognizer: Recognizer,
        feed: CaptionFeed,
        store: SpanSink,
        language: str,
        time_offset: float,
        settings: CaptionSettings,
    ):
        self._regions = regions
        self._asr = recognizer
        self._feed = feed
        self._store = store
        self._language = language
        self._offset = time_offset
        self._settings = settings
        self._finals: asyncio.Queue[tuple[RegionAudio, _Utterance | None, Guess | None] | object] = asyncio.Queue(
            FINALS_BACKLOG
        )
        self._final_task = asyncio.create_task(self._run_finals(), name="finals")
        self._interim_task: asyncio.Future[None] | None = None
        self._utterance: _Utterance | None = None
        self._unpublished: deque[int] = deque()  # first samples of finished regions whose finals are not out yet
        self._guess: _Guess | None = None  # a final transcription started in a pause

    async def push(self, window: AudioWindow) -> None:
        if self._final_task.done():
            self._final_task.result()  # raises what ended it
            raise RuntimeError("final transcriptions stopped before the stream ended")
        for region in await self._regions.push(window):
            await self._queue_final(self._finish(region))
        self._progress()
        self._maybe_guess()
        self._maybe_interim()

    async def flush(self) -> None:
        """The stream ended: finish the open region and wait for every final caption and span."""
        for region in self._regions.flush():
            await self._queue_final(self._finish(region))
        await self._queue_final(_DONE)
        await self._final_task

    async def close(self) -> None:
        guess = self._guess.task if self._guess is not None else None
        for task in (self._final_task, self._interim_task, guess):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

    def _finish(self, region: RegionAudio) -> tuple[RegionAudio, _Utterance | None, Guess | None]:
        """The region is finished: what its final transcription needs (queue it in order)."""
        utterance = self._utterance
        if utterance is not None and utterance.first_sample == region.first_sample:
            utterance.closed = True
            self._utterance = None
        else:
            utterance = None
        guess, self._guess = self._guess, None
        if guess is not None and not guess.matches(region):
            guess.task.cancel()  # the speaker went on: the region ended elsewhere
            guess = None
        self._unpublished.append(region.first_sample)
        return region, utterance, guess.task if guess is not None else None

    async def _queue_final(self, item: object) -> None:
        """Queue an item for the finals task, waiting while FINALS_BACKLOG wait; raises if that task ended."""
        if not self._finals.full():
            self._finals.put_nowait(item)
            return
        put = asyncio.ensure_future(self._finals.put(item))
        await asyncio.wait((put, self._final_task), return_when=asyncio.FIRST_COMPLETED)
        if not put.done():
            put.cancel()
            self._final_task.result()  # raises what ended it
            raise RuntimeError("final transcriptions stopped before the stream ended")

    def _maybe_guess(self) -> None:
        """In a pause, start the final transcription of the region as it will be if the pause goes on."""
        region = self._regions.pausing()
        if region is None or (self._guess is not None and self._guess.matches(region)):
            return
        if self._asr.transcriptions_pending:
            return  # the model is busy: no speculation
        if self._guess is not None:
            self._guess.task.cancel()
        self._guess = _Guess(region.first_sample, region.samples.size, asyncio.ensure_future(self._transcribe(region)))

    def _transcribe(self, region: RegionAudio) -> Awaitable[list[TranscriptPiece]]:
        """The final transcription of a region (asked for now: it counts as pending at once)."""
        return self._asr.transcribe(region.samples, self._language, words=True)

    def _progress(self) -> None:
        """Tell the feed where the next final can start: the oldest region not out yet, or the next region."""
        earliest = self._unpublished[0] if self._unpublished else self._regions.next_start
        self._feed.progress(CaptionKind.SPEECH, stream_time(earliest / SAMPLE_RATE, self._offset))

    # -- finals

    async def _run_finals(self) -> None:
        while (item := await self._finals.get()) is not _DONE:
            region, utterance, guess = item  # type: ignore[misc]
            pieces = await guess if guess is not None else await self._transcribe(region)
            spans = [span_of(region, piece) for piece in pieces]
            segment_ids = self._store(spans) if spans else []
            if pieces or (utterance is not None and utterance.shown):
                self._feed.publish(self._final(region, utterance, pieces, segment_ids))
            self._unpublished.popleft()
            self._progress()

    def _final(
        self, region: RegionAudio, utterance: _Utterance | None, pieces: list[TranscriptPiece], segment_ids: list[str]
    ) -> Caption:
        words = self._words(region, pieces)
        stable = utterance.stable if utterance is not None else []
        if words or stable:
            words = keep_stable(stable, words)
            text = joined(words)
            start, end = words[0].start, words[-1].end
        else:
            text = " ".join(p.text for p in pieces)
            start = region.start + (pieces[0].start if pieces else 0.0)
            end = region.start + pieces[-1].end if pieces else region.end
        start, end = max(start, region.start), min(max(end, start), region.end)
        return Caption(
            caption_id=utterance.caption_id if utterance is not None else uuid.uuid4().hex,
            kind=CaptionKind.SPEECH,
            final=True,
            start=stream_time(start, self._offset),
            end=stream_time(end, self._offset),
            text=text,
            stable_text=text,
            words=tuple(self._shift(w) for w in words),
            language=pieces[0].language if pieces else self._language,
            translation=" ".join(p.translation for p in pieces if p.translation),
            segment_ids=tuple(segment_ids),
        )

    def _words(self, region: RegionAudio, pieces: list[TranscriptPiece]) -> list[CaptionWord]:
        """The pieces' words in seconds from the start of the stream (before any time offset)."""
        return [
            CaptionWord(region.start + w.start, region.start + w.end, w.text, w.probability)
            for piece in pieces
            for w in piece.words
        ]

    def _shift(self, word: CaptionWord) -> CaptionWord:
        return CaptionWord(stream_time(word.start, self._offset), stream_time(word.end, self._offset), word.text,
                           round(word.probability, 3))  # fmt: skip

    # -- interims

    def _maybe_interim(self) -> None:
        every = self._settings.interim_every_s
        if every <= 0 or not self._feed.wants_interims:
            return
        if self._interim_task is not None and not self._interim_task.done():
            return
        if self._guess is not None:
            return  # in a pause: the final transcription is already on its way
        region = self._regions.open_region()
        if region is None or region.samples.size < self._settings.min_interim_s * SAMPLE_RATE:
            return
        utterance = self._utterance
        if utterance is None or utterance.first_sample != region.first_sample:
            utterance = self._utterance = _Utterance(uuid.uuid4().hex, region.first_sample)
        end = region.first_sample + region.samples.size
        now = time.monotonic()
        # Media time paces a live stream; wall time one sent faster than real time.
        recent = end - utterance.asked_at < every * SAMPLE_RATE or now - utterance.asked_wall < every
        if utterance.asked_at and recent:
            return
        if self._asr.transcriptions_pending:
            return  # the model is busy (a final, another stream's interim): try again with the next window
        utterance.asked_at, utterance.asked_wall = end, now
        asked = self._asr.transcribe(region.samples, self._language, words=True, translate=False)  # pending now
        answer = asyncio.ensure_future(asked)
        self._interim_task = asyncio.create_task(self._interim(utterance, region, answer), name="interim")

    async def _interim(
        self, utterance: _Utterance, region: RegionAudio, answer: asyncio.Future[list[TranscriptPiece]]
    ) -> None:
        try:
            pieces = await answer
        except Exception:  # an interim is a preview: losing one must not end the stream
            log.warning("interim transcription failed (stream %s)", self._feed.stream_id, exc_info=True)
            return
        if utterance.closed:
            return  # the final is on its way
        latest = after_stable(utterance.stable, self._words(region, pieces))
        n = agreed(utterance.previous, latest)
        utterance.stable += latest[:n]
        utterance.previous = latest[n:]
        words = utterance.stable + utterance.previous
        if not words:
            return
        utterance.shown = True
        self._feed.publish(
            Caption(
                caption_id=utterance.caption_id,
                kind=CaptionKind.SPEECH,
                final=False,
                start=stream_time(max(words[0].start, region.start), self._offset),
                end=stream_time(region.end, self._offset),
                text=joined(words),
                stable_text=joined(utterance.stable),
                language=pieces[0].language if pieces else self._language,
            )
        )
