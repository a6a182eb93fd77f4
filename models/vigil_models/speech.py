"""Speech: voice activity detection (Silero, as shipped by faster-whisper) and transcription.

With a multilingual model, speech that is not English is transcribed in its own language and
also translated into English (Whisper's translate task over the same audio), so English text
queries reach it. On request, each piece also carries its words with their times
(faster-whisper's word timestamps), for captions.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps

from vigil_models.vad import StreamingSilero, VadState

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class WordTiming:
    start: float  # seconds from the start of the audio given to the transcriber
    end: float
    text: str  # as the model spells it, with the space before it (" Hello,")
    probability: float = 1.0  # the model's confidence in the word


# (start, end, text, words) of one decoded segment
Timed = tuple[float, float, str, tuple[WordTiming, ...]]


@dataclass(frozen=True)
class SpeechRegion:
    start: float  # seconds from the start of the audio given to the detector
    end: float


@dataclass(frozen=True)
class TranscriptPiece:
    start: float  # seconds from the start of the audio given to the transcriber
    end: float
    text: str  # in the language spoken
    language: str  # ISO 639-1 code, detected or given
    translation: str = ""  # English; "" when the speech is English (or the model English-only)
    words: tuple[WordTiming, ...] = ()  # when asked for: the piece's words, in order


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5  # speech probability above which a window counts as speech
    min_speech_ms: int = 250  # shorter bursts are dropped
    min_silence_ms: int = 600  # a pause this long ends a region
    pad_ms: int = 200  # padding added around each region
    max_region_s: float = 25.0  # longer speech is cut (Whisper reads 30 s windows)


class SpeechDetector:
    """`find(audio) -> [SpeechRegion]` for float32 mono audio at 16 kHz, all at once; and for streams,
    `scan(state, audio) -> (probabilities, state)`: the speech probability of each new 32 ms window
    (`window` samples), every sample scored once (vad.py)."""

    window = StreamingSilero.window

    def __init__(self, settings: VadSettings = VadSettings()):
        self.settings = settings
        self._stream = StreamingSilero()
        self.options = VadOptions(
            threshold=settings.threshold,
            min_speech_duration_ms=settings.min_speech_ms,
            min_silence_duration_ms=settings.min_silence_ms,
            speech_pad_ms=settings.pad_ms,
            max_speech_duration_s=settings.max_region_s,
        )

    def find(self, audio: np.ndarray) -> list[SpeechRegion]:
        if audio.size < SAMPLE_RATE // 10:
            return []
        stamps = get_speech_timestamps(audio, self.options, sampling_rate=SAMPLE_RATE)
        return [SpeechRegion(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]

    def scan(self, state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]:
        return self._stream.scan(state, audio)


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 5
    # One temperature: the default fallback ladder made greedy decoding 3x slower here.
    temperature: float = 0.0


class Transcriber:
    """faster-whisper over a local CTranslate2 model directory."""

    def __init__(
        self,
        model_dir: Path,
        device: torch.device,
        multilingual: bool,
        cpu_threads: int = 0,
        options: DecodeOptions = DecodeOptions(),
    ):
        on_gpu = device.type == "cuda"
        self.model = WhisperModel(
            str(model_dir),
            device="cuda" if on_gpu else "cpu",
            device_index=device.index or 0,
            compute_type="float16" if on_gpu else "int8",
            cpu_threads=cpu_threads or min(4, os.cpu_count() or 1),
            local_files_only=True,
        )
        self.multilingual = multilingual
        self.options = options

    def transcribe(
        self, audio: np.ndarray, language: str = "", words: bool = False, translate: bool = True
    ) -> list[TranscriptPiece]:
        """Transcribe one speech region; times are relative to the start of `audio`.

        `language` ("" to detect it) is an ISO 639-1 code. English-only models always give "en".
        Speech in another language gets an English `translation` on each piece (unless `translate`
        is False): the region is translated once and each translated segment goes to the piece it
        overlaps most in time. `words` adds each piece's words with their times.
        """
        lang = language or (None if self.multilingual else "en")
        segments, spoken = self._decode(audio, lang, "transcribe", words)
        pieces = [TranscriptPiece(start, end, text, spoken, words=w) for start, end, text, w in segments]
        if not pieces or not self.multilingual or spoken == "en" or not translate:
            return pieces
        translated, _ = self._decode(audio, spoken, "translate", False)
        texts = assign_by_overlap([(p.start, p.end) for p in pieces], [(a, b, text) for a, b, text, _ in translated])
        return [replace(piece, translation=text) for piece, text in zip(pieces, texts, strict=True)]

    def _decode(self, audio: np.ndarray, language: str | None, task: str, words: bool) -> tuple[list[Timed], str]:
        """Whisper's `task` over the audio: the non-empty segments, and the language (given or detected)."""
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=self.options.beam_size,
            temperature=self.options.temperature,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=False,
            word_timestamps=words,
        )
        timed = [
            (
                float(seg.start),
                float(seg.end),
                seg.text.strip(),
                tuple(WordTiming(float(w.start), float(w.end), w.word, float(w.probability)) for w in seg.words or ()),
            )
            for seg in segments
        ]
        return [t for t in timed if t[2]], str(info.language)


def assign_by_overlap(spans: Sequence[tuple[float, float]], segments: Sequence[tuple[float, float, str]]) -> list[str]:
    """Join each segment's text onto the span it overlaps most (the nearest one if none), in order.

    Whisper cuts the same audio into nearly the same segments for both tasks, so this pairs each
    sentence with its translation; a span whose translation Whisper merged into a neighbour's gets "".
    """
    joined: list[list[str]] = [[] for _ in spans]
    for start, end, text in segments:
        if spans:
            joined[_best_overlap(spans, start, end)].append(text)
    return [" ".join(texts) for texts in joined]


def _best_overlap(spans: Sequence[tuple[float, float]], start: float, end: float) -> int:
    """Index of the span overlapping [start, end] most (or nearest to it, if it overlaps none); ties go by centre."""

    def score(i: int) -> tuple[float, float]:
        a, b = spans[i]
        return min(b, end) - max(a, start), -abs((a + b) - (start + end))

    return max(range(len(spans)), key=score)


def join_split_model(parts: list[Path], extra_files_dir: Path, cache_root: Path) -> Path:
    """Join a CTranslate2 model shipped as `model.bin.partN` files into one cached directory.

    Done once: the directory name carries a digest of the parts' sizes and names, and a
    finished directory is recognised by its `model.bin`; a half-written one is replaced.
    """
    key = hashlib.sha256("|".join(f"{p.name}:{p.stat().st_size}" for p in parts).encode()).hexdigest()[:16]
    target = cache_root / f"whisper-{key}"
    if (target / "model.bin").exists():
        return target
    tmp = cache_root / f".whisper-{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for item in extra_files_dir.iterdir():
        if item.is_file() and not item.name.startswith("model.bin"):
            shutil.copy2(item, tmp / item.name)
    with open(tmp / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, length=8 << 20)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
