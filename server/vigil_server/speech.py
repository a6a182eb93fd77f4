"""Speech stage: cut one stream's running audio into speech regions and transcribe each.

SpeechRegions is the stream's streaming VAD: every new window of audio is scored once by the
speech detector (its state carried between calls, vigil_models.vad) and a RegionTracker
(regions.py) decides where regions start and finish: after enough silence, or at the quietest
point once a region grows too long. A finished region comes out with its audio; the audio before
it is dropped, so memory stays bounded however long the stream runs. The region still open (the
speech so far) is there for interim captions (live_speech.py).

SpeechSegmenter transcribes each finished region on its own, so every speech segment gets its
own start and end time and transcripts come out while the stream is still arriving (query clips
use it in one push).

Positions are counted in samples from the start of the stream (the stream's AudioClock), so a
span's times are the clock's times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from vigil_models import SAMPLE_RATE, TranscriptPiece, VadState
from vigil_server.clock import AudioWindow
from vigil_server.regions import Region, RegionTracker
from vigil_server.settings import SpeechSettings

# The detector's scoring step: (state, new audio) -> (a probability per complete window, next state).
Scan = Callable[[VadState, np.ndarray], Awaitable[tuple[np.ndarray, VadState]]]
Transcribe = Callable[[np.ndarray, str], Awaitable[list[TranscriptPiece]]]


@dataclass(frozen=True)
class SpeechSpan:
    start: float  # seconds from the start of the stream
    end: float
    text: str
    language: str
    translation: str = ""  # English, when the speech is in another language


@dataclass(frozen=True)
class RegionAudio:
    """A speech region and its audio."""

    first_sample: int  # stream position of samples[0]
    samples: np.ndarray  # float32 mono at SAMPLE_RATE
    cut: bool = False  # ended by the length bound in running speech, not by a pause

    @property
    def start(self) -> float:
        return self.first_sample / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self.first_sample + self.samples.size) / SAMPLE_RATE


class SpeechRegions:
    """One stream's speech regions as its audio arrives: `push` consecutive AudioWindows, `flush` at the end."""

    def __init__(self, scan: Scan, window: int, settings: SpeechSettings, busy: Callable[[], bool] = lambda: False):
        self._scan = scan
        self._window = window
        self._state = VadState()
        self._tracker = RegionTracker(settings, window, busy)  # busy: transcriptions queue up (regions.py)
        self._buffer = np.zeros(0, dtype=np.float32)
        self._first = 0  # stream sample of _buffer[0]

    @property
    def total(self) -> int:
        """Samples pushed so far."""
        return self._first + self._buffer.size

    @property
    def next_start(self) -> int:
        """No region finished later starts before this sample (the open region's start, or where one may open)."""
        return self._tracker.keep_from

    @property
    def held(self) -> int:
        """Samples kept in memory: the open region (or the padding a next one may need) and what is not scored yet."""
        return self._buffer.size

    async def push(self, window: AudioWindow) -> list[RegionAudio]:
        """Add the next stretch of audio; return the regions it finishes, in order."""
        if window.first_sample != self.total:
            raise ValueError(f"audio at sample {window.first_sample}, expected {self.total}")
        self._buffer = np.concatenate([self._buffer, window.samples.astype(np.float32, copy=False)])
        probs, self._state = await self._scan(self._state, window.samples)
        scored = self._tracker.scored
        n = probs.size * self._window
        frames = self._buffer[scored - self._first : scored - self._first + n].reshape(-1, self._window)
        energies = np.mean(np.square(frames, dtype=np.float64), axis=1)
        done = [self._audio(r) for r in self._tracker.feed(probs, energies)]
        self._drop_before(self._tracker.keep_from)
        return done

    def flush(self) -> list[RegionAudio]:
        """The stream has ended: the region still open, if any, is finished."""
        done = [self._audio(r) for r in self._tracker.finish(self.total)]
        self._drop_before(self.total)
        return done

    def pausing(self) -> RegionAudio | None:
        """The open region as it will be finished if the pause it is in goes on; None when not in a pause."""
        start, end = self._tracker.open_start, self._tracker.pause_end
        if start is None or end is None:
            return None
        return self._audio(Region(start, end))

    def open_region(self) -> RegionAudio | None:
        """The region still open, with all its audio so far; None between regions."""
        start = self._tracker.open_start
        if start is None:
            return None
        return RegionAudio(start, self._buffer[start - self._first :])

    def _audio(self, region: Region) -> RegionAudio:
        first, end = region.start - self._first, region.end - self._first
        return RegionAudio(region.start, self._buffer[first:end], region.cut)

    def _drop_before(self, sample: int) -> None:
        samples = min(max(0, sample - self._first), self._buffer.size)
        if samples:
            self._buffer = self._buffer[samples:]
            self._first += samples


class SpeechSegmenter:
    """Transcribed speech spans of one stream: `push` consecutive AudioWindows, `flush` when it ends."""

    def __init__(self, regions: SpeechRegions, transcribe: Transcribe, language: str):
        self._regions = regions
        self._transcribe = transcribe
        self._language = language

    async def push(self, window: AudioWindow) -> list[SpeechSpan]:
        """Add the next stretch of audio; return the speech spans that are finished by it."""
        return await self._spans(await self._regions.push(window))

    async def flush(self) -> list[SpeechSpan]:
        """The stream has ended: everything buffered is finished."""
        return await self._spans(self._regions.flush())

    async def _spans(self, regions: list[RegionAudio]) -> list[SpeechSpan]:
        spans: list[SpeechSpan] = []
        for region in regions:
            for piece in await self._transcribe(region.samples, self._language):
                spans.append(span_of(region, piece))
        return spans


def span_of(region: RegionAudio, piece: TranscriptPiece) -> SpeechSpan:
    """A transcript piece of a region as a span in stream seconds, kept within the region."""
    start = region.start + piece.start
    end = min(region.start + piece.end, region.end)
    return SpeechSpan(start, max(end, start), piece.text, piece.language, piece.translation)
