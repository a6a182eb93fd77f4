"""One Ingest call: chunks in, decoded, segmented, encoded, stored, checked; events out.

Three tasks run per stream: the feeder (chunks -> decoder, acks), frames (decoder -> image
worker -> segment index -> moderation) and audio (decoder -> the stream's AudioClock, whose
windows go to speech segmenting, sound tagging and moderation's fingerprint scan). Their events
meet in one queue that the call's response stream drains. A segment's event is sent only after
the index accepted it, so whatever a client saw acknowledged is searchable. If any task fails,
the others are cancelled, ffmpeg is killed and the error ends the call; what was stored stays.

Captions branch off the audio path before anything is stored: speech (live_speech.py) publishes
interim and final captions to the stream's caption feed (captions.py) as soon as Whisper has them,
and hands the spans to a lane that embeds, stores and checks them; sound captions go out before
their segments are stored; sound tagging and the fingerprint scan run in lanes of their own, so
neither holds up the speech. Frame descriptions (describe.py) come from the frames task, when asked.

Alerts raised by moderation go to alert delivery (AlertHub), which applies flood control and
hands them back to this call (the producer sees its stream's alerts) and to Watch calls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.alerts import AlertHub
from vigil_server.captions import Caption, CaptionHub, CaptionKind
from vigil_server.clock import AudioClock, AudioWindow, stream_time
from vigil_server.decode import DecodeSettings, MediaDecoder
from vigil_server.describe import SceneDescriber
from vigil_server.errors import InvalidRequest
from vigil_server.index import SegmentIndex
from vigil_server.lanes import Lane
from vigil_server.live_speech import LiveSpeech
from vigil_server.moderation import AUDIO_HOP_S, AUDIO_WINDOW_S, Moderation
from vigil_server.settings import CaptionSettings, SpeechSettings
from vigil_server.speech import SpeechRegions, SpeechSpan
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
# Chunks at least this big are digested (for exact matches) on a worker thread, smaller ones in place.
DIGEST_INLINE_BYTES = 256 << 10
# Audio is tagged for non-speech sound in consecutive windows this long.
SOUND_WINDOW_S = 5.0
# The streaming VAD gets the new audio at least this often (it scores each sample once, whatever the hop).
SPEECH_HOP_S = 0.2
# Windows a slow audio consumer (sound tagging, fingerprint scan) may have waiting before the clock waits.
LANE_BACKLOG = 8


@dataclass(frozen=True)
class IngestParts:
    """What an Ingest call uses, shared by every stream."""

    workers: ModelWorkers
    index: SegmentIndex
    moderation: Moderation
    alerts: AlertHub
    decode: DecodeSettings
    captions: CaptionHub = field(default_factory=lambda: CaptionHub(CaptionSettings()))
    speech: SpeechSettings = SpeechSettings()


class IngestSession:
    def __init__(self, parts: IngestParts, config: StreamConfig):
        self.parts = parts
        self.config = config
        self.decoder = MediaDecoder(
            config.format, config.frame_rate, parts.decode, (config.sample_rate, config.channels), full_frames=True
        )
        # What moderation's signals remember of this stream (vPDQ's recent frames, digests of its bytes).
        self.memory = parts.moderation.stream_memory(config.tenant, config.stream_id, config.time_offset)
        self.events: asyncio.Queue[IngestEvent | object] = asyncio.Queue()
        self.feed = parts.captions.feed(config.tenant, config.stream_id)
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
        self.feed.begin()
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
            self.feed.end()
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
            await self._finish_stream()
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
            if self.memory.reads_files:  # digests of the whole stream, for exact matches at its end
                if len(chunk.data) >= DIGEST_INLINE_BYTES:
                    await asyncio.to_thread(self.memory.feed, chunk.data)
                else:
                    self.memory.feed(chunk.data)
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
        workers = self.parts.workers
        label = workers.label_frame if workers.describes_frames else None
        describer = SceneDescriber(label, self.feed, self.parts.captions.settings, self.config.frame_rate,
                                   self.config.time_offset)  # fmt: skip
        try:
            index = 0
            async for frame, full in self.decoder.frames_and_full():
                describer.frame(index, frame)
                if len(in_flight) >= FRAMES_IN_FLIGHT:
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        task.result()
                in_flight.add(asyncio.create_task(self._index_frame(index, frame, full)))
                index += 1
            await asyncio.gather(*in_flight)
            await describer.close()
        finally:
            describer.cancel()
            for task in in_flight:
                task.cancel()

    async def _index_frame(self, index: int, frame: np.ndarray, full: np.ndarray | None = None) -> None:
        step = 1.0 / self.config.frame_rate
        vector, descriptor = await self.parts.workers.embed_frame(frame)
        segment = self._segment(Modality.FRAME, index * step, (index + 1) * step)
        await self._store(segment, vector, descriptor)
        self.frames_indexed += 1
        aspect = self.decoder.aspect
        alerts = await self.parts.moderation.check_frame(segment, vector, descriptor, frame, aspect, full, self.memory)
        self._publish(alerts)

    async def _finish_stream(self) -> None:
        """Every task is done: moderation checks the stream as a whole (exact matches of its bytes)."""
        decoder = self.decoder
        self._publish(await self.parts.moderation.finish_stream(self.memory, decoder.media_seconds,
                                                               decoder.frames_decoded > 0))  # fmt: skip

    async def _audio(self) -> None:
        """The stream's audio through one clock: speech, sound tagging and the fingerprint scan read its windows."""
        workers = self.parts.workers
        scanner = self.parts.moderation.audio_scanner(
            self.config.tenant, self.config.stream_id, self.config.time_offset
        )

        async def scan(window: AudioWindow) -> None:
            self._publish(await scanner.scan(window))

        stored = Lane(self._store_speech, name="speech-store")
        scans = Lane(scan, LANE_BACKLOG, name="fingerprint-scan")
        sounds = Lane(self._store_sound, LANE_BACKLOG, name="sound")
        regions = SpeechRegions(workers.scan_speech, workers.vad_window, self.parts.speech)
        speech = LiveSpeech(regions, workers, self.feed, lambda spans: self._queue_speech(stored, spans),
                            self.config.language, self.config.time_offset, self.parts.captions.settings)  # fmt: skip
        clock = AudioClock()
        clock.subscribe(speech.push, SPEECH_HOP_S, SPEECH_HOP_S)
        clock.subscribe(scans.put, AUDIO_WINDOW_S, AUDIO_HOP_S)
        clock.subscribe(sounds.put, SOUND_WINDOW_S, SOUND_WINDOW_S)
        try:
            async for block in self.decoder.audio():
                await clock.push(block)
            await clock.flush()
            await speech.flush()
            for lane in (stored, scans, sounds):
                await lane.drain()
        finally:
            await speech.close()
            for lane in (stored, scans, sounds):
                await lane.close()

    def _queue_speech(self, lane: Lane[Segment], spans: list[SpeechSpan]) -> list[str]:
        """Speech segments for the spans, queued for storage; returns their ids (for the final caption)."""
        segments = [self._segment(Modality.SPEECH, s.start, s.end, s.text, s.language, s.translation) for s in spans]
        for segment in segments:
            lane.put_nowait(segment)
        return [segment.segment_id for segment in segments]

    async def _store_speech(self, segment: Segment) -> None:
        vector = await self.parts.workers.embed_text(segment.translation or segment.text)
        await self._store(segment, vector)
        self.speech_indexed += 1
        self._publish(self.parts.moderation.check_segment(segment, vector))

    async def _store_sound(self, window: AudioWindow) -> None:
        workers = self.parts.workers
        tagged = await workers.tag_sound(window.samples)
        start = window.start
        segments = [self._segment(Modality.SOUND, start + t.start, start + t.end, f"[{t.caption}]") for t in tagged]
        for segment in segments:  # captions first: they wait for nothing but the tagger
            sound = Caption(segment.segment_id, CaptionKind.SOUND, True, segment.start, segment.end, segment.text)
            self.feed.publish(replace(sound, stable_text=segment.text, segment_ids=(segment.segment_id,)))
        # The next window's sounds start where this one ends.
        self.feed.progress(CaptionKind.SOUND, stream_time(window.end, self.config.time_offset))
        for found, segment in zip(tagged, segments, strict=True):
            vector = found.vector
            if workers.embeds_sound:
                piece = window.samples[int(found.start * SAMPLE_RATE) : int(found.end * SAMPLE_RATE)]
                vector = (await workers.embed_sound([piece]))[0]
            await self._store(segment, vector)
            self.sound_indexed += 1
            self._publish(self.parts.moderation.check_segment(segment, vector))
