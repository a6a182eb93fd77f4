"""Segment stage: the real VAD and Whisper tiny.en, behind started BatchWorkers, on espeak-ng speech."""

from __future__ import annotations

import asyncio
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import load_audio
from vigil_models import SAMPLE_RATE, SpeechDetector, Transcriber, TranscriptPiece, VadState, pick_device
from vigil_models.catalog import speech_model_dir
from vigil_server.batching import BatchOptions, BatchWorker
from vigil_server.clock import AudioWindow
from vigil_server.settings import SpeechSettings
from vigil_server.speech import SpeechRegions, SpeechSegmenter, SpeechSpan

pytestmark = pytest.mark.slow  # real models

BLOCK_S = 0.5  # the decoder's audio block
FIRST = "The lighthouse keeper painted the door bright orange."
SECOND = "Seven green bottles stood on the kitchen table."


@dataclass(frozen=True)
class Models:
    detector: SpeechDetector
    transcriber: Transcriber


@dataclass
class Result:
    live: list[tuple[float, SpeechSpan]]  # (seconds of audio pushed when it came out, span)
    flushed: list[SpeechSpan]

    @property
    def spans(self) -> list[SpeechSpan]:
        return [span for _, span in self.live] + self.flushed


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Models:
    cache = tmp_path_factory.mktemp("speech-cache")
    transcriber = Transcriber(speech_model_dir("tiny.en", cache), pick_device(), multilingual=False)
    return Models(SpeechDetector(), transcriber)


def speech(text: str, tmp: Path) -> np.ndarray:
    """espeak-ng saying the text, as float32 mono at 16 kHz."""
    wav = tmp / "say.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), text], check=True)
    return load_audio(wav)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def sentences(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    tmp = tmp_path_factory.mktemp("speech")
    return speech(FIRST, tmp), speech(SECOND, tmp)


def segment(models: Models, audio: np.ndarray) -> Result:
    """Push the audio in decoder-sized blocks, then flush, through workers like the pipeline's."""

    def vad(batch: list[tuple[VadState, np.ndarray]]) -> list[tuple[np.ndarray, VadState]]:
        return [models.detector.scan(state, a) for state, a in batch]

    def asr(batch: list[tuple[np.ndarray, str]]) -> list[list[TranscriptPiece]]:
        return [models.transcriber.transcribe(a, language) for a, language in batch]

    options = BatchOptions(max_batch=4, max_wait_s=0.0, max_pending=64)
    detector = BatchWorker[tuple[VadState, np.ndarray], tuple[np.ndarray, VadState]]("vad", vad, options)
    transcriber = BatchWorker[tuple[np.ndarray, str], list[TranscriptPiece]]("asr", asr, options)

    async def main() -> Result:
        detector.start()
        transcriber.start()

        async def transcribe(audio: np.ndarray, language: str) -> list[TranscriptPiece]:
            return await transcriber.submit((audio, language))

        async def scan(state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]:
            return await detector.submit((state, audio))

        regions = SpeechRegions(scan, models.detector.window, SpeechSettings())
        segmenter = SpeechSegmenter(regions, transcribe, "en")
        result = Result([], [])
        block = int(BLOCK_S * SAMPLE_RATE)
        for i in range(0, audio.size, block):
            for span in await segmenter.push(AudioWindow(i, audio[i : i + block])):
                result.live.append(((i + block) / SAMPLE_RATE, span))
        result.flushed = await segmenter.flush()
        return result

    try:
        return asyncio.run(asyncio.wait_for(main(), timeout=60))
    finally:
        detector.stop()
        transcriber.stop()


def words(text: str) -> set[str]:
    return {w.strip(".,!?").lower() for w in text.split()}


def test_two_sentences_come_out_live_with_their_times(models: Models, sentences: tuple[np.ndarray, np.ndarray]) -> None:
    first, second = sentences
    first_at = 3.0
    second_at = first_at + first.size / SAMPLE_RATE + 4.0
    audio = np.concatenate([silence(3.0), first, silence(4.0), second, silence(2.0)])

    result = segment(models, audio)

    spans = result.spans
    assert len(spans) == 2, spans
    one, two = spans
    assert one.start == pytest.approx(first_at, abs=1.0)
    assert one.end == pytest.approx(first_at + first.size / SAMPLE_RATE, abs=1.0)
    assert two.start == pytest.approx(second_at, abs=1.0)
    assert two.end == pytest.approx(second_at + second.size / SAMPLE_RATE, abs=1.0)
    assert {"painted", "door", "orange"} <= words(one.text), one.text
    assert {"green", "bottles", "kitchen", "table"} <= words(two.text), two.text
    assert one.language == two.language == "en"
    # Live: the first sentence came out before the stream ended, soon after the speech stopped.
    assert result.live, "no span came out before flush()"
    pushed, span = result.live[0]
    assert span == one
    assert pushed < second_at


def test_speech_running_to_the_end_comes_out_on_flush(models: Models, sentences: tuple[np.ndarray, np.ndarray]) -> None:
    first, _ = sentences
    result = segment(models, np.concatenate([silence(2.0), first]))

    assert result.live == []  # the speech may still be going on
    assert len(result.flushed) == 1
    assert result.flushed[0].start == pytest.approx(2.0, abs=1.0)
    assert {"painted", "door", "orange"} <= words(result.flushed[0].text), result.flushed[0].text


@pytest.mark.parametrize(
    "audio",
    [silence(12.0), np.random.default_rng(0).normal(0, 0.003, int(12.0 * SAMPLE_RATE)).astype(np.float32)],
    ids=["digital-silence", "faint-noise"],
)
def test_silence_yields_nothing(models: Models, audio: np.ndarray) -> None:
    result = segment(models, audio)
    assert result.spans == []
