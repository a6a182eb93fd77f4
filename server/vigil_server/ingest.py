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

Every queue is bounded (overload.py). Acks and stored segments wait for room in the event queue,
so a client that does not read its events is not read from either; speech waits (its finals, its
store lane), and so slows the stream down; sampled frames of a live stream that falls more than
`--max-frame-lag` behind real time are dropped before they are encoded (FramePacer), counted, and
reported with the lags in a StreamProgress event once per second of media and in the summary.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from vigil_models import SAMPLE_RATE, PeopleFound
from vigil_server.alerts import AlertHub
from vigil_server.captions import Caption, CaptionHub, CaptionKind
from vigil_server.clock import AudioClock, AudioWindow, stream_time
from vigil_server.decode import DecodeSettings, MediaDecoder
from vigil_server.describe import SceneDescriber
from vigil_server.errors import InvalidRequest
from vigil_server.frame_people import PeopleSchedule
from vigil_server.idle import not_idle
from vigil_server.index import SegmentIndex
from vigil_server.lanes import BoundedQueue, Lane
from vigil_server.live_speech import LiveSpeech
from vigil_server.metrics import DecodeTimes, Metrics
from vigil_server.moderation import AUDIO_HOP_S, AUDIO_WINDOW_S, Moderation
from vigil_server.onscreen import OnScreenText
from vigil_server.overload import FramePacer, LiveEdge, ProgressClock, SpeechPace
from vigil_server.settings import CaptionSettings, IngestSettings, LimitSettings, SpeechSettings
from vigil_server.shots import Shot, ShotDetector
from vigil_server.speech import SpeechRegions, SpeechSpan
from vigil_server.types import (
    Alert,
    Box,
    Chunk,
    ChunkAcked,
    IngestEvent,
    IngestSummary,
    Modality,
    Pacing,
    Segment,
    SegmentStored,
    StreamConfig,
    StreamProgress,
    WatchFilter,
)
from vigil_server.workers import FrameFindings, ModelWorkers

log = logging.getLogger(__name__)

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
# Transcriptions waiting (all streams) from which speech regions may grow to --speech-max-region-busy: one is a
# stream's own last region in flight; more means streams queue for Whisper.
BUSY_TRANSCRIPTIONS = 2
# Speech segments waiting to be embedded and stored before the stream's audio waits.
SPEECH_STORE_BACKLOG = 64
# Events (acks, stored segments) waiting for the client to read them before their producers wait.
EVENTS_BACKLOG = 256


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
    ingest: IngestSettings = IngestSettings()
    limits: LimitSettings = LimitSettings()
    metrics: Metrics = field(default_factory=Metrics)  # app.assemble hands in the server's


class IngestSession:
    def __init__(self, parts: IngestParts, config: StreamConfig):
        self.parts = parts
        self.config = config
        self.decoder = MediaDecoder(
            config.format, config.frame_rate, parts.decode, (config.sample_rate, config.channels), full_frames=True
        )
        # What moderation's signals remember of this stream (vPDQ's recent frames, digests of its bytes).
        self.memory = parts.moderation.stream_memory(config.tenant, config.stream_id, config.time_offset)
        # Acks and stored segments wait for room; alerts and the end never wait (overload.py).
        self.events: BoundedQueue[IngestEvent | object] = BoundedQueue(EVENTS_BACKLOG)
        declared = {Pacing.LIVE: True, Pacing.UPLOAD: False}.get(config.pacing)
        self.edge = LiveEdge(declared=declared)  # the stream against real time: frames dropped, lags reported
        self.pacer = FramePacer(self.edge, parts.ingest.max_frame_lag_s)
        self.people = PeopleSchedule()  # which frames run the people detector (the rest reuse their shot's answer)
        self.speech_pace = SpeechPace(self.edge)
        self.progress_clock = ProgressClock()
        self.media_position = 0.0  # seconds of media decoded (frames or audio, whichever is further)
        self.feed = parts.captions.feed(config.tenant, config.stream_id)
        self.chunks = 0
        self.bytes = 0
        self.frames_indexed = 0
        self.speech_indexed = 0
        self.sound_indexed = 0
        self.text_indexed = 0  # on-screen text segments
        self.alerts = 0
        self.metrics = parts.metrics
        self.audio_decoded = DecodeTimes()  # when each audio block left the decoder (speech and sound latency)

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
        self.metrics.stream_started()
        log.info("stream %s: ingest began (%s, %g fps)", self.config.stream_id[:80], self.config.format[:20],
                 self.config.frame_rate)  # fmt: skip
        try:
            while (event := await self.events.get()) is not _DONE:
                yield event  # type: ignore[misc]
            await supervisor  # raises the first task failure, if any
            await self.decoder.wait()
            self._log_end(time.monotonic() - began)
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
                frames_dropped=self.pacer.dropped,
                max_frame_lag_s=self.pacer.max_lag,
                max_speech_lag_s=self.speech_pace.max_lag,
                on_screen_text_segments_indexed=self.text_indexed,
            )
        finally:
            self.metrics.stream_ended(self.config.tenant, self.config.stream_id)
            unsubscribe()
            for task in [*tasks, supervisor]:
                task.cancel()
            await asyncio.gather(*tasks, supervisor, return_exceptions=True)
            self.feed.end()
            await self.decoder.close()

    def _log_end(self, wall_s: float) -> None:
        log.info("stream %s: ingest ended: %d chunks, %d bytes, %.1f s of media in %.1f s; stored %d frames "
                 "(%d dropped), %d speech, %d sound, %d on-screen text segments; %d alerts", self.config.stream_id[:80],
                 self.chunks, self.bytes, self.decoder.media_seconds, wall_s, self.frames_indexed, self.pacer.dropped,
                 self.speech_indexed, self.sound_indexed, self.text_indexed, self.alerts)  # fmt: skip

    def _alert(self, alert: Alert) -> None:
        self.alerts += 1
        self.events.put_urgent(alert)

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
            self.events.put_urgent(_DONE)

    async def _feed(self, chunks: AsyncIterator[Chunk]) -> None:
        waited_from = time.monotonic()
        async for chunk in self._not_idle(chunks):
            if self.chunks:  # a wait for the producer (the first is its start, not its pace)
                self.edge.chunk_waited(time.monotonic() - waited_from)
            self.edge.start()
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
            fed_from = time.monotonic()
            await self.decoder.feed(chunk.data)
            self.edge.held_up(time.monotonic() - fed_from)  # the decoder was not reading: the server holds it up
            await self.events.put(ChunkAcked(chunk.sequence, self.bytes))
            waited_from = time.monotonic()
        await self.decoder.finish()

    def _not_idle(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        """The chunks; IdleTimeout when the next one takes more than --stream-idle-timeout (the slot is freed)."""
        return not_idle(chunks, self.parts.limits.stream_idle_timeout_s, "chunk", "chunk",
                        "its stream slot is free again; send chunks without long pauses, or end the call and resume "
                        "the stream later in a new one (StreamConfig.time_offset)")  # fmt: skip

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

    async def _store(
        self,
        segment: Segment,
        vector: np.ndarray,
        descriptor: np.ndarray | None = None,
        decoded_for: float | None = None,
    ) -> None:
        """Store the segment, then send its event; `decoded_for`: seconds since its media left the decoder."""
        await self.parts.index.insert(segment, vector, descriptor)
        self.metrics.segment_stored(segment.modality, decoded_for)
        await self.events.put(SegmentStored(segment))

    async def _frames(self) -> None:
        """Encode frames as they come, up to FRAMES_IN_FLIGHT at once so the image worker can batch."""
        in_flight: set[asyncio.Task[None]] = set()
        workers = self.parts.workers
        label = workers.label_frame if workers.describes_frames else None
        describer = SceneDescriber(label, self.feed, self.parts.captions.settings, self.config.frame_rate,
                                   self.config.time_offset)  # fmt: skip
        shots = ShotDetector(self.parts.ingest.shot_change)  # shot starts: descriptions, on-screen text, segments
        onscreen = self._on_screen_text()
        new_shot = False  # a shot began since the last frame kept
        try:
            index = 0
            async for frame, full in self.decoder.frames_and_full():
                decoded_at = time.monotonic()
                shot = shots.next(frame)
                describer.frame(index, frame, shot.start)
                new_shot = new_shot or shot.start
                keep = self.pacer.keep(index / self.config.frame_rate)  # False: dropped, the stream is behind
                self._progress((index + 1) / self.config.frame_rate)
                if not keep:
                    self.metrics.frame_dropped()
                    index += 1
                    continue
                if onscreen is not None:
                    await onscreen.frame(index, frame, full, new_shot, wait=not self.edge.paced)  # uploads lose none
                shot = replace(shot, start=new_shot)  # the first frame kept of a shot starts it (if its first dropped)
                new_shot = False
                if len(in_flight) >= FRAMES_IN_FLIGHT:
                    waited_from = time.monotonic()
                    done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                    self.edge.held_up(time.monotonic() - waited_from)
                    for task in done:
                        task.result()
                in_flight.add(asyncio.create_task(self._index_frame(index, frame, full, shot, decoded_at)))
                index += 1
            await asyncio.gather(*in_flight)
            await describer.close()
            if onscreen is not None:
                await onscreen.drain()
                log.info("stream %s: %d shots; on-screen text read on %d frames, %d dropped, %d segments",
                         self.config.stream_id, shots.shots, onscreen.offered, onscreen.dropped,
                         onscreen.stored)  # fmt: skip
        finally:
            describer.cancel()
            for task in in_flight:
                task.cancel()
            if onscreen is not None:
                await onscreen.close()

    def _on_screen_text(self) -> OnScreenText | None:
        """The stream's on-screen text reader (a lane of its own), or None when text is not read."""
        workers, settings = self.parts.workers, self.parts.ingest
        if not workers.reads_text or settings.on_screen_text != "on":
            return None

        async def store(segment: Segment, vector: np.ndarray) -> None:
            await self._store(segment, vector)
            self.text_indexed += 1
            self._publish(self.parts.moderation.check_segment(segment, vector))

        return OnScreenText(workers.read_text, workers.embed_text, store, self._segment, self.config.frame_rate,
                            settings.text_refresh_s, settings.text_backlog)  # fmt: skip

    async def _index_frame(
        self, index: int, frame: np.ndarray, full: np.ndarray | None, shot: Shot, decoded_at: float
    ) -> None:
        step = 1.0 / self.config.frame_rate
        workers = self.parts.workers
        fresh, people = self.people.plan(index * step, shot.start)  # before any await: frames plan in order
        # The frame detectors (people, explicit score) see the frame at its own size, beside the encoder.
        (vector, descriptor), found = await asyncio.gather(
            workers.embed_frame(frame), self._detect(full if full is not None else frame, fresh, people)
        )
        vector = workers.mix_people(vector, found)
        segment = self._segment(Modality.FRAME, index * step, (index + 1) * step)
        segment = replace(segment, shot_start=shot.start, scene_score=shot.score, **frame_findings(found))
        await self._store(segment, vector, descriptor, time.monotonic() - decoded_at)
        self.frames_indexed += 1
        self.pacer.stored(index / self.config.frame_rate)
        aspect = self.decoder.aspect
        alerts = await self.parts.moderation.check_frame(segment, vector, descriptor, frame, aspect, full, self.memory)
        self._publish(alerts)

    async def _detect(
        self, frame: np.ndarray, fresh: bool, people: asyncio.Future[PeopleFound | None]
    ) -> FrameFindings:
        """The frame's explicit score and its people: its own when `fresh`, else those of the frame it follows."""
        workers = self.parts.workers
        if not workers.detects_people:
            return await workers.detect_frame(frame, people=False)
        if not fresh:
            found = await workers.detect_frame(frame, people=False)
            return replace(found, people=await asyncio.shield(people))
        try:
            found = await workers.detect_frame(frame, people=True)
        except BaseException as exc:
            if not people.done():
                people.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            raise
        people.set_result(found.people)
        return found

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

        stored = Lane(self._store_speech, SPEECH_STORE_BACKLOG, name="speech-store")
        scans = Lane(scan, LANE_BACKLOG, name="fingerprint-scan")
        sounds = Lane(self._store_sound, LANE_BACKLOG, name="sound")
        regions = SpeechRegions(workers.scan_speech, workers.vad_window, self.parts.speech,
                                lambda: workers.transcriptions_pending >= BUSY_TRANSCRIPTIONS)  # fmt: skip
        speech = LiveSpeech(regions, workers, self.feed, lambda spans: self._queue_speech(stored, spans),
                            self.config.language, self.config.time_offset, self.parts.captions.settings)  # fmt: skip
        clock = AudioClock()
        clock.subscribe(speech.push, SPEECH_HOP_S, SPEECH_HOP_S)
        clock.subscribe(scans.put, AUDIO_WINDOW_S, AUDIO_HOP_S)
        clock.subscribe(sounds.put, SOUND_WINDOW_S, SOUND_WINDOW_S)
        try:
            async for block in self.decoder.audio():
                await stored.room()  # speech is never dropped: while its segments wait, the stream waits
                self.audio_decoded.decoded(clock.seconds + block.size / SAMPLE_RATE)
                await clock.push(block)
                self.speech_pace.scanned(clock.seconds)
                self._progress(clock.seconds)
            await clock.flush()
            await speech.flush()
            for lane in (stored, scans, sounds):
                await lane.drain()
        finally:
            await speech.close()
            for lane in (stored, scans, sounds):
                await lane.close()

    def _progress(self, media_s: float) -> None:
        """Media decoded up to `media_s`: a StreamProgress event each time it passes another whole second."""
        self.media_position = max(self.media_position, media_s)
        if self.progress_clock.due(self.media_position):
            self.metrics.stream_lag(self.config.tenant, self.config.stream_id, self.pacer.lag, self.speech_pace.lag)
            self.events.offer(  # left out while the client is not reading: the next one says the same, updated
                StreamProgress(
                    media_seconds=self.media_position,
                    frame_lag_s=self.pacer.lag,
                    speech_lag_s=self.speech_pace.lag,
                    frames_dropped=self.pacer.dropped,
                    frames_indexed=self.frames_indexed,
                    live=self.edge.paced,
                )
            )

    def _queue_speech(self, lane: Lane[Segment], spans: list[SpeechSpan]) -> list[str]:
        """Speech segments for the spans, queued for storage; returns their ids (for the final caption)."""
        segments = [self._segment(Modality.SPEECH, s.start, s.end, s.text, s.language, s.translation) for s in spans]
        for segment in segments:
            lane.put_nowait(segment)
        return [segment.segment_id for segment in segments]

    async def _store_speech(self, segment: Segment) -> None:
        vector = await self.parts.workers.embed_text(segment.translation or segment.text)
        await self._store(segment, vector, decoded_for=self.audio_decoded.since(segment.end - self.config.time_offset))
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
            await self._store(segment, vector, decoded_for=self.audio_decoded.since(window.end))
            self.sound_indexed += 1
            self._publish(self.parts.moderation.check_segment(segment, vector))


def frame_findings(found: FrameFindings) -> dict[str, Any]:
    """Segment fields for what the frame detectors saw (none for a detector that is off)."""
    fields: dict[str, Any] = {}
    if found.explicit_score is not None:
        fields["explicit_score"] = round(float(found.explicit_score), 4)
    if found.people is not None:
        people = found.people
        boxes = tuple(Box(b.x, b.y, b.width, b.height) for b in people.people + people.faces)
        fields.update(person_count=people.person_count, face_count=people.face_count, people_boxes=boxes)
    return fields
