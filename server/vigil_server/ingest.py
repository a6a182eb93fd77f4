"""One Ingest call: chunks in, decoded, segmented, encoded, stored; events out.

Three tasks run per stream: the feeder (chunks -> decoder, acks), frames (decoder -> image
worker -> store) and audio (decoder -> speech segmenter -> text worker -> store). Their events
meet in one queue that the call's response stream drains. A segment's event is sent only after
the store accepted it, so whatever a client saw acknowledged is searchable. If any task fails,
the others are cancelled, ffmpeg is killed and the error ends the call; what was stored stays.

Each stored segment is then checked by the moderation stage, and the stream's audio is
fingerprinted as it arrives; alerts about this stream join the same event queue.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import numpy as np

from vigil_server.decode import AUDIO_RATE, MediaDecoder
from vigil_server.errors import InvalidRequest
from vigil_server.segment import SpeechSegmenter, SpeechSpan
from vigil_server.types import (
    Alert,
    Chunk,
    ChunkAcked,
    IngestEvent,
    IngestSummary,
    Modality,
    Segment,
    SegmentStored,
    StreamConfig,
    WatchFilter,
)

if TYPE_CHECKING:
    from vigil_server.pipeline import Pipeline

_DONE = object()
# Frames of one stream being encoded and stored at once.
FRAMES_IN_FLIGHT = 8
# Audio is tagged for non-speech sound in blocks of this many seconds.
SOUND_BLOCK_S = 5.0


class IngestSession:
    def __init__(self, pipeline: Pipeline, config: StreamConfig):
        self.pipeline = pipeline
        self.config = config
        self.decoder = MediaDecoder(
            config.format, config.frame_rate, pipeline.settings.decode, (config.sample_rate, config.channels)
        )
        self.events: asyncio.Queue[IngestEvent | object] = asyncio.Queue()
        self.chunks = 0
        self.bytes = 0
        self.frames_indexed = 0
        self.speech_indexed = 0
        self.sound_indexed = 0
        self.alerts = 0

    async def run(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[IngestEvent]:
        began = time.monotonic()
        tasks = [
            asyncio.create_task(self._feed(chunks), name="feed"),
            asyncio.create_task(self._frames(), name="frames"),
            asyncio.create_task(self._audio(), name="audio"),
        ]
        watcher = asyncio.create_task(self._watch(tasks))
        # The producer sees its stream's alerts among its events.
        own_alerts = WatchFilter(stream_ids=(self.config.stream_id,), tenant=self.config.tenant)
        unsubscribe = self.pipeline.moderation.hub.subscribe(own_alerts, self._alert)
        try:
            while (event := await self.events.get()) is not _DONE:
                yield event  # type: ignore[misc]
            await watcher  # raises the first task failure, if any
            await self.decoder.wait()
            yield IngestSummary(
                stream_id=self.config.stream_id,
                chunks_received=self.chunks,
                bytes_received=self.bytes,
                media_seconds=self.decoder.media_seconds,
                frames_indexed=self.frames_indexed,
                speech_segments_indexed=self.speech_indexed,
                wall_seconds=time.monotonic() - began,
                spooled=self.decoder.spooled,
                sound_segments_indexed=self.sound_indexed,
                alerts=self.alerts,
            )
        finally:
            unsubscribe()
            for task in [*tasks, watcher]:
                task.cancel()
            await asyncio.gather(*tasks, watcher, return_exceptions=True)
            await self.decoder.close()

    def _alert(self, alert: Alert) -> None:
        self.alerts += 1
        self.events.put_nowait(alert)

    async def _watch(self, tasks: list[asyncio.Task[None]]) -> None:
        """Wait for all tasks; on the first failure cancel the rest. Ends the event queue either way."""
        try:
            for next_done in asyncio.as_completed(tasks):
                await next_done
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        finally:
            self.events.put_nowait(_DONE)

    async def _feed(self, chunks: AsyncIterator[Chunk]) -> None:
        async for chunk in chunks:
            if chunk.sequence != self.chunks:
                raise InvalidRequest(
                    f"chunk sequence {chunk.sequence} where {self.chunks} was expected: chunks must be numbered "
                    "0, 1, 2, ... without gaps or repeats"
                )
            self.chunks += 1
            self.bytes += len(chunk.data)
            await self.decoder.feed(chunk.data)
            self.events.put_nowait(ChunkAcked(chunk.sequence, self.bytes))
        await self.decoder.finish()

    def _segment(
        self, modality: Modality, start: float, end: float, text: str = "", language: str = "", translation: str = ""
    ) -> Segment:
        offset = self.config.time_offset
        return Segment(
            segment_id=uuid.uuid4().hex,
            stream_id=self.config.stream_id,
            modality=modality,
            start=round(start + offset, 3),
            end=round(end + offset, 3),
            text=text,
            language=language,
            translation=translation,
            tenant=self.config.tenant,
        )

    async def _store(self, segment: Segment, vector: np.ndarray, descriptor: np.ndarray | None = None) -> None:
        await self.pipeline.inserter.submit((segment, vector, descriptor))
        self.events.put_nowait(SegmentStored(segment))

    async def _frames(self) -> None:
        """Encode frames as they come, up to FRAMES_IN_FLIGHT at once so the image worker can batch."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            index = 0
            async for frame in self.decoder.frames():
                if len(in_flight) >= FRAMES_IN_FLIGHT:
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                in_flight.add(asyncio.create_task(self._index_frame(index, frame)))
                index += 1
            await asyncio.gather(*in_flight)
        finally:
            for task in in_flight:
                task.cancel()

    async def _index_frame(self, index: int, frame: np.ndarray) -> None:
        step = 1.0 / self.config.frame_rate
        vector, descriptor = await self.pipeline.image.submit(frame)
        segment = self._segment(Modality.FRAME, index * step, (index + 1) * step)
        await self._store(segment, vector, descriptor)
        self.frames_indexed += 1
        await self.pipeline.moderation.frame_stored(segment, vector, descriptor, frame, self.decoder.aspect)

    async def _audio(self) -> None:
        """Speech segments (VAD + Whisper) and, in blocks of SOUND_BLOCK_S, non-speech sound segments."""
        segmenter = SpeechSegmenter(self.pipeline.detector, self.pipeline.transcriber, self.config.language)
        fingerprints = self.pipeline.moderation.audio_watch(self.config)
        pending: list[np.ndarray] = []  # audio not yet tagged for sound
        pending_samples = 0
        tagged_samples = 0  # audio already tagged, from the start of the stream
        async for block in self.decoder.audio():
            for span in await segmenter.push(block):
                await self._store_speech(span)
            await fingerprints.push(block)
            pending.append(block)
            pending_samples += block.size
            if pending_samples >= SOUND_BLOCK_S * AUDIO_RATE:
                await self._store_sound(np.concatenate(pending), tagged_samples / AUDIO_RATE)
                tagged_samples += pending_samples
                pending, pending_samples = [], 0
        for span in await segmenter.flush():
            await self._store_speech(span)
        if pending:
            await self._store_sound(np.concatenate(pending), tagged_samples / AUDIO_RATE)
        await fingerprints.flush()

    async def _store_speech(self, span: SpeechSpan) -> None:
        vector = await self.pipeline.text.submit(span.translation or span.text)
        segment = self._segment(Modality.SPEECH, span.start, span.end, span.text, span.language, span.translation)
        await self._store(segment, vector)
        self.speech_indexed += 1
        self.pipeline.moderation.segment_stored(segment, vector)

    async def _store_sound(self, audio: np.ndarray, offset: float) -> None:
        for window in await self.pipeline.sound.submit(audio):
            segment = self._segment(Modality.SOUND, offset + window.start, offset + window.end, f"[{window.caption}]")
            vector = window.vector
            if self.pipeline.audio is not None:
                piece = audio[int(window.start * AUDIO_RATE) : int(window.end * AUDIO_RATE)]
                vector = await self.pipeline.audio.submit(piece)
            await self._store(segment, vector)
            self.sound_indexed += 1
            self.pipeline.moderation.segment_stored(segment, vector)
