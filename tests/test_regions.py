"""Streaming VAD: speech regions decided as the audio arrives (regions.py, speech.SpeechRegions, vigil_models.vad).

The tracker gets synthetic probabilities and energies, so its rules are checked exactly; the
streaming Silero model is checked against one whole-file pass on espeak-ng speech.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import load_audio
from tests.fakes import fake_model_set
from vigil_models import SAMPLE_RATE, VadState
from vigil_models.vad import WINDOW, StreamingSilero
from vigil_server.clock import AudioWindow
from vigil_server.regions import Region, RegionTracker
from vigil_server.settings import SpeechSettings
from vigil_server.speech import RegionAudio, SpeechRegions

SETTINGS = SpeechSettings()  # 0.6 s of silence ends a region, 6 s at most, 0.25 s of speech at least
PAD = round(SETTINGS.pad_s * SAMPLE_RATE)
W = WINDOW
PER_S = SAMPLE_RATE / W  # windows per second


def windows(seconds: float) -> int:
    return round(seconds * PER_S)


def feed(pattern: list[tuple[float, float]], energy: np.ndarray | None = None) -> tuple[list[Region], RegionTracker]:
    """(probability, seconds) runs through a tracker, in uneven batches; then the end of the stream."""
    probs = np.concatenate([np.full(windows(s), p, np.float32) for p, s in pattern])
    energies = np.ones_like(probs, dtype=np.float64) if energy is None else energy
    tracker = RegionTracker(SETTINGS, W)
    regions: list[Region] = []
    at = 0
    for size in [7, 1, 30, 13] * (probs.size // 51 + 1):
        regions += tracker.feed(probs[at : at + size], energies[at : at + size])
        at += size
    return regions + tracker.finish(probs.size * W), tracker


def test_a_pause_ends_a_region_with_its_padding() -> None:
    regions, _ = feed([(0.0, 2.0), (0.9, 1.5), (0.0, 3.0)])
    assert len(regions) == 1
    region = regions[0]
    assert region.start == windows(2.0) * W - PAD
    assert region.end == windows(3.5) * W + PAD
    assert not region.cut


def test_short_pauses_and_uncertain_windows_do_not_split_speech() -> None:
    # 0.4 s pause (< 0.6 s), then windows between the thresholds (0.35-0.5) that continue the speech.
    pattern = [(0.0, 1.0), (0.9, 1.0), (0.1, 0.4), (0.9, 1.0), (0.4, 1.0), (0.9, 0.5), (0.0, 2.0)]
    regions, _ = feed(pattern)
    assert len(regions) == 1
    assert regions[0].end == sum(windows(s) for _, s in pattern[:-1]) * W + PAD


def test_blips_shorter_than_the_minimum_are_dropped() -> None:
    regions, _ = feed([(0.0, 1.0), (0.9, 0.1), (0.0, 2.0), (0.9, 0.5), (0.0, 2.0)])
    assert len(regions) == 1 and regions[0].start > 2.5 * SAMPLE_RATE  # the 0.5 s burst, not the 0.1 s one


def test_continuous_speech_is_cut_at_the_quietest_point_of_each_second_half() -> None:
    total = windows(30.0)
    energy = np.ones(total, dtype=np.float64)
    dips = [windows(t) for t in (2.0, 4.3, 7.9, 12.4, 14.0, 20.5, 25.0)]  # word gaps, some too early to use
    for d in dips:
        energy[d] = 1e-4
    regions, _ = feed([(0.9, 30.0)], energy)
    assert len(regions) >= 5
    assert all(r.cut for r in regions[:-1]) and not regions[-1].cut
    for a, b in itertools.pairwise(regions):
        assert a.end == b.start  # contiguous: no speech lost, none transcribed twice
    for r in regions[:-1]:
        assert SETTINGS.max_region_s / 2 * SAMPLE_RATE - W <= r.end - r.start <= SETTINGS.max_region_s * SAMPLE_RATE
        if any(r.start + (r.end - r.start) / 2 <= d * W < r.start + SETTINGS.max_region_s * SAMPLE_RATE for d in dips):
            assert (r.end - W // 2) // W in dips, f"cut at {r.end / SAMPLE_RATE:.2f} s, not at a dip"
    assert regions[-1].end == total * W


def test_keep_from_bounds_what_must_stay_buffered() -> None:
    _, tracker = feed([(0.0, 10.0)])
    assert tracker.open_start is None
    assert tracker.keep_from == windows(10.0) * W - PAD
    tracker.feed(np.full(5, 0.9, np.float32), np.ones(5))
    assert tracker.open_start == tracker.keep_from == windows(10.0) * W - PAD


def run_regions(audio: np.ndarray, blocks: list[int]) -> tuple[list[RegionAudio], int]:
    """Fake detector's probabilities through SpeechRegions in the given block sizes; (regions, samples kept at most)."""
    models = fake_model_set()

    async def scan(state: VadState, samples: np.ndarray) -> tuple[np.ndarray, VadState]:
        return models.detector.scan(state, samples)

    async def main() -> tuple[list[RegionAudio], int]:
        regions = SpeechRegions(scan, models.detector.window, SETTINGS)
        found: list[RegionAudio] = []
        at, i, kept = 0, 0, 0
        while at < audio.size:
            size = blocks[i % len(blocks)]
            found += await regions.push(AudioWindow(at, audio[at : at + size]))
            kept = max(kept, regions.held)
            at += size
            i += 1
        return found + regions.flush(), kept

    return asyncio.run(main())


def tone(freq: float, seconds: float) -> np.ndarray:
    return (0.25 * np.sin(2 * np.pi * freq * np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE)).astype(np.float32)


def test_regions_do_not_depend_on_how_the_audio_is_cut_and_memory_stays_bounded() -> None:
    silence = np.zeros(SAMPLE_RATE * 20, np.float32)
    audio = np.concatenate([silence[: SAMPLE_RATE * 3], tone(440, 2.0), silence, tone(660, 1.5), silence[:16000]])
    whole, _ = run_regions(audio, [audio.size])
    chunked, kept = run_regions(audio, [8000, 333, 16000, 511])
    assert [(r.first_sample, r.samples.size) for r in whole] == [(r.first_sample, r.samples.size) for r in chunked]
    expected = [3.0 - SETTINGS.pad_s, 25.0 - SETTINGS.pad_s]  # the pad before each tone
    assert [r.start for r in chunked] == pytest.approx(expected, abs=W / SAMPLE_RATE)
    for region in chunked:  # the buffer kept the right samples
        assert np.array_equal(region.samples, audio[region.first_sample : region.first_sample + region.samples.size])
    assert kept < 4 * SAMPLE_RATE  # a region and a block or two: 20 s of silence never piled up


def test_streaming_silero_scores_each_sample_once_like_a_whole_file_pass(tmp_path: Path) -> None:
    wav = tmp_path / "say.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), "Seven green bottles stood on the table."], check=True)
    audio = np.concatenate([np.zeros(SAMPLE_RATE, np.float32), load_audio(wav), np.zeros(SAMPLE_RATE, np.float32)])
    model = StreamingSilero()
    whole, whole_state = model.scan(VadState(), audio)
    state, parts = VadState(), []
    for at in range(0, audio.size, 3001):  # blocks that are no multiple of the window
        probs, state = model.scan(state, audio[at : at + 3001])
        parts.append(probs)
    streamed = np.concatenate(parts)
    assert streamed.size == whole.size == audio.size // W == state.windows == whole_state.windows
    assert np.abs(streamed - whole).max() < 0.05
    assert whole[: windows(0.8)].max() < 0.35 and whole.max() > 0.9  # silence first, then speech
    assert state.pending.size == audio.size % W


@pytest.mark.parametrize("min_silence", [0.3, 1.5])
def test_the_silence_setting_is_honoured(min_silence: float) -> None:
    settings = SpeechSettings(min_silence_s=min_silence)
    tracker = RegionTracker(settings, W)
    probs = np.concatenate([np.full(windows(1.0), 0.9), np.zeros(windows(1.0))]).astype(np.float32)
    regions = tracker.feed(probs, np.ones(probs.size))
    assert len(regions) == (1 if min_silence < 1.0 else 0)


def test_regions_grow_to_the_busy_bound_only_while_transcriptions_queue_up() -> None:
    settings = SpeechSettings(max_region_s=6.0, max_region_busy_s=20.0)
    busy = [True]
    tracker = RegionTracker(settings, W, lambda: busy[0])
    speech = np.full(windows(1.0), 0.9, dtype=np.float32)
    lengths: list[float] = []
    for second in range(60):
        busy[0] = second < 30  # a queue for Whisper in the first half minute, none after
        lengths += [(r.end - r.start) / SAMPLE_RATE for r in tracker.feed(speech, np.ones(speech.size))]
    # Busy: cut only at 20 s (in the second half: 10-20 s long); then at 6 s again (3-6 s long).
    assert lengths[0] > 6.0 and all(10.0 <= x <= 20.0 for x in lengths[:1]), lengths
    assert all(3.0 <= x <= 6.0 + 0.1 for x in lengths[-3:]), lengths
    assert max(lengths) <= 20.0 + 0.1
