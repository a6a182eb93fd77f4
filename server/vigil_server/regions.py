"""Speech regions from speech probabilities: where a stream's speech starts and ends, decided as it arrives.

The streaming detector (vigil_models.vad) gives one speech probability per window of `window`
samples (32 ms), each window once, in order. A RegionTracker turns them into regions with
Silero's rules, incrementally:

- hysteresis: a window at or above `threshold` is speech, one below `neg_threshold` is silence,
  one in between continues what came before it;
- a region opens at its first speech window and is finished once `min_silence_s` of silence follows
  its last speech; a region with less than `min_speech_s` of speech is dropped;
- `pad_s` of audio is kept before its first speech (never reaching back into the previous region)
  and after its last;
- bounded for latency: a region that reaches `max_region_s` while the speech goes on is cut at the
  quietest point of its second half (the window with the lowest short-time energy, over ~0.1 s:
  in read speech, a gap between words), and the rest goes on as a new region. So continuous speech
  (a news reader, a commentator) still becomes finished regions of half to all of `max_region_s`;
- while the server is busy transcribing (the `busy` callback: transcriptions queue up), the bound is
  `max_region_busy_s` instead: Whisper costs the same for a 6 s region as for a 24 s one (it pads
  every input to 30 s), so under load fewer, longer regions keep it up with more streams, at the
  price of later transcripts; the short bound comes back as soon as the queue empties.

Positions are samples from the start of the stream; the tracker never looks back at audio it has
passed, so it costs the same per window however long a stream runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.settings import SpeechSettings

# Windows averaged (centred) into the short-time energy that picks a cut: 3 x 32 ms.
ENERGY_SPAN = 3


@dataclass(frozen=True)
class Region:
    start: int  # first sample, counted from the start of the stream
    end: int  # the sample after the last
    cut: bool = False  # ended by the length bound in running speech, not by a pause


@dataclass
class _Open:
    start: int  # first sample of the region (padding included)
    first_window: int  # index of the window `energies[0]` belongs to
    speech_from: int  # first sample of its speech (its first speech window, or where it was cut)
    energies: list[float] = field(default_factory=list)  # mean square of each window since first_window
    silence_from: int | None = None  # index of the first silent window after the last speech


class RegionTracker:
    """Feed every window's probability and energy, in order, with `feed`; `finish` at the end of the stream."""

    def __init__(self, settings: SpeechSettings, window: int, busy: Callable[[], bool] = lambda: False):
        self.settings = settings
        self.window = window
        self._busy = busy
        per_second = SAMPLE_RATE / window
        self._min_silence = max(1, math.ceil(settings.min_silence_s * per_second))  # windows
        self._min_speech = round(settings.min_speech_s * SAMPLE_RATE)  # samples
        self._pad = round(min(settings.pad_s, settings.min_silence_s) * SAMPLE_RATE)  # samples
        self._max = max(2 * window, round(settings.max_region_s * SAMPLE_RATE))  # samples
        self._max_busy = max(self._max, round(settings.max_region_busy_s * SAMPLE_RATE))  # samples, under load
        self._windows = 0  # windows seen
        self._floor = 0  # no region may start before this sample (the end of the previous one)
        self._open: _Open | None = None

    @property
    def scored(self) -> int:
        """Samples covered by the windows seen so far."""
        return self._windows * self.window

    @property
    def open_start(self) -> int | None:
        """First sample of the region still open, or None between regions."""
        return self._open.start if self._open is not None else None

    @property
    def pause_end(self) -> int | None:
        """Where the open region ends if the pause it is in lasts: known once the pause is `pad_s` long, else None."""
        o = self._open
        if o is None or o.silence_from is None or self.scored < o.silence_from * self.window + self._pad:
            return None
        if o.silence_from * self.window - o.speech_from < self._min_speech:
            return None  # it would be dropped
        return o.silence_from * self.window + self._pad

    @property
    def keep_from(self) -> int:
        """The earliest sample a region (open, or opening later) may still need."""
        if self._open is not None:
            return self._open.start
        return max(self._floor, self.scored - self._pad)

    def feed(self, probs: np.ndarray, energies: np.ndarray) -> list[Region]:
        """The next windows' speech probabilities and mean squares; returns the regions they finish."""
        if probs.shape != energies.shape:
            raise ValueError(f"{probs.shape[0]} probabilities but {energies.shape[0]} energies")
        done: list[Region] = []
        s = self.settings
        for p, e in zip(probs.tolist(), energies.tolist(), strict=True):
            i = self._windows
            self._windows += 1
            o = self._open
            if o is None:
                if p >= s.threshold:
                    start = max(self._floor, i * self.window - self._pad)
                    self._open = _Open(start, i, i * self.window, [e])
                continue
            o.energies.append(e)
            if p >= s.threshold:
                o.silence_from = None
            elif p < s.neg_threshold and o.silence_from is None:
                o.silence_from = i
            if o.silence_from is not None and i + 1 - o.silence_from >= self._min_silence:
                done += self._close(o, o.silence_from * self.window + self._pad)
            elif self.scored - o.start >= self._max and (self.scored - o.start >= self._max_busy or not self._busy()):
                done.append(self._cut(o))
        return done

    def finish(self, total: int) -> list[Region]:
        """The stream ended after `total` samples: the open region, if any, is finished."""
        o = self._open
        if o is None:
            return []
        end = total if o.silence_from is None else o.silence_from * self.window + self._pad
        return self._close(o, min(end, total))

    def _close(self, o: _Open, end: int) -> list[Region]:
        self._open = None
        speech_end = o.silence_from * self.window if o.silence_from is not None else end
        self._floor = max(self._floor, end)
        if speech_end - o.speech_from < self._min_speech:
            return []
        return [Region(o.start, end)]

    def _cut(self, o: _Open) -> Region:
        """Cut the open region at the quietest window of its second half; the rest stays open."""
        energies = np.asarray(o.energies, dtype=np.float64)
        smoothed = np.convolve(np.pad(energies, ENERGY_SPAN // 2, mode="edge"), np.ones(ENERGY_SPAN), "valid")
        first = max(0, math.ceil((o.start + (self.scored - o.start) / 2) / self.window) - o.first_window)
        quietest = np.flatnonzero(smoothed[first:] == smoothed[first:].min()) + first
        # Of equally quiet stretches, the quietest window; of those, the latest: the longest region.
        k = int(quietest[energies[quietest] == energies[quietest].min()][-1])
        cut = (o.first_window + k) * self.window + self.window // 2
        self._open = _Open(cut, o.first_window + k, cut, o.energies[k:])
        if o.silence_from is not None and o.silence_from >= o.first_window + k:
            self._open.silence_from = o.silence_from
        elif o.silence_from is not None:
            self._open.silence_from = o.first_window + k
        self._floor = cut
        return Region(o.start, cut, cut=True)
