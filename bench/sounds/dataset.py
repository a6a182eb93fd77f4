"""The labelled sound-event clips of bench/sounds/labels.tsv, read from installed packages or synthesised.

Each row: the Debian package that ships the clip (or `synthetic`), its path (`FILE.rcc:/member` for a
member of a GCompris Qt resource bundle, read with bench/photos/dataset.py), and the AudioSet class
names that truly describe it, most specific first, `;`-separated. Labels come from what the file
is named for (a GCompris activity's "dog.ogg", an instrument's name), never from a model's output.

Synthetic clips are made here with numpy: sirens (a tone with six harmonics swept between 600 and
1500 Hz, as a wail over 6 s or a yelp over 0.3 s, one with brown noise under it), a 2 kHz beeping,
a 440 Hz sine and white and pink noise. The siren recipe was changed until YAMNet heard a siren
(a pure swept sine it hears as a theremin), so synthetic clips are in the development part only.

The held-out part is every third packaged clip by a hash of its path; no tuning choice reads it.
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.photos.dataset import RCC_SEPARATOR, _rcc_member

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels.tsv"
SAMPLE_RATE = 16000
MAX_SECONDS = 30.0  # longer recordings (the music tracks) are cut to their first 30 s
SYNTHETIC_SECONDS = 8.0


@dataclass(frozen=True)
class LabelledSound:
    package: str
    path: str
    labels: tuple[str, ...]  # AudioSet display names, most specific first

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    @property
    def held_out(self) -> bool:
        if self.package == "synthetic":
            return False
        return int(hashlib.sha1(self.path.encode()).hexdigest()[:8], 16) % 3 == 0


def read_labels(path: Path = LABELS) -> list[LabelledSound]:
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [LabelledSound(r["package"], r["path"], tuple(r["labels"].split(";"))) for r in rows]


def decode(data: bytes, seconds: float = MAX_SECONDS) -> np.ndarray:
    """Any audio file's bytes -> float32 mono 16 kHz samples (ffmpeg), at most `seconds` long."""
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(data)
        f.flush()
        pcm = subprocess.run(
            ["ffmpeg", "-v", "error", "-i", f.name, "-t", str(seconds), "-f", "f32le", "-ac", "1", "-ar",
             str(SAMPLE_RATE), "-"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
    return np.frombuffer(pcm, dtype=np.float32).copy()


def _triangle(x: np.ndarray) -> np.ndarray:
    return np.asarray(2.0 * np.abs(2.0 * (x - np.floor(x + 0.5))) - 1.0)


def _harmonic_sweep(freq: np.ndarray, harmonics: int = 6) -> np.ndarray:
    phase = 2.0 * np.pi * np.cumsum(freq) / SAMPLE_RATE
    wave = sum((1.0 / k) * np.sin(k * phase) for k in range(1, harmonics + 1))
    return np.asarray(0.5 * wave / np.abs(wave).max())


def siren(seconds: float = SYNTHETIC_SECONDS, period_s: float = 6.0, noise: float = 0.0) -> np.ndarray:
    """A synthetic siren: six harmonics of a tone swept 600-1500 Hz and back every `period_s`."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = _harmonic_sweep(1050.0 + 450.0 * _triangle(t / period_s))
    if noise:
        wave = wave + noise * np.random.default_rng(0).standard_normal(t.size).cumsum() / 200.0
    return wave.astype(np.float32)


def synthetic(name: str, seconds: float = SYNTHETIC_SECONDS) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    rng = np.random.default_rng(0)
    if name == "siren-wail":
        return siren(seconds)
    if name == "siren-yelp":
        return siren(seconds, period_s=0.3)
    if name == "siren-wail-noisy":
        return siren(seconds, noise=0.3)
    if name == "beeping":
        return (0.3 * np.sin(2 * np.pi * 2000 * t) * ((t % 0.5) < 0.25)).astype(np.float32)
    if name == "sine-440":
        return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    if name == "white-noise":
        return (0.1 * rng.standard_normal(t.size)).astype(np.float32)
    if name == "pink-noise":
        spectrum = np.fft.rfft(rng.standard_normal(t.size))
        spectrum /= np.sqrt(np.maximum(np.arange(spectrum.size), 1))
        pink = np.fft.irfft(spectrum, n=t.size)
        out: np.ndarray = (0.3 * pink / np.abs(pink).max()).astype(np.float32)
        return out
    raise ValueError(f"no synthetic clip {name!r}")


def load(sound: LabelledSound) -> np.ndarray:
    """The clip's samples; raises FileNotFoundError naming the package to install."""
    if sound.package == "synthetic":
        return synthetic(sound.path)
    file, member = sound.path, None
    if RCC_SEPARATOR in sound.path:
        head, tail = sound.path.split(RCC_SEPARATOR, 1)
        file, member = head + ".rcc", "/" + tail
    if not Path(file).is_file():
        raise FileNotFoundError(f"no file {file}: apt-get install {sound.package}")
    data = Path(file).read_bytes() if member is None else _rcc_member(Path(file), member)
    return decode(data)
