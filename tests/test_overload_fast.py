"""Overload at its seams (overload.py, lanes.py, live_speech.py's finals): the frame drop policy and bounded queues.

The policy is tested with a scripted clock, the queues with asyncio alone, in milliseconds.
tests/test_overload.py runs the whole path on a real server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest

from tests.fakes import fake_model_set
from vigil.v1 import vigil_pb2
from vigil_models import SAMPLE_RATE, TranscriptPiece, VadState
from vigil_server.captions import CaptionHub
from vigil_server.clock import AudioWindow
from vigil_server.lanes import BoundedQueue, Lane
from vigil_server.live_speech import FINALS_BACKLOG, LiveSpeech
from vigil_server.overload import KEEP_EVERY_S, PACED_GAPS, FramePacer, LiveEdge, ProgressClock, SpeechPace
from vigil_server.settings import CaptionSettings, SpeechSettings
from vigil_server.speech import SpeechRegions, SpeechSpan
from vigil_server.types import Pacing
from vigil_server.wire import stream_config


class Clock:
    """A wall clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def live_edge(clock: Clock, paced: bool = True) -> LiveEdge:
    """A stream's edge; `paced`: the server has waited for its producer's chunks, as for a live source."""
    edge = LiveEdge(clock)
    edge.start()
    for _ in range(PACED_GAPS if paced else 0):
        edge.chunk_waited(0.5)
    return edge


def decisions(
    pacer: FramePacer, edge: LiveEdge, clock: Clock, frames: Sequence[tuple[float, float]], held_up: bool = True
) -> list[bool]:
    """Keep (True) or drop for frames given as (wall seconds since the first chunk, media seconds).

    A kept frame is stored at once; `held_up`: the stream waits for the server at every frame."""
    start = clock.t
    kept = []
    for wall, media in frames:
        clock.t = start + wall
        if held_up:
            edge.held_up(0.5)
        kept.append(pacer.keep(media))
        if kept[-1]:
            pacer.stored(media)
    return kept


# -- the policy at its seam


def test_a_live_stream_falling_behind_drops_frames_past_the_lag_but_keeps_one_every_few_seconds() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=3.0)
    # 8 frames per media second decoded at half speed, after a 2 s start-up: frame i lags i / 8 s.
    frames = [(2.0 + 0.25 * i, 0.125 * i) for i in range(120)]
    kept_at = [i for i, k in enumerate(decisions(pacer, edge, clock, frames)) if k]
    every = round(KEEP_EVERY_S * 8)
    assert kept_at == [*range(25), 24 + every, 24 + 2 * every]  # up to 3 s of lag, then one every 5 s
    assert pacer.dropped == 120 - len(kept_at)
    assert pacer.lag == pacer.max_lag == (24 + 2 * every) / 8  # the last frame stored


def test_the_start_up_delay_is_not_lag() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=0.5)
    # The decoder probes 2.5 s of the stream before the first frame, then keeps real time (with jitter).
    frames = [(2.5 + 0.1 * i + (0.3 if i % 7 == 0 else 0.0), 0.1 * i) for i in range(100)]
    assert all(decisions(pacer, edge, clock, frames))
    assert pacer.dropped == 0 and pacer.max_lag == pytest.approx(0.3)


def test_time_spent_encoding_counts_towards_the_lag() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=2.0)
    kept = []
    for i in range(40):  # decoded at real time, but each frame takes 4 s to be stored
        clock.t = 101.0 + 0.25 * i
        kept.append(pacer.keep(0.25 * i))
        if kept[-1]:
            clock.t += 4.0
            pacer.stored(0.25 * i)
            clock.t -= 4.0
    assert pacer.delay == 4.0 and pacer.max_lag == 4.0
    assert kept[0] and not any(kept[1:20]) and kept[20]  # after the first, one every 5 s


def test_a_late_frame_is_kept_for_visibility_only_when_none_of_the_stream_is_being_encoded() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=1.0)
    clock.t += 1.0
    assert pacer.keep(0.0)  # the first frame: still being encoded
    clock.t += 20.0
    edge.held_up(0.5)
    assert not pacer.keep(6.0)  # 14 s late, 6 s after the last kept frame, but that one is in the encoder
    pacer.stored(0.0)
    assert pacer.keep(6.25)  # now it goes


def test_a_stream_sent_faster_than_the_server_takes_it_is_never_dropped() -> None:
    clock = Clock()
    edge = live_edge(clock, paced=False)  # an upload: its next chunk is always there
    pacer = FramePacer(edge, max_lag_s=1.0)
    frames = [(0.5 + 0.2 * i, 0.1 * i) for i in range(100)]  # the server at half of real time
    assert all(decisions(pacer, edge, clock, frames))
    assert pacer.dropped == 0 and not edge.ahead and pacer.lag > 9


def test_a_stream_that_ran_ahead_of_real_time_is_never_dropped_however_far_behind_it_falls() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=1.0)
    fast = [(0.1 + 0.05 * i, 0.5 * i) for i in range(10)]  # 10 x real time at first
    slow = [(0.6 + 10.0 * i, 5.0 + 0.5 * i) for i in range(10)]  # then the server slows to 1/20 of real time
    assert all(decisions(pacer, edge, clock, fast + slow))
    assert edge.ahead and not edge.paced and pacer.dropped == 0 and pacer.lag > 50


def test_a_producer_slower_than_real_time_is_not_dropped_from_when_the_server_keeps_up() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=1.0)
    frames = [(2.0 + 0.125 * i, 0.1 * i) for i in range(100)]  # media arrives at 0.8 x real time
    assert all(decisions(pacer, edge, clock, frames, held_up=False))
    assert pacer.dropped == 0 and pacer.lag > 2  # behind, and reported, but not the server's doing
    edge.held_up(0.5)  # the server starts holding it up: now it drops
    assert not pacer.keep(10.0)


def test_a_declared_upload_is_never_dropped_and_a_declared_live_stream_needs_no_pacing_evidence() -> None:
    frames = [(2.0 + 0.25 * i, 0.125 * i) for i in range(80)]  # falling behind at half speed, as above
    kept = {}
    for declared in (None, False, True):
        clock = Clock()
        edge = LiveEdge(clock, declared=declared)  # no waits for the producer's chunks: no timing evidence
        edge.start()
        pacer = FramePacer(edge, max_lag_s=3.0)
        kept[declared] = sum(decisions(pacer, edge, clock, frames))
    assert kept[None] == kept[False] == 80  # undeclared without pacing evidence, and a declared upload: all kept
    assert kept[True] < 40  # declared live: dropped past the lag


def test_stream_config_pacing_reaches_the_session_and_unknown_values_mean_auto() -> None:
    from vigil_server.types import Pacing

    def pacing(value: int) -> Pacing:
        return stream_config(vigil_pb2.StreamConfig(stream_id="s", format="mpegts", pacing=value), 1.0).pacing

    assert pacing(vigil_pb2.PACING_LIVE) is Pacing.LIVE
    assert pacing(vigil_pb2.PACING_UPLOAD) is Pacing.UPLOAD
    assert pacing(vigil_pb2.PACING_UNSPECIFIED) is Pacing.AUTO
    assert pacing(7) is Pacing.AUTO  # a newer client's value this server does not know


def test_a_max_lag_of_zero_drops_nothing() -> None:
    clock = Clock()
    edge = live_edge(clock)
    pacer = FramePacer(edge, max_lag_s=0.0)
    assert all(decisions(pacer, edge, clock, [(1.0 * i, 0.1 * i) for i in range(50)]))
    assert pacer.dropped == 0 and pacer.max_lag > 40


def test_speech_lag_is_measured_against_the_same_live_edge() -> None:
    clock = Clock()
    edge = LiveEdge(clock)
    edge.start()
    speech, pacer = SpeechPace(edge), FramePacer(edge, 3.0)
    clock.t += 2.0
    pacer.keep(0.0)  # the best: 2 s behind
    clock.t += 4.0
    speech.scanned(1.0)  # 5 s behind: 3 s more than the best
    assert speech.lag == pytest.approx(3.0) and speech.max_lag == pytest.approx(3.0)


def test_progress_is_due_each_time_the_media_passes_a_whole_second() -> None:
    progress = ProgressClock()
    seen = [m for m in (0.5, 0.99, 1.0, 1.2, 1.9, 3.7, 3.9, 4.0, 4.5) if progress.due(m)]
    assert seen == [1.0, 3.7, 4.0]


# -- bounded queues


def test_a_bounded_queue_makes_put_wait_refuses_offers_when_full_and_takes_urgent_items() -> None:
    async def strict() -> None:
        queue: BoundedQueue[int] = BoundedQueue(2)
        await queue.put(1)
        await queue.put(2)
        assert not queue.offer(99)  # left out: the next offer supersedes it
        queue.put_urgent(3)  # an alert, the end of the stream: never waits
        waiting = asyncio.create_task(queue.put(4))
        await asyncio.sleep(0.01)
        assert await queue.get() == 1
        await asyncio.sleep(0.01)
        assert not waiting.done(), "2 still wait: no room yet"
        assert await queue.get() == 2
        await asyncio.sleep(0.01)
        assert waiting.done() and len(queue) == 2
        assert [await queue.get(), await queue.get()] == [3, 4]

    asyncio.run(strict())


def test_a_lane_takes_items_over_its_backlog_without_waiting_and_room_waits_for_the_consumer() -> None:
    async def main() -> list[int]:
        gate = asyncio.Event()
        handled: list[int] = []

        async def consume(item: int) -> None:
            await gate.wait()
            handled.append(item)

        lane: Lane[int] = Lane(consume, backlog=3)
        for item in range(8):
            lane.put_nowait(item)  # a callback cannot wait: accepted over the backlog
        room = asyncio.create_task(lane.room())
        await asyncio.sleep(0.01)
        assert not room.done() and len(lane) >= 3
        gate.set()
        await asyncio.wait_for(room, 5)
        await lane.drain()
        await lane.close()
        return handled

    assert asyncio.run(main()) == list(range(8))


@dataclass
class HeldRecognizer:
    """Transcribes every region as one word, but only once `release` is set."""

    release: asyncio.Event
    answered: int = 0

    @property
    def transcriptions_pending(self) -> int:
        return 1  # never idle: no speculative or interim transcriptions

    async def transcribe(
        self, audio: np.ndarray, language: str, *, words: bool = False, translate: bool = True, wait: bool = True
    ) -> list[TranscriptPiece]:
        await self.release.wait()
        self.answered += 1
        return [TranscriptPiece(0.0, audio.size / SAMPLE_RATE, f"word{self.answered}", "en")]


def test_speech_regions_waiting_for_whisper_are_bounded_and_none_is_lost() -> None:
    """With Whisper stalled, pushing audio waits once FINALS_BACKLOG finished regions wait; none is dropped."""
    detector = fake_model_set().detector
    t = np.arange(round(0.5 * SAMPLE_RATE)) / SAMPLE_RATE
    voice = (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    pause = np.zeros(round(1.0 * SAMPLE_RATE), np.float32)
    regions_said = 12
    audio = np.concatenate([np.concatenate([voice, pause]) for _ in range(regions_said)])

    async def scan(state: VadState, samples: np.ndarray) -> tuple[np.ndarray, VadState]:
        return detector.scan(state, samples)

    async def main() -> tuple[int, list[SpeechSpan], bool]:
        settings = CaptionSettings(interim_every_s=0)
        feed = CaptionHub(settings).feed("default", "s")
        stored: list[SpeechSpan] = []

        def store(spans: list[SpeechSpan]) -> list[str]:
            stored.extend(spans)
            return [f"seg-{len(stored)}" for _ in spans]

        recognizer = HeldRecognizer(asyncio.Event())
        live = LiveSpeech(SpeechRegions(scan, detector.window, SpeechSettings()), recognizer, feed, store, "en", 0.0,
                          settings)  # fmt: skip
        block = round(0.2 * SAMPLE_RATE)

        async def push_all() -> None:
            for at in range(0, audio.size, block):
                await live.push(AudioWindow(at, audio[at : at + block]))
            await live.flush()

        pushing = asyncio.create_task(push_all())
        await asyncio.sleep(0.5)
        blocked = not pushing.done()
        waiting = len(live._unpublished)  # finished regions not transcribed yet
        recognizer.release.set()
        await asyncio.wait_for(pushing, 10)
        await live.close()
        return waiting, stored, blocked

    waiting, stored, blocked = asyncio.run(main())
    assert blocked, "pushing audio did not wait for the stalled transcriptions"
    assert waiting <= FINALS_BACKLOG + 2  # queued, the one being transcribed, the one waiting to be queued
    assert len(stored) == regions_said
