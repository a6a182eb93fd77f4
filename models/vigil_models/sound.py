"""Sound events: where AudioSet sounds (a siren, gunfire, a dog, applause, music, singing) are heard, in the text space.

The tagger is YAMNet (vigil_models.yamnet): AudioSet's 521 classes scored on 0.96 s patches
every 0.48 s. A window is made per class: a class is on in a patch where its score reaches a
threshold and it is among the patch's `max_classes` best captionable classes; runs of one class
closer than a gap are joined, short ones dropped. Its caption is the class's AudioSet name in lower
case, "[siren]", "[gunshot, gunfire]", "[music]", "[singing]". Classes are tagged independently, so
a song where YAMNet hears the voice gives a "music" window and "singing" windows over its verses.

Speech is the transcriber's: the speech classes (SPEECH_CLASSES) never make a window, so speech
gives no sound segment, while a siren or applause under speech still does. Classes that only say
where or how a recording was made ("Inside, small room", "Silence") and broad parents that a
more telling class always accompanies ("Animal" beside "Dog") make no window either; every class
still counts in the vectors. Nor, while music plays, do its instruments and genres: music is
"[music]", as subtitles write it (YAMNet hears even a lone trumpet as music; the vector still
carries "trumpet").

Each window's vector is the ConSE mix used for frames (Norouzi et al., ICLR 2014):
normalise(sum over the `mix_k` best non-speech classes of the window's mean score * the class's
text vector), where a class's text vector is the mean embedding of its names ("Gunshot, gunfire"
-> "gunshot", "gunfire"); with `caption_weight`, the caption class's own text vector is added, so
that of two windows over one sound ("[siren]" and "[alarm]") each is nearest its own name. The
defaults were chosen on the development part of bench/sounds (bench/sound_events_eval.py reports
it and the held-out part).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vigil_models.class_texts import embed_class_texts
from vigil_models.speech import SAMPLE_RATE
from vigil_models.yamnet import PATCH_HOP_S, PATCH_HOP_SAMPLES, PATCH_S, PATCH_SAMPLES, Yamnet, class_names, patch_count

# Speech is transcribed, not captioned: these classes make no sound window.
SPEECH_CLASSES = frozenset(
    {
        "Speech",
        "Child speech, kid speaking",
        "Conversation",
        "Narration, monologue",
        "Babbling",
        "Speech synthesizer",
        "Whispering",
        "Hubbub, speech noise, speech babble",
    }
)
# Classes that make no window: where or how it was recorded, silence, and broad parents that come
# with a more telling child ("Animal" with "Dog", "Vehicle" with "Train"). "Music" is kept: it is
# the caption of music, as "Singing" is of singing.
NOT_CAPTIONS = frozenset(
    {
        "Silence",
        "Inside, small room",
        "Inside, large room or hall",
        "Inside, public space",
        "Outside, urban or manmade",
        "Outside, rural or natural",
        "Reverberation",
        "Echo",
        "Field recording",
        "Sound effect",
        "Animal",
        "Domestic animals, pets",
        "Livestock, farm animals, working animals",
        "Wild animals",
        "Musical instrument",
        "Plucked string instrument",
        "Bowed string instrument",
        "Wind instrument, woodwind instrument",
        "Vehicle",
        "Motor vehicle (road)",
    }
)
# Under music, its instruments, genres and effects make no window of their own: music is captioned "[music]"
# (AudioSet's classes from "Musical instrument" to "Scary music", and the three audio-effect classes).
MUSIC = "Music"
MUSIC_DETAIL_RANGE = ("Musical instrument", "Scary music")  # first and last, in the model's class order
MUSIC_EFFECTS = frozenset({"Electronic tuner", "Effects unit", "Chorus effect"})
# The detector reads 0.96 s patches; shorter audio is padded with silence, and below this holds no window.
MIN_AUDIO_S = 0.1


class TextEncoder(Protocol):
    """What the tagger needs of a text encoder (SentenceEncoder is one): L2-normalised float32[n, dim] rows."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class SoundOptions:
    threshold: float = 0.7  # class score (sigmoid) at which a patch shows the class
    max_classes: int = 2  # a patch shows at most this many classes (its best captionable ones)
    max_gap_s: float = 1.0  # two windows of one caption closer than this become one
    min_duration_s: float = 0.0  # shorter windows are dropped (one patch is 0.96 s)
    mix_k: int = 20  # classes mixed into a window's vector
    caption_weight: float = 0.0  # the caption class's own text vector, added to the (unit) mix with this weight
    chunk_s: float = 60.0  # audio is scored in chunks about this long (bounded memory), whole patches each


@dataclass(frozen=True)
class SoundWindow:
    start: float  # seconds from the start of the audio given
    end: float
    caption: str  # the class's AudioSet name in lower case, e.g. "siren", "gunshot, gunfire", "music"
    vector: np.ndarray  # float32 [dim], L2-normalised, in the text encoder's space


def class_texts(name: str) -> list[str]:
    """The texts that stand for an AudioSet class: its comma-separated names, e.g. ['gunshot', 'gunfire']."""
    parts = [p.strip().lower() for p in name.split(",") if p.strip()]
    return parts or [name.lower()]


class SoundTagger:
    """`tag(audio) -> [SoundWindow]` for float32 mono audio at 16 kHz; deterministic, any length."""

    def __init__(self, text_encoder: TextEncoder, cache_dir: Path, options: SoundOptions = SoundOptions()):
        if options.chunk_s < 1.0:
            raise ValueError(f"chunk_s must be at least 1 s, got {options.chunk_s}")
        if not 0.0 < options.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {options.threshold}")
        if options.max_classes < 1 or options.mix_k < 1:
            raise ValueError(f"max_classes and mix_k must be at least 1, got {options.max_classes}, {options.mix_k}")
        self.options = options
        self.model = Yamnet(cache_dir)
        self.class_names = class_names()
        self.captions = tuple(name.lower() for name in self.class_names)
        self.speech = np.array([name in SPEECH_CLASSES for name in self.class_names])
        self.captionable = ~self.speech & np.array([name not in NOT_CAPTIONS for name in self.class_names])
        self.music = self.class_names.index(MUSIC)
        first, last = (self.class_names.index(name) for name in MUSIC_DETAIL_RANGE)
        detail = [first <= i <= last or name in MUSIC_EFFECTS for i, name in enumerate(self.class_names)]
        self.music_detail = np.flatnonzero(detail)
        texts = [class_texts(name) for name in self.class_names]
        self.class_vectors = embed_class_texts(text_encoder.embed, texts)
        self.dim = int(self.class_vectors.shape[1])

    def scores(self, audio: np.ndarray) -> np.ndarray:
        """float32 [patches, 521]: patch i covers seconds [0.48 i, 0.48 i + 0.96) of the audio."""
        audio = np.ascontiguousarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono audio of shape [samples], got {audio.shape}")
        if audio.size < MIN_AUDIO_S * SAMPLE_RATE:
            return np.zeros((0, len(self.class_names)), dtype=np.float32)
        per_chunk = max(1, round(self.options.chunk_s / PATCH_HOP_S))  # patches per chunk
        total = patch_count(audio.size)
        parts = []
        for first in range(0, total, per_chunk):  # each chunk holds the samples of its patches: same scores
            count = min(per_chunk, total - first)
            lo = first * PATCH_HOP_SAMPLES
            parts.append(self.model.scores(audio[lo : lo + (count - 1) * PATCH_HOP_SAMPLES + PATCH_SAMPLES]))
        return np.concatenate(parts)

    def tag(self, audio: np.ndarray) -> list[SoundWindow]:
        """Windows of non-speech sound, ordered by start time (then caption); may overlap across captions."""
        return self.windows(self.scores(audio), audio.size / SAMPLE_RATE)

    def windows(self, scores: np.ndarray, duration: float) -> list[SoundWindow]:
        """`tag`'s windows from `scores(audio)` of audio `duration` seconds long."""
        if scores.shape[0] == 0:
            return []
        candidates = np.where(self.captionable, scores, 0.0)
        under_music = scores[:, self.music] >= self.options.threshold
        candidates[np.ix_(under_music, self.music_detail)] = 0.0
        best = np.argsort(-candidates, axis=1, kind="stable")[:, : self.options.max_classes]
        on = np.zeros_like(candidates, dtype=bool)
        np.put_along_axis(on, best, True, axis=1)
        on &= candidates >= self.options.threshold
        windows = []
        for index in np.flatnonzero(on.any(axis=0)):
            for first, last in self._runs(on[:, index]):
                start = first * PATCH_HOP_S
                end = min(duration, last * PATCH_HOP_S + PATCH_S)
                vector = self._embed(scores[first : last + 1], int(index))
                windows.append(SoundWindow(start, end, self.captions[index], vector))
        return sorted(windows, key=lambda w: (w.start, w.caption))

    def _runs(self, active: np.ndarray) -> list[tuple[int, int]]:
        """(first, last) patch of each run of active patches, after joining gaps and dropping short runs."""
        edges = np.flatnonzero(np.diff(np.concatenate([[0], active.astype(np.int8), [0]])))
        runs = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]
        joined: list[tuple[int, int]] = []
        for first, last in runs:
            # The gap between two runs: from the end of the last patch of one to the start of the next.
            if joined and first * PATCH_HOP_S - (joined[-1][1] * PATCH_HOP_S + PATCH_S) < self.options.max_gap_s:
                joined[-1] = (joined[-1][0], last)
            else:
                joined.append((first, last))
        return [(a, b) for a, b in joined if b * PATCH_HOP_S + PATCH_S - a * PATCH_HOP_S >= self.options.min_duration_s]

    def _embed(self, scores: np.ndarray, caption: int) -> np.ndarray:
        mean = np.where(self.speech, 0.0, scores.mean(axis=0))
        top = np.argsort(-mean, kind="stable")[: self.options.mix_k]
        vector: np.ndarray = _unit((mean[top] @ self.class_vectors[top]).astype(np.float32))
        if self.options.caption_weight > 0:
            vector = _unit(vector + self.options.caption_weight * self.class_vectors[caption])
        return vector


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector
