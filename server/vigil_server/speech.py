"""Speech stage: cut one stream's running audio into speech regions and transcribe each.

Voice activity detection runs over the audio not yet assigned to a finished region. A region
is finished once enough silence follows it (or it reaches the detector's maximum length); it
is then transcribed on its own, so each speech segment gets its own start and end time, and
the audio before its end is dropped. Transcripts come out while the stream is still arriving.

Positions are counted in samples from the start of the stream (the stream's AudioClock), so
a span's times are the clock's times.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from vigil_models import SAMPLE_RATE, SpeechRegion, TranscriptPiece
from vigil_server.clock import AudioWindow

# Run the detector after this much new audio.
DETECT_EVERY_S = 1.0
# A region ending this close to the end of the buffered audio may still be going on.
OPEN_MARGIN_S = 0.3
# With no speech in the buffer, keep only this much of it (context for the detector).
IDLE_KEEP_S = 1.0
# Never buffer more than this: everything found is treated as finished.
MAX_BUFFER_S = 30.0

Detect = Callable[[np.ndarray], Awaitable[list[SpeechRegion]]]
Transcribe = Callable[[np.ndarray, str], Awaitable[list[TranscriptPiece]]]


@dataclass(frozen=True)
class SpeechSpan:
    start: float  # seconds from the start of the stream
    end: float
    text: str
    language: str
    translation: str = ""  # English, when the speech is in another language


class SpeechSegmenter:
    """Feed consecutive AudioWindows with `push`; `flush` when the stream ends."""

    def __init__(self, detect: Detect, transcribe: Transcribe, language: str):
        self._detect = detect
        self._transcribe = transcribe
        self._language = language
        self._buffer = np.zeros(0, dtype=np.float32)
        self._first = 0  # stream sample of _buffer[0]
        self._unchecked = 0  # samples added since the detector last ran

    async def push(self, window: AudioWindow) -> list[SpeechSpan]:
        """Add the next stretch of audio; return the speech segments that are finished by it."""
        if window.first_sample != self._first + self._buffer.size:
            raise ValueError(f"audio at sample {window.first_sample}, expected {self._first + self._buffer.size}")
        self._buffer = np.concatenate([self._buffer, window.samples])
        self._unchecked += window.samples.size
        if self._unchecked < DETECT_EVERY_S * SAMPLE_RATE:
            return []
        return await self._cut(final=self._buffer.size >= MAX_BUFFER_S * SAMPLE_RATE)

    async def flush(self) -> list[SpeechSpan]:
        """The stream has ended: everything buffered is finished."""
        return await self._cut(final=True)

    async def _cut(self, final: bool) -> list[SpeechSpan]:
        self._unchecked = 0
        buffered = self._buffer.size / SAMPLE_RATE
        regions = await self._detect(self._buffer)
        done = [r for r in regions if final or r.end <= buffered - OPEN_MARGIN_S]
        spans: list[SpeechSpan] = []
        for region in done:
            audio = self._buffer[int(region.start * SAMPLE_RATE) : int(region.end * SAMPLE_RATE)]
            pieces = await self._transcribe(audio, self._language)
            spans += [self._span(region, piece) for piece in pieces]
        if done:
            self._drop(done[-1].end)
        elif not regions and buffered > IDLE_KEEP_S + DETECT_EVERY_S:
            self._drop(buffered - IDLE_KEEP_S)
        if final:
            self._drop(buffered)
        return spans

    def _span(self, region: SpeechRegion, piece: TranscriptPiece) -> SpeechSpan:
        offset = self._first / SAMPLE_RATE
        start = offset + region.start + piece.start
        end = offset + min(region.start + piece.end, region.end)
        return SpeechSpan(start, max(end, start), piece.text, piece.language, piece.translation)

    def _drop(self, seconds: float) -> None:
        samples = min(int(seconds * SAMPLE_RATE), self._buffer.size)
        self._buffer = self._buffer[samples:]
        self._first += samples
