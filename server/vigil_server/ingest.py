"""One Ingest call: chunks in, decoded, segmented, encoded, stored, checked; events out.

Three tasks run per stream: the feeder (chunks -> decoder, acks), frames (decoder -> image
worker -> segment index -> moderation) and audio (decoder -> the stream's AudioClock, whose
windows go to speech segmenting, sound tagging and moderation's fingerprint scan). Their events
meet in one queue that the call's response stream drains. A segment's event is sent only after
the index accepted it, so whatever a client saw acknowledged is searchable. If any task fails,
the others are cancelled, ffmpeg is killed and the error ends the call; what was stored stays.

Alerts raised by moderation go to alert delivery (AlertHub), which applies flood control and
hands them back to this call (the producer sees its stream's alerts) and to Watch calls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.alerts import AlertHub
from vigil_server.clock import AudioClock, AudioWindow, stream_time
from vigil_server.decode import DecodeSettings, MediaDecoder
from vigil_server.errors import InvalidRequest
from vigil_server.index import SegmentIndex
from vigil_server.moderation import AUDIO_HOP_S, AUDIO_WINDOW_S, Moderation
from vigil_server.speech import DETECT_EVERY_S, SpeechSegmenter, SpeechSpan
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
from vigil_server.workers import ModelWorkers

_DONE = object()
# Frames of one stream being encoded and stored at once.
FRAMES_IN_FLIGHT = 8
# Audio is tagged for non-speech sound in consecutive windows this long.
SOUND_WINDOW_S = 5.0


@dataclass(frozen=True)
class IngestParts:
    """What an Ingest call uses, shared by every stream."""

    workers: ModelWorkers
    index: SegmentIndex
    moderation: Moderation
    alerts: AlertHub
    decode: DecodeSettings


class IngestSession:
    def __init__(self, parts: IngestParts, config: StreamConfig):
        self.parts = parts
        self.config = config
        self.decoder = MediaDecoder(
            config.format, config.frame_rate, parts.decode, (config.sample_rate, config.channels)
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
        supervisor = asyncio.create_task(self._supervise(tasks))
        # The producer sees its stream's alerts among its events.
        own_alerts = WatchFilter(stream_ids=(self.config.stream_id,), tenant=self.config.tenant)
        unsubscribe = self.parts.alerts.subscribe(own_alerts, self._alert)
        try:
            while (event := await self.events.get()) is not _DONE:
                yield event  # type: ignore[misc]
            await supervisor  # raises the first task failure, if any
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
            for task in [*tasks, supervisor]:
                task.cancel()
            await asyncio.gather(*tasks, supervisor, return_exceptions=True)
            await self.decoder.close()

    def _alert(self, alert: Alert) -> None:
        self.alerts += 1
        self.events.put_nowait(alert)

    def _publish(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.parts.alerts.publish(alert)

    async def _supervise(self, tasks: list[asyncio.Task[None]]) -> None:
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
                    "0, 1, 2, ... without gaps or repeats",
                    field="chunk.sequence",
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
            start=stream_time(start, offset),
            end=stream_time(end, offset),
            text=text,
            language=language,
            translation=translation,
            tenant=self.config.tenant,
        )

    async def _store(self, segment: Segment, vector: np.ndarray, descriptor: np.ndarray | None = None) -> None:
        await self.parts.index.insert(segment, vector, descriptor)
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
        vector, descriptor = await self.parts.workers.embed_frame(frame)
        segment = self._segment(Modality.FRAME, index * step, (index + 1) * step)
        await self._store(segment, vector, descriptor)
        self.frames_indexed += 1
        self._publish(await self.parts.moderation.check_frame(segment, vector, descriptor, frame, self.decoder.aspect))

    async def _audio(self) -> None:
        """The stream's audio through one clock: speech, sound tagging and the fingerprint scan read its windows."""
        workers = self.parts.workers
        segmenter = SpeechSegmenter(workers.detect_speech, workers.transcribe, self.config.language)
        scanner = self.parts.moderation.audio_scanner(
            self.config.tenant, self.config.stream_id, self.config.time_offset
        )

        async def speech(window: AudioWindow) -> None:
            for span in await segmenter.push(window):
                await self._store_speech(span)

        async def scan(window: AudioWindow) -> None:
            self._publish(await scanner.scan(window))

        clock = AudioClock()
        clock.subscribe(speech, DETECT_EVERY_S, DETECT_EVERY_S)
        clock.subscribe(scan, AUDIO_WINDOW_S, AUDIO_HOP_S)
        clock.subscribe(self._store_sound, SOUND_WINDOW_S, SOUND_WINDOW_S)
        async for block in self.decoder.audio():
            await clock.push(block)
        await clock.flush()
        for span in await segmenter.flush():
            await self._store_speech(span)

    async def _store_speech(self, span: SpeechSpan) -> None:
        vector = await self.parts.workers.embed_text(span.translation or span.text)
        segment = self._segment(Modality.SPEECH, span.start, span.end, span.text, span.language, span.translation)
        await self._store(segment, vector)
        self.speech_indexed += 1
        self._publish(self.parts.moderation.check_segment(segment, vector))

    async def _store_sound(self, window: AudioWindow) -> None:
        workers = self.parts.workers
        for tagged in await workers.tag_sound(window.samples):
            start, end = window.start + tagged.start, window.start + tagged.end
            segment = self._segment(Modality.SOUND, start, end, f"[{tagged.caption}]")
            vector = tagged.vector
            if workers.embeds_sound:
                piece = window.samples[int(tagged.start * SAMPLE_RATE) : int(tagged.end * SAMPLE_RATE)]
                vector = (await workers.embed_sound([piece]))[0]
            await self._store(segment, vector)
            self.sound_indexed += 1
            self._publish(self.parts.moderation.check_segment(segment, vector))
