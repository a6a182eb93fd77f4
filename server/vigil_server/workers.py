"""The model workers: one thread per model, shared by every stream and query.

Frames and texts are embedded in batches across streams; voice activity detection,
transcription and sound tagging take one request at a time (their inputs differ in length),
each on its own thread. Callers await the result; `wait=False` fails fast with Overloaded when
the model's queue is full (searches), `wait=True` waits for room (ingest).

The image worker also names what frames show (frame descriptions), on the same thread as the
frame encoder, which is the same model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from vigil_models import Concept, ModelSet, SoundWindow, TranscriptPiece, VadState
from vigil_server.batching import BatchWorker
from vigil_server.settings import WorkerSettings


def _rows(matrix: np.ndarray) -> list[np.ndarray]:
    return list(matrix)


@dataclass(frozen=True)
class _Labels:
    """An image worker request for a frame's top classes, beside the usual embedding requests."""

    frame: np.ndarray
    top_k: int


@dataclass(frozen=True)
class _Speech:
    """A transcription request."""

    audio: np.ndarray
    language: str
    words: bool = False
    translate: bool = True


_ImageJob = np.ndarray | _Labels
_ImageResult = tuple[np.ndarray, np.ndarray] | list[Concept]


def _image_batch(models: ModelSet, batch: list[_ImageJob]) -> list[_ImageResult]:
    """Embed the frames of the batch in one pass; label the frames asked to be labelled."""
    frames = [job for job in batch if isinstance(job, np.ndarray)]
    embedded = iter(zip(*models.image.embed_and_describe(frames), strict=True)) if frames else iter(())
    results: list[_ImageResult] = []
    for job in batch:
        if isinstance(job, _Labels):
            assert models.labeler is not None, "no frame labeller in this model set"
            results.append(models.labeler.labels([job.frame], job.top_k)[0])
        else:
            results.append(next(embedded))
    return results


class ModelWorkers:
    """Embed frames and text, detect speech, transcribe, tag sound (and embed it, with an audio encoder)."""

    def __init__(self, models: ModelSet, options: WorkerSettings):
        text, image, vad, asr, sound = options.text, options.image, options.vad, options.asr, options.sound
        self.dim = models.text.dim  # the shared space
        self.descriptor_dim = models.image.descriptor_dim  # copy descriptors of frames
        self._text = BatchWorker[str, np.ndarray]("text", lambda b: _rows(models.text.embed(b)), text)
        # Frames: the shared-space vector and the copy descriptor, from one forward pass (or a frame's labels).
        self._image = BatchWorker[_ImageJob, _ImageResult]("image", lambda b: _image_batch(models, b), image)
        detector = models.detector
        self.vad_window = detector.window  # samples per speech probability
        self._vad = BatchWorker[tuple[VadState, np.ndarray], tuple[np.ndarray, VadState]](
            "vad", lambda b: [detector.scan(state, audio) for state, audio in b], vad
        )
        transcriber = models.transcriber
        self._asr = BatchWorker[_Speech, list[TranscriptPiece]](
            "asr", lambda b: [transcriber.transcribe(r.audio, r.language, r.words, r.translate) for r in b], asr
        )
        self.describes_frames = models.labeler is not None
        self._transcriptions = 0  # asked for, not answered yet
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
        return cast(tuple[np.ndarray, np.ndarray], await self._image.submit(frame, wait))

    async def embed_frames(
        self, frames: Sequence[np.ndarray], wait: bool = True
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        return cast(list[tuple[np.ndarray, np.ndarray]], await self._image.submit_many(frames, wait))

    async def label_frame(self, frame: np.ndarray, top_k: int, wait: bool = True) -> list[Concept]:
        """What a frame shows: the frame model's `top_k` classes in words, most likely first (see describes_frames)."""
        return cast(list[Concept], await self._image.submit(_Labels(frame, top_k), wait))

    async def scan_speech(self, state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]:
        """Speech probabilities of the new complete windows of a stream's audio, and the stream's next state."""
        return await self._vad.submit((state, audio))

    def transcribe(
        self, audio: np.ndarray, language: str, *, words: bool = False, translate: bool = True, wait: bool = True
    ) -> asyncio.Future[list[TranscriptPiece]]:
        """Queue a transcription; await the result. It counts as pending from this call until it is answered."""
        answer = asyncio.ensure_future(self._asr.submit(_Speech(audio, language, words, translate), wait))
        self._transcriptions += 1
        answer.add_done_callback(self._transcribed)
        return answer

    def _transcribed(self, _: object) -> None:
        self._transcriptions -= 1

    @property
    def transcriptions_pending(self) -> int:
        """Transcriptions asked for and not answered yet (queued or running), counted from the moment they are asked."""
        return self._transcriptions

    async def tag_sound(self, audio: np.ndarray, wait: bool = True) -> list[SoundWindow]:
        return await self._sound.submit(audio, wait)

    @property
    def embeds_sound(self) -> bool:
        """Whether sound is embedded by an audio encoder (else by its caption mixture)."""
        return self._audio is not None

    async def embed_sound(self, clips: Sequence[np.ndarray], wait: bool = True) -> list[np.ndarray]:
        assert self._audio is not None, "no audio encoder in this space"
        return await self._audio.submit_many(clips, wait)
