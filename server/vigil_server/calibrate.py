"""Per-modality score calibration, so one ranked list can mix frames, speech and sound.

Raw cosines are not comparable across modalities: frame and sound vectors are mixtures of
label embeddings and sit close to every query, transcript vectors spread out. For each
modality we keep the mean and standard deviation of the cosine between a fixed set of probe
queries (varied short texts, embedded once at start-up) and every segment of that modality
stored so far. A match's calibrated score is

    score = (cosine - mean[modality]) / std[modality]

how many standard deviations it lies above what an unrelated query scores against that
modality. It ranks fairly across modalities and a threshold means the same for all of them.
The statistics are updated as segments are stored (Welford's algorithm over probe cosines,
|probes| values per segment) and saved as JSON in the data directory, so they survive restarts.
The file also says when it was saved (`saved_at_ms`) and, per modality, how many segments it has
seen: segments stored after the last save (lost when the process is killed) are seen again at the
next start (app.load_calibrator tops the statistics up from the store).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil_server.types import Modality

log = logging.getLogger(__name__)

# Until a modality has this many segments, its statistics lean on the prior below.
MIN_SEGMENTS = 5
# Used before a modality has been observed: raw cosine centred on 0 with unit spread / 4.
PRIOR_MEAN = 0.0
PRIOR_STD = 0.25
SAVE_EVERY = 64  # observations between saves

# Short varied texts: things, scenes, sounds, and sentences, like the queries people type.
PROBE_TEXTS = (
    "a dog", "a cat", "a car on a street", "a person walking", "a bird in the sky", "a plate of food",
    "a computer screen", "a crowd of people", "a mountain landscape", "the sea", "a building", "a bicycle",
    "an airplane", "a tree", "a flower", "a child playing", "a television", "a kitchen", "a football match",
    "a musical instrument", "music", "singing", "a dog barking", "applause", "a siren", "traffic noise",
    "rain", "laughter", "an engine", "a telephone ringing", "the weather forecast for tomorrow",
    "breaking news from the capital", "please call me back later", "the price of the new phone",
    "we will win the game tonight", "thank you for watching", "the meeting starts at nine",
    "a recipe for chocolate cake", "the train is delayed", "welcome to the show", "a horse", "a boat",
    "a fire", "a gun", "a knife", "money", "a baby crying", "a doctor", "a school", "a church",
)  # fmt: skip


@dataclass
class RunningStats:
    count: int = 0  # probe cosines seen
    segments: int = 0
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations

    def add(self, values: np.ndarray) -> None:
        """Merge a batch of values (Chan et al.'s parallel update of Welford's algorithm)."""
        n = int(values.size)
        if n == 0:
            return
        batch_mean = float(values.mean())
        batch_m2 = float(((values - batch_mean) ** 2).sum())
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.m2 += batch_m2 + delta * delta * self.count * n / total
        self.count = total
        self.segments += 1

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count > 1 else 0.0


@dataclass(frozen=True)
class Calibration:
    mean: float
    std: float

    def score(self, cosine: float) -> float:
        return (cosine - self.mean) / self.std


class Calibrator:
    """Thread-safe: observed from the store worker, read from searches."""

    def __init__(self, probes: np.ndarray, path: Path | None):
        self.probes = probes.astype(np.float32)  # [p, dim], L2-normalised
        self.path = path
        self._stats = {m: RunningStats() for m in Modality}
        self._lock = threading.Lock()
        self._unsaved = 0
        self.saved_at_ms = 0  # when the loaded file was saved (unix ms); 0: no file, or one from before it was kept
        if path is not None and path.exists():
            self._load(path)

    def observe(self, modality: Modality, vectors: np.ndarray, save: bool = True) -> None:
        """Account for newly stored segment vectors ([n, dim]) of one modality; saves every SAVE_EVERY
        observations unless `save` is False (then the caller calls `save_if_due` when a batch is done, so
        that every segment stored before a save is in it)."""
        cosines = np.asarray(vectors, dtype=np.float32).reshape(-1, self.probes.shape[1]) @ self.probes.T
        with self._lock:
            for row in cosines:
                self._stats[modality].add(row)
            self._unsaved += len(cosines)
        if save:
            self.save_if_due()

    def save_if_due(self) -> None:
        with self._lock:
            due = self._unsaved >= SAVE_EVERY
        if due:
            self.save()

    def calibration(self, modality: Modality) -> Calibration:
        """Statistics shrunk towards the prior while a modality has few segments."""
        with self._lock:
            stats = self._stats[modality]
            weight = min(1.0, stats.segments / MIN_SEGMENTS)
            mean = weight * stats.mean + (1 - weight) * PRIOR_MEAN
            std = weight * stats.std + (1 - weight) * PRIOR_STD
        return Calibration(mean, max(std, 1e-3))

    def score(self, modality: Modality, cosine: float) -> float:
        return self.calibration(modality).score(cosine)

    def segments(self, modality: Modality) -> int:
        """How many segments of the modality the statistics account for."""
        with self._lock:
            return self._stats[modality].segments

    def save(self) -> None:
        if self.path is None:
            return
        with self._lock:
            state = {
                "probes": len(self.probes),
                "saved_at_ms": int(time.time() * 1000),
                "modalities": {m.value: vars(s).copy() for m, s in self._stats.items()},
            }
            self._unsaved = 0
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        tmp.replace(self.path)

    def _load(self, path: Path) -> None:
        try:
            state = json.loads(path.read_text())
            if state.get("probes") != len(self.probes):
                log.warning("calibration in %s was made with other probes; starting afresh", path)
                return
            for name, fields in state["modalities"].items():
                self._stats[Modality(name)] = RunningStats(**fields)
            self.saved_at_ms = int(state.get("saved_at_ms", 0))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("cannot read calibration %s (%s); starting afresh", path, exc)

    def snapshot(self) -> dict[str, Calibration]:
        return {m.value: self.calibration(m) for m in Modality}
