"""Fake models for the fast test loop: deterministic, pure numpy, no weights, milliseconds per call.

`fake_model_set()` is a `vigil_models.ModelSet` whose members understand a small scripted language,
which `scripts.sample_media.tone_video` and `tone_wav` write:

- Text: a bag of lower-cased words. Each word is a fixed pseudo-random unit vector seeded from its
  CRC-32 (stable across processes and runs); a text is the normalised sum of its words' vectors.
  Texts sharing words are similar, unrelated texts near-orthogonal (cosine about ±1/sqrt(dim)).
  A text without words gets one fixed vector (the empty word's), never NaN.
- Pictures: a frame *is* the name of the PALETTE colour nearest its mean RGB, and its vector is the
  text vector of that word, so the query "red" finds red frames with cosine 1. The copy descriptor
  is a 4x4 grid of mean colours (48 values), centred and normalised: resizing or re-encoding a
  picture keeps it (cosine > 0.9), another picture lands far away. A flat grey picture (nothing
  left after centring) gets the all-ones direction, orthogonal to every other descriptor.
- Speech: voice is energy below MUSIC_MIN_HZ. A region is where 20 ms frames carry more than
  VOICE_RMS of it, gaps under 0.3 s joined, regions under 0.2 s dropped, 0.1 s padding added.
  For streams, `scan` gives each 512-sample window (32 ms) probability 1 when it carries more than
  VOICE_RMS of voice, else 0, carrying an unfinished window to the next call (the server's region
  rules then apply, as to the real detector's probabilities).
  A region says the TONE_WORDS word of its dominant frequency (within TONE_TOLERANCE_HZ, else
  "unknown"), as one piece spanning it; two tones in sequence give one piece per tone, split
  halfway between them. Each piece is one word, timed as the piece. The transcriber is
  English-only: every piece is "en".
- Sound: a tone at or above MUSIC_MIN_HZ lasting at least 1 s is "music"; its window's vector is
  the text vector of "music". The speech detector does not hear it.
- Labels (frame descriptions): the PALETTE colours nearest the frame's mean RGB, nearest first,
  scored by a softmax over minus their distances / 16.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from vigil_models import (
    SAMPLE_RATE,
    Concept,
    ModelSet,
    SoundWindow,
    SpaceSpec,
    SpeechModelSpec,
    SpeechRegion,
    SpeechRequest,
    TranscriptPiece,
    VadState,
    WordTiming,
)

__all__ = ["PALETTE", "TONE_WORDS", "fake_model_set"]

# Tone frequency (Hz) -> the word a region of it says. 110 Hz apart, all below MUSIC_MIN_HZ; AAC keeps them.
TONE_WORDS: dict[int, str] = {
    440: "alpha",
    550: "bravo",
    660: "charlie",
    770: "delta",
    880: "echo",
    990: "foxtrot",
    1100: "golf",
    1210: "hotel",
}
TONE_TOLERANCE_HZ = 20.0  # a peak this close to a table frequency says its word
# Colour name -> RGB; a frame is named by the colour nearest its mean RGB.
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0),
    "green": (0, 255, 0),
    "blue": (0, 0, 255),
    "yellow": (255, 255, 0),
    "cyan": (0, 255, 255),
    "magenta": (255, 0, 255),
    "orange": (255, 128, 0),
    "white": (255, 255, 255),
    "gray": (128, 128, 128),
    "black": (0, 0, 0),
}
GRID = 4  # copy descriptor: GRID x GRID cells of mean RGB
MUSIC_MIN_HZ = 2000.0  # energy at or above this is music (sound tagger), below it voice (speech detector)
MIN_HZ = 60.0  # lower edge of the voice band (ignores DC and hum)
VOICE_RMS = 0.02  # RMS of voice-band energy above which a frame holds voice (about -34 dBFS)
MUSIC_RMS = 0.02  # the same for the music band
VAD_FRAME_S = 0.02
VAD_JOIN_S = 0.3  # gaps shorter than this are joined
VAD_MIN_S = 0.2  # regions shorter than this are dropped
VAD_PAD_S = 0.1
VAD_WINDOW = 512  # samples per probability from `scan`, as Silero's
PITCH_FRAME_S = 0.1  # transcriber and tagger frames: 10 Hz FFT bins
MIN_TONE_S = 0.2  # shorter runs of one word inside a region are noise (onsets, mixed frames)
MUSIC_JOIN_S = 0.5
MUSIC_MIN_S = 1.0


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32)


class FakeTextEmbedder:
    """`embed(texts) -> float32[n, dim]`: normalised sum of per-word CRC-32-seeded unit vectors."""

    def __init__(self, dim: int = 32):
        self._dim = dim
        self._words: dict[str, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return self._dim

    def word(self, token: str) -> np.ndarray:
        """The fixed unit vector of one word ("" is the vector of a text without words)."""
        if token not in self._words:
            rng = np.random.default_rng(zlib.crc32(token.encode()))
            self._words[token] = _unit(rng.standard_normal(self._dim))
        return self._words[token]

    def embed(self, texts: list[str]) -> np.ndarray:
        rows = np.zeros((len(texts), self._dim), dtype=np.float32)
        for i, text in enumerate(texts):
            tokens = re.findall(r"\w+", text.lower()) or [""]
            total = np.sum([self.word(t) for t in tokens], axis=0)
            # Words that cancel out exactly are as good as no words.
            rows[i] = _unit(total) if float(np.linalg.norm(total)) > 1e-6 else self.word("")
        return rows


def colour_name(image: np.ndarray) -> str:
    """The PALETTE colour nearest the image's mean RGB."""
    mean = image.reshape(-1, 3).mean(axis=0)
    return min(PALETTE, key=lambda name: float(np.sum((mean - np.array(PALETTE[name])) ** 2)))


def copy_descriptor(image: np.ndarray) -> np.ndarray:
    """float32[48]: the GRID x GRID mean colours, minus their mean, L2-normalised (flat: all-ones direction)."""
    rows = np.linspace(0, image.shape[0], GRID + 1).astype(int)
    cols = np.linspace(0, image.shape[1], GRID + 1).astype(int)
    pixels = image.astype(np.float64)
    cells = [
        pixels[rows[r] : rows[r + 1], cols[c] : cols[c + 1]].reshape(-1, 3).mean(axis=0)
        for r in range(GRID)
        for c in range(GRID)
    ]
    grid = np.concatenate(cells)
    centred = grid - grid.mean()
    if float(np.linalg.norm(centred)) < 1e-6 * max(1.0, float(np.abs(grid).max())):
        return _unit(np.ones_like(grid))
    return _unit(centred)


def colour_concepts(image: np.ndarray, top_k: int) -> list[Concept]:
    """The `top_k` PALETTE colours nearest the image's mean RGB, scored by a softmax over -distance / 16."""
    mean = image.reshape(-1, 3).mean(axis=0)
    distance = {name: float(np.linalg.norm(mean - np.array(rgb))) for name, rgb in PALETTE.items()}
    names = sorted(PALETTE, key=lambda name: distance[name])
    weights = np.exp(-(np.array([distance[n] for n in names]) - distance[names[0]]) / 16.0)
    scores = weights / weights.sum()
    return [Concept(name, float(score)) for name, score in zip(names[:top_k], scores[:top_k], strict=True)]


class FakeImageEmbedder:
    """Frames named by colour (vector: the colour word's text vector), plus a 4x4 mean-colour copy descriptor."""

    def __init__(self, text: FakeTextEmbedder):
        self._text = text

    @property
    def dim(self) -> int:
        return self._text.dim

    @property
    def descriptor_dim(self) -> int:
        return GRID * GRID * 3

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._text.embed([colour_name(image) for image in images])

    def embed_and_describe(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        descriptors = np.zeros((len(images), self.descriptor_dim), dtype=np.float32)
        for i, image in enumerate(images):
            descriptors[i] = copy_descriptor(image)
        return self.embed(images), descriptors

    def labels(self, images: Sequence[np.ndarray], top_k: int) -> list[list[Concept]]:
        return [colour_concepts(image, top_k) for image in images]


def _frames(audio: np.ndarray, seconds: float) -> np.ndarray:
    """[n, samples] non-overlapping frames of `seconds`; the last one zero-padded."""
    size = round(seconds * SAMPLE_RATE)
    n = -(-audio.size // size)
    padded = np.zeros(n * size, dtype=np.float64)
    padded[: audio.size] = audio
    return padded.reshape(n, size)


def _spectra(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hann-windowed power spectra [n, bins], scaled so a band's sum is its mean square; and bin frequencies."""
    window = np.hanning(frames.shape[1] + 2)[1:-1]  # no zero ends
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    power[:, 1:] *= 2  # one-sided spectrum (the Nyquist bin is negligible here)
    return power / (frames.shape[1] * float(np.sum(window**2))), np.fft.rfftfreq(frames.shape[1], 1 / SAMPLE_RATE)


def _band_rms(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    band = (freqs >= lo) & (freqs < hi)
    rms: np.ndarray = np.sqrt(power[:, band].sum(axis=1))
    return rms


def _runs(active: np.ndarray, join: int, minimum: int) -> list[tuple[int, int]]:
    """[first, end) frame ranges of active frames, gaps under `join` frames joined, runs under `minimum` dropped."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
    runs: list[tuple[int, int]] = []
    for first, end in zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True):
        if runs and first - runs[-1][1] < join:
            runs[-1] = (runs[-1][0], end)
        else:
            runs.append((first, end))
    return [(first, end) for first, end in runs if end - first >= minimum]


class FakeSpeechDetector:
    """Energy VAD over the voice band (below MUSIC_MIN_HZ): regions in 20 ms frames; for streams, 0/1 per 32 ms."""

    window = VAD_WINDOW

    def scan(self, state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]:
        samples = np.concatenate([state.pending, np.asarray(audio, dtype=np.float32)])
        n = samples.size // VAD_WINDOW
        following = VadState(samples[n * VAD_WINDOW :].copy(), state.context, state.memory, state.windows + n)
        if n == 0:
            return np.zeros(0, np.float32), following
        frames = samples[: n * VAD_WINDOW].reshape(n, VAD_WINDOW).astype(np.float64)
        power, freqs = _spectra(frames)
        voiced = _band_rms(power, freqs, MIN_HZ, MUSIC_MIN_HZ) > VOICE_RMS
        return voiced.astype(np.float32), following

    def find(self, audio: np.ndarray) -> list[SpeechRegion]:
        if audio.size == 0:
            return []
        power, freqs = _spectra(_frames(audio, VAD_FRAME_S))
        active = _band_rms(power, freqs, MIN_HZ, MUSIC_MIN_HZ) > VOICE_RMS
        duration = audio.size / SAMPLE_RATE
        runs = _runs(active, round(VAD_JOIN_S / VAD_FRAME_S), round(VAD_MIN_S / VAD_FRAME_S))
        return [
            SpeechRegion(max(0.0, a * VAD_FRAME_S - VAD_PAD_S), min(duration, b * VAD_FRAME_S + VAD_PAD_S))
            for a, b in runs
        ]


def _word(frequency: float) -> str:
    nearest = min(TONE_WORDS, key=lambda f: abs(f - frequency))
    return TONE_WORDS[nearest] if abs(nearest - frequency) <= TONE_TOLERANCE_HZ else "unknown"


class FakeTranscriber:
    """Says the TONE_WORDS word of each tone in a region (by FFT peak, 10 Hz bins); English only."""

    multilingual = False

    def transcribe(
        self, audio: np.ndarray, language: str = "", words: bool = False, translate: bool = True
    ) -> list[TranscriptPiece]:
        if audio.size == 0:
            return []
        duration = audio.size / SAMPLE_RATE
        runs = self._tone_runs(audio) or [("unknown", 0.0, duration)]
        cuts = [0.0] + [(end + start) / 2 for (_, _, end), (_, start, _) in pairwise(runs)] + [duration]
        pieces = []
        for i, (word, _, _) in enumerate(runs):
            timed = (WordTiming(cuts[i], cuts[i + 1], f" {word}"),) if words else ()
            pieces.append(TranscriptPiece(cuts[i], cuts[i + 1], word, "en", words=timed))
        return pieces

    def transcribe_many(self, requests: Sequence[SpeechRequest]) -> list[list[TranscriptPiece] | Exception]:
        return [self.transcribe(r.audio, r.language, r.words, r.translate) for r in requests]

    @staticmethod
    def _tone_runs(audio: np.ndarray) -> list[tuple[str, float, float]]:
        """(word, start, end) of each run of one word over voiced frames; short runs dropped, neighbours merged."""
        power, freqs = _spectra(_frames(audio, PITCH_FRAME_S))
        band = (freqs >= MIN_HZ) & (freqs < MUSIC_MIN_HZ)
        voiced = np.sqrt(power[:, band].sum(axis=1)) > VOICE_RMS
        peaks = freqs[band][np.argmax(power[:, band], axis=1)]
        labels = [_word(float(f)) if v else "" for f, v in zip(peaks, voiced, strict=True)]
        runs: list[tuple[str, float, float]] = []
        for i, label in enumerate(labels):
            if not label:
                continue
            if runs and runs[-1][0] == label:
                runs[-1] = (label, runs[-1][1], (i + 1) * PITCH_FRAME_S)
            else:
                runs.append((label, i * PITCH_FRAME_S, (i + 1) * PITCH_FRAME_S))
        kept = [r for r in runs if r[2] - r[1] >= MIN_TONE_S - 1e-9]
        merged: list[tuple[str, float, float]] = []
        for word, start, end in kept:
            if merged and merged[-1][0] == word:
                merged[-1] = (word, merged[-1][1], end)
            else:
                merged.append((word, start, end))
        return merged


class FakeSoundTagger:
    """Windows captioned "music" where the band at or above MUSIC_MIN_HZ carries energy for at least 1 s."""

    def __init__(self, text: FakeTextEmbedder):
        self._music = text.embed(["music"])[0]

    def tag(self, audio: np.ndarray) -> list[SoundWindow]:
        if audio.size == 0:
            return []
        power, freqs = _spectra(_frames(audio, PITCH_FRAME_S))
        active = _band_rms(power, freqs, MUSIC_MIN_HZ, np.inf) > MUSIC_RMS
        duration = audio.size / SAMPLE_RATE
        runs = _runs(active, round(MUSIC_JOIN_S / PITCH_FRAME_S), round(MUSIC_MIN_S / PITCH_FRAME_S))
        return [
            SoundWindow(a * PITCH_FRAME_S, min(duration, b * PITCH_FRAME_S), "music", self._music.copy())
            for a, b in runs
        ]


def fake_model_set(dim: int = 32) -> ModelSet:
    """A ModelSet of the fakes above in a `dim`-dimensional space named "fake-test", on the CPU."""
    import torch

    text = FakeTextEmbedder(dim)
    image = FakeImageEmbedder(text)
    return ModelSet(
        space=SpaceSpec(name="fake-test", dim=dim, text_model="fake", image_classifier="fake"),
        speech=SpeechModelSpec("fake", False, (), "tones to words (tests/fakes.py); English only"),
        device=torch.device("cpu"),
        text=text,
        image=image,
        detector=FakeSpeechDetector(),
        transcriber=FakeTranscriber(),
        sound=FakeSoundTagger(text),
        audio=None,
        labeler=image,
    )
