"""The model workers: one thread per model, shared by every stream and query.

Frames and texts are embedded in batches across streams; voice activity detection,
transcription and sound tagging take one request at a time (their inputs differ in length),
each on its own thread. Callers await the result; `wait=False` fails fast with Overloaded when
the model's queue is full (searches), `wait=True` waits for room (ingest).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from vigil_models import ModelSet, SoundWindow, SpeechRegion, TranscriptPiece
from vigil_server.batching import BatchWorker
from vigil_server.settings import WorkerSettings


def _rows(matrix: np.ndarray) -> list[np.ndarray]:
    return list(matrix)


class ModelWorkers:
    """Embed frames and text, detect speech, transcribe, tag sound (and embed it, with an audio encoder)."""

    def __init__(self, models: ModelSet, options: WorkerSettings):
        text, image, vad, asr, sound = options.text, options.image, options.vad, options.asr, options.sound
        self.dim = models.text.dim  # the shared space
        self.descriptor_dim = models.image.descriptor_dim  # copy descriptors of frames
        self._text = BatchWorker[str, np.ndarray]("text", lambda b: _rows(models.text.embed(b)), text)
        # Frames: the shared-space vector and the copy descriptor, from one forward pass.
        self._image = BatchWorker[np.ndarray, tuple[np.ndarray, np.ndarray]](
            "image", lambda b: list(zip(*models.image.embed_and_describe(b), strict=True)), image
        )
        self._vad = BatchWorker[np.ndarray, list[SpeechRegion]](
            "vad", lambda b: [models.detector.find(a) for a in b], vad
        )
        self._asr = BatchWorker[tuple[np.ndarray, str], list[TranscriptPiece]](
            "asr", lambda b: [models.transcriber.transcribe(a, lang) for a, lang in b], asr
        )
        self._sound = BatchWorker[np.ndarray, list[SoundWindow]](
            "sound", lambda b: [models.sound.tag(a) for a in b], sound
        )
        self._workers: list[BatchWorker[Any, Any]] = [self._text, self._image, self._vad, self._asr, self._sound]
        # An audio encoder (CLAP) embeds sound itself; label spaces embed the sound's caption mixture.
        self._audio: BatchWorker[np.ndarray, np.ndarray] | None = None
        if models.audio is not None:
            encoder = models.audio
            self._audio = BatchWorker[np.ndarray, np.ndarray]("audio", lambda b: _rows(encoder.embed(b)), image)
            self._workers.append(self._audio)

    def start(self) -> None:
        """Start the threads; call from the event loop that will submit."""
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        for worker in self._workers:
            worker.stop()

    async def embed_text(self, text: str, wait: bool = True) -> np.ndarray:
        return await self._text.submit(text, wait)

    async def embed_texts(self, texts: Sequence[str], wait: bool = True) -> list[np.ndarray]:
        return await self._text.submit_many(texts, wait)

    async def embed_frame(self, frame: np.ndarray, wait: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """A uint8 HxWx3 RGB frame's vector in the shared space and its copy descriptor."""
        return await self._image.submit(frame, wait)

    async def embed_frames(
        self, frames: Sequence[np.ndarray], wait: bool = True
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        return await self._image.submit_many(frames, wait)

    async def detect_speech(self, audio: np.ndarray) -> list[SpeechRegion]:
        return await self._vad.submit(audio)

    async def transcribe(self, audio: np.ndarray, language: str) -> list[TranscriptPiece]:
        return await self._asr.submit((audio, language))

    async def tag_sound(self, audio: np.ndarray, wait: bool = True) -> list[SoundWindow]:
        return await self._sound.submit(audio, wait)

    @property
    def embeds_sound(self) -> bool:
        """Whether sound is embedded by an audio encoder (else by its caption mixture)."""
        return self._audio is not None

    async def embed_sound(self, clips: Sequence[np.ndarray], wait: bool = True) -> list[np.ndarray]:
        assert self._audio is not None, "no audio encoder in this space"
        return await self._audio.submit_many(clips, wait)
