"""The model workers: one thread per model, shared by every stream and query.

Frames and texts are embedded in batches across streams. Transcriptions waiting together run
as one Whisper batch (Transcriber.transcribe_many: one encoder pass and one beam search over
all of them), so on a GPU the regions of N streams that end at once do not queue behind each
other. On CPU a batch costs what its regions cost one by one (the encoder's work grows with the
batch; measured with bench/whisper_batch.py), and batching would make the first region wait for
the last, so there the batch is capped at `WorkerSettings.asr_cpu_max_batch` (1).
Voice activity detection and sound tagging take one request at a time (their inputs differ in
length). Each model has its own thread. Callers await the result; `wait=False` fails fast with
Overloaded when the model's queue is full (searches), `wait=True` waits for room (ingest).

Transcription priorities: the optional requests of live speech (interim captions, speculative
finals) are only asked for while no transcription is pending (live_speech.py), so a batch holds
at most one of them and finals never wait behind a queue of interims.

Query texts (searches, standing queries) are embedded through a small LRU cache of text ->
vector (`embed_query_text`, `WorkerSettings.query_cache` entries, per model set since each
model set has its own workers); transcripts and other texts of ingest are unique and bypass it.

The image worker also names what frames show (frame descriptions), on the same thread as the
frame encoder, which is the same model.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

import numpy as np

from vigil_models import Concept, ModelSet, PeopleFound, SoundWindow, SpeechRequest, TextLine, TranscriptPiece, VadState
from vigil_server.batching import BatchWorker
from vigil_server.settings import WorkerSettings


def _rows(matrix: np.ndarray) -> list[np.ndarray]:
    return list(matrix)


@dataclass(frozen=True)
class _Labels:
    """An image worker request for a frame's top classes, beside the usual embedding requests."""

    frame: np.ndarray
    top_k: int


class TextCache:
    """A bounded, thread-safe LRU map of text -> vector (copies go in and out: callers may change theirs)."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            vector = self._vectors.get(text)
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end(text)
            self.hits += 1
            return vector.copy()

    def put(self, text: str, vector: np.ndarray) -> None:
        if self.capacity <= 0:
            return
        with self._lock:
            self._vectors[text] = vector.copy()
            self._vectors.move_to_end(text)
            while len(self._vectors) > self.capacity:
                self._vectors.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._vectors)


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


@dataclass(frozen=True)
class FrameFindings:
    """What the frame detectors saw in one frame; None: that detector is off."""

    people: PeopleFound | None = None
    explicit_score: float | None = None


def _detect_batch(models: ModelSet, batch: list[tuple[np.ndarray, bool]]) -> list[FrameFindings]:
    """The explicit score of every frame; people in the frames asked for (the flag)."""
    frames = [frame for frame, _ in batch]
    scores = models.explicit.score(frames).tolist() if models.explicit is not None else [None] * len(frames)
    wanted = [frame for frame, people in batch if people]
    found = iter(models.people.detect(wanted) if models.people is not None and wanted else [])
    return [FrameFindings(next(found) if people and models.people is not None else None, score)
            for (_, people), score in zip(batch, scores, strict=True)]  # fmt: skip


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
        if models.device.type == "cpu":
            asr = replace(asr, max_batch=options.asr_cpu_max_batch)
        self._asr = BatchWorker[SpeechRequest, list[TranscriptPiece] | Exception](
            "asr", models.transcriber.transcribe_many, asr
        )
        self.query_cache = TextCache(options.query_cache)
        self.describes_frames = models.labeler is not None
        self._transcriptions = 0  # asked for, not answered yet
        self._sound = BatchWorker[np.ndarray, list[SoundWindow]](
            "sound", lambda b: [models.sound.tag(a) for a in b], sound
        )
        self._workers: list[BatchWorker[Any, Any]] = [self._text, self._image, self._vad, self._asr, self._sound]
        # On-screen text (OCR), a frame at a time on a thread of its own; None when the model set reads none.
        self._ocr: BatchWorker[np.ndarray, list[TextLine]] | None = None
        if models.reader is not None:
            reader = models.reader
            self._ocr = BatchWorker[np.ndarray, list[TextLine]]("ocr", lambda b: [reader.read(f) for f in b],
                                                                options.ocr)  # fmt: skip
            self._workers.append(self._ocr)
        # People, faces and the explicit score of frames, on a thread of their own; None when both are off.
        self._concepts = models.concepts
        self._detect: BatchWorker[tuple[np.ndarray, bool], FrameFindings] | None = None
        self.detects_people = models.people is not None
        if models.people is not None or models.explicit is not None:
            self._detect = BatchWorker[tuple[np.ndarray, bool], FrameFindings](
                "detect", lambda b: _detect_batch(models, b), options.detect
            )
            self._workers.append(self._detect)
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

    @property
    def batch_workers(self) -> list[BatchWorker[Any, Any]]:
        """Every model's worker (for metrics: their queues and batches)."""
        return list(self._workers)

    async def embed_text(self, text: str, wait: bool = True) -> np.ndarray:
        return await self._text.submit(text, wait)

    async def embed_query_text(self, text: str, wait: bool = False) -> np.ndarray:
        """A query's text (a search, a standing query): through the LRU cache, else as embed_text."""
        vector = self.query_cache.get(text)
        if vector is None:
            vector = await self._text.submit(text, wait)
            self.query_cache.put(text, vector)
        return vector

    @property
    def detects_frames(self) -> bool:
        """Whether frames get people, faces or an explicit score (detect_frame)."""
        return self._detect is not None

    async def detect_frame(self, frame: np.ndarray, people: bool = True, wait: bool = True) -> FrameFindings:
        """The explicit score of a uint8 HxWx3 RGB frame and, with `people`, its people and faces (None if off)."""
        if self._detect is None:
            return FrameFindings()
        return await self._detect.submit((frame, people), wait)

    def mix_people(self, vector: np.ndarray, findings: FrameFindings) -> np.ndarray:
        """A frame's shared-space vector with the people concepts its findings support (label spaces)."""
        if self._concepts is None or findings.people is None:
            return vector
        return self._concepts.mix(vector, findings.people)

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
        answer = asyncio.ensure_future(self._transcribe(SpeechRequest(audio, language, words, translate), wait))
        self._transcriptions += 1
        answer.add_done_callback(self._transcribed)
        return answer

    async def _transcribe(self, request: SpeechRequest, wait: bool) -> list[TranscriptPiece]:
        result = await self._asr.submit(request, wait)
        if isinstance(result, Exception):
            raise result  # this region's own failure; the others of its batch went on
        return result

    def _transcribed(self, _: object) -> None:
        self._transcriptions -= 1

    @property
    def transcriptions_pending(self) -> int:
        """Transcriptions asked for and not answered yet (queued or running), counted from the moment they are asked."""
        return self._transcriptions

    @property
    def reads_text(self) -> bool:
        """Whether on-screen text is read (the model set has a text reader)."""
        return self._ocr is not None

    async def read_text(self, frame: np.ndarray, wait: bool = True) -> list[TextLine]:
        """The lines of text a uint8 RGB frame (at its own size) shows, top to bottom (see reads_text)."""
        assert self._ocr is not None, "no text reader in this model set"
        return await self._ocr.submit(frame, wait)

    async def tag_sound(self, audio: np.ndarray, wait: bool = True) -> list[SoundWindow]:
        return await self._sound.submit(audio, wait)

    @property
    def embeds_sound(self) -> bool:
        """Whether sound is embedded by an audio encoder (else by its caption mixture)."""
        return self._audio is not None

    async def embed_sound(self, clips: Sequence[np.ndarray], wait: bool = True) -> list[np.ndarray]:
        assert self._audio is not None, "no audio encoder in this space"
        return await self._audio.submit_many(clips, wait)
