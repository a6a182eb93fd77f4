"""One clock per stream: decoded audio becomes timed windows, and stream times are rounded once.

The decoder yields 16 kHz mono blocks of any length. An AudioClock counts samples from the start
of the stream, so every consumer of the audio (speech segmenting, sound tagging, fingerprinting)
sees the same time for the same sample: a window's times are its sample positions divided by
SAMPLE_RATE, computed here and nowhere else.

A consumer subscribes with a cadence: once at least `hop_s` seconds have arrived since its last
window, it gets the audio up to the end of the block just pushed, reaching back `length_s` seconds
(less at the start of the stream) as one AudioWindow. Windows end where decoded blocks end, so a
window may run a little longer than its hop. Consumers with `length_s == hop_s` get consecutive,
non-overlapping windows (all the new audio). At the end of the stream each consumer gets one last
window with what it has not seen: reaching back `length_s` for overlapping cadences, only the unseen
audio for non-overlapping ones.

Times sent to clients are stream times: seconds from the start of the stream plus the stream's
`time_offset`, rounded to the millisecond by `stream_time`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from vigil_models import SAMPLE_RATE

# Stream times are reported to the millisecond.
TIME_DECIMALS = 3


def stream_time(seconds: float, offset: float) -> float:
    """The time clients see for `seconds` from the start of a stream with this `time_offset`."""
    return round(seconds + offset, TIME_DECIMALS)


@dataclass(frozen=True)
class AudioWindow:
    first_sample: int  # position of samples[0], counted from the start of the stream
    samples: np.ndarray  # float32 mono at SAMPLE_RATE

    @property
    def start(self) -> float:
        """Seconds from the start of the stream (before any time offset)."""
        return self.first_sample / SAMPLE_RATE

    @property
    def end(self) -> float:
        return (self.first_sample + self.samples.size) / SAMPLE_RATE


Consumer = Callable[[AudioWindow], Awaitable[None]]


@dataclass
class _Cadence:
    consume: Consumer
    length: int  # samples
    hop: int
    last_end: int = 0  # sample after the last window given


class AudioClock:
    """Per stream. `subscribe` the consumers, then `push` every decoded block and `flush` at the end."""

    def __init__(self) -> None:
        self._cadences: list[_Cadence] = []
        self._audio = np.zeros(0, np.float32)  # the most recent samples, as many as the longest window
        self._total = 0  # samples pushed since the start of the stream

    def subscribe(self, consume: Consumer, length_s: float, hop_s: float) -> None:
        length, hop = round(length_s * SAMPLE_RATE), round(hop_s * SAMPLE_RATE)
        if not 0 < hop <= length:
            raise ValueError(f"a cadence needs 0 < hop <= length, got hop {hop_s} s, length {length_s} s")
        self._cadences.append(_Cadence(consume, length, hop))

    @property
    def seconds(self) -> float:
        """Seconds of audio pushed so far."""
        return self._total / SAMPLE_RATE

    async def push(self, block: np.ndarray) -> None:
        """Add decoded audio; give each consumer that is due its window, in subscription order."""
        self._audio = np.concatenate([self._audio, block.astype(np.float32, copy=False)])
        self._total += block.size
        keep = max((c.length for c in self._cadences), default=0)
        for cadence in self._cadences:
            if self._total - cadence.last_end >= cadence.hop:
                await self._give(cadence)
            keep = max(keep, self._total - cadence.last_end)  # unseen audio of a consumer not yet due
        if self._audio.size > keep:
            self._audio = self._audio[self._audio.size - keep :]

    async def flush(self) -> None:
        """The stream has ended: each consumer gets the audio it has not seen yet."""
        for cadence in self._cadences:
            if cadence.last_end < self._total:
                await self._give(cadence)

    async def _give(self, cadence: _Cadence) -> None:
        overlapping = cadence.length > cadence.hop
        start = self._total - cadence.length if overlapping else cadence.last_end
        await cadence.consume(self._window(start, self._total))
        cadence.last_end = self._total

    def _window(self, start: int, end: int) -> AudioWindow:
        held_from = self._total - self._audio.size  # stream position of self._audio[0]
        start = max(start, held_from, 0)
        return AudioWindow(start, self._audio[start - held_from : end - held_from])
