"""Batched Whisper (Transcriber.transcribe_many) against the unbatched path, on real speech.

Every region of a batch must come out as `transcribe` makes it alone: the same text, language
and translation, piece and word times within 0.1 s. The batches mix lengths (0.7 s to 14 s, so
some regions take several decoder windows), word timings on and off, silence, and for the
multilingual model French and English, a given and a detected language, translation on and off.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import load_audio
from tests.fakes import fake_model_set
from vigil_models import SAMPLE_RATE, SpeechRequest, Transcriber, TranscriptPiece, pick_device
from vigil_models.catalog import speech_model_dir
from vigil_server.settings import WorkerSettings
from vigil_server.workers import ModelWorkers

TOLERANCE_S = 0.1
FRENCH = Path("/usr/share/asterisk/sounds/fr_CA_f_June")  # scripts/setup.sh installs the package
SENTENCES = [
    "Hello.",
    "The lighthouse keeper painted the door bright orange.",
    "Seven green bottles stood on the kitchen table, and one of them fell down.",
    "Welcome to the harbour. The fishing boats leave at dawn and come back before the evening storm rolls in "
    "over the hills, so the market opens late on Fridays and the stalls sell smoked fish, fresh bread and honey "
    "from the farms along the river.",
]


def say(text: str, tmp: Path, name: str) -> np.ndarray:
    wav = tmp / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), text], check=True)
    return load_audio(wav)


def assert_same(batched: list[TranscriptPiece], alone: list[TranscriptPiece]) -> None:
    assert [p.text for p in batched] == [p.text for p in alone]
    assert [p.language for p in batched] == [p.language for p in alone]
    assert [p.translation for p in batched] == [p.translation for p in alone]
    for b, a in zip(batched, alone, strict=True):
        assert abs(b.start - a.start) <= TOLERANCE_S and abs(b.end - a.end) <= TOLERANCE_S, (b, a)
        assert [w.text for w in b.words] == [w.text for w in a.words]
        for wb, wa in zip(b.words, a.words, strict=True):
            assert abs(wb.start - wa.start) <= TOLERANCE_S and abs(wb.end - wa.end) <= TOLERANCE_S, (wb, wa)


def check_batch(model: Transcriber, requests: list[SpeechRequest]) -> list[list[TranscriptPiece]]:
    batched = model.transcribe_many(requests)
    assert len(batched) == len(requests)
    out = []
    for request, got in zip(requests, batched, strict=True):
        assert not isinstance(got, Exception), got
        alone = model.transcribe(request.audio, request.language, request.words, request.translate)
        assert_same(got, alone)
        out.append(got)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Transcriber:
    return Transcriber(speech_model_dir("tiny.en", tmp_path_factory.mktemp("speech-cache")), pick_device(), False)


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    tmp = tmp_path_factory.mktemp("speech")
    return [say(text, tmp, f"s{i}") for i, text in enumerate(SENTENCES)]


@pytest.mark.slow
def test_a_mixed_batch_equals_each_region_transcribed_alone(tiny: Transcriber, english: list[np.ndarray]) -> None:
    assert english[-1].size / SAMPLE_RATE > 12  # decoded in more than one window
    silence = np.zeros(2 * SAMPLE_RATE, dtype=np.float32)
    requests = [SpeechRequest(audio, "", words=i % 2 == 0) for i, audio in enumerate(english)]
    requests += [SpeechRequest(english[1], "en", words=True), SpeechRequest(silence, "", words=True)]
    got = check_batch(tiny, requests)
    assert "lighthouse keeper" in got[1][0].text
    assert all(p.words for p in got[2]) and not any(p.words for p in got[1])
    assert len(got[3]) >= 2, got[3]  # the long one: more than one piece
    # (silence: Whisper may hear a word in it, alone and batched alike; the VAD keeps it from Whisper)
    assert tiny.transcribe_many([]) == []


@pytest.mark.slow
def test_a_batch_of_one_and_empty_audio(tiny: Transcriber, english: list[np.ndarray]) -> None:
    check_batch(tiny, [SpeechRequest(english[2], "", words=True)])
    assert tiny.transcribe_many([SpeechRequest(np.zeros(0, dtype=np.float32))]) == [[]]


@pytest.mark.slow
def test_an_english_only_model_hears_english_whatever_language_is_asked(
    tiny: Transcriber, english: list[np.ndarray]
) -> None:
    [got] = check_batch(tiny, [SpeechRequest(english[1], "fr", words=True)])
    assert {p.language for p in got} == {"en"}


@pytest.mark.slow
def test_multilingual_batches_detect_transcribe_and_translate_like_one_by_one(
    tmp_path: Path, english: list[np.ndarray]
) -> None:
    base = Transcriber(speech_model_dir("base", tmp_path), pick_device(), multilingual=True)
    only = load_audio(FRENCH / "confbridge-only-participant.wav")
    echo = load_audio(FRENCH / "demo-echotest.wav")  # 19 s, five sentences
    requests = [
        SpeechRequest(only, "", words=True),  # detected, translated
        SpeechRequest(english[1], "", words=True),  # detected English: no translation
        SpeechRequest(echo, "fr"),  # given, translated, several pieces
        SpeechRequest(only, "fr", words=True, translate=False),
        SpeechRequest(english[2], "en"),
    ]
    got = check_batch(base, requests)
    assert {p.language for p in got[0]} == {"fr"} and all(p.translation for p in got[0])
    assert {p.language for p in got[1]} == {"en"} and not any(p.translation for p in got[1])
    assert len(got[2]) >= 3 and all(p.translation for p in got[2])
    assert not any(p.translation for p in got[3])
    # A language Whisper does not know fails its own request only.
    unknown, fine = base.transcribe_many([SpeechRequest(only, "zz"), SpeechRequest(english[1], "en")])
    assert isinstance(unknown, ValueError) and "'zz'" in str(unknown)
    assert not isinstance(fine, Exception)
    assert_same(fine, base.transcribe(english[1], "en"))


class _OneFails:
    """A transcriber seam: the request saying language "xx" fails, the others get one piece."""

    multilingual = False

    def transcribe(
        self, audio: np.ndarray, language: str = "", words: bool = False, translate: bool = True
    ) -> list[TranscriptPiece]:
        raise AssertionError("the worker batches")

    def transcribe_many(self, requests: Sequence[SpeechRequest]) -> list[list[TranscriptPiece] | Exception]:
        return [
            ValueError("no such language") if r.language == "xx" else [TranscriptPiece(0.0, 1.0, "hi", "en")]
            for r in requests
        ]


def test_the_worker_fails_only_the_caller_whose_region_failed() -> None:
    async def main() -> None:
        models = fake_model_set()
        models.transcriber = _OneFails()
        workers = ModelWorkers(models, WorkerSettings())
        workers.start()
        try:
            audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
            answers = [workers.transcribe(audio, language) for language in ("en", "xx", "en")]
            results = await asyncio.gather(*answers, return_exceptions=True)
            assert isinstance(results[1], ValueError)
            assert results[0] == results[2] == [TranscriptPiece(0.0, 1.0, "hi", "en")]
            assert workers.transcriptions_pending == 0
        finally:
            workers.stop()

    asyncio.run(main())


class _Gated:
    """A transcriber seam whose first batch waits for a gate: what queues meanwhile makes the next batch."""

    multilingual = False

    def __init__(self) -> None:
        self.running = threading.Event()
        self.gate = threading.Event()
        self.batch_sizes: list[int] = []

    def transcribe(
        self, audio: np.ndarray, language: str = "", words: bool = False, translate: bool = True
    ) -> list[TranscriptPiece]:
        raise AssertionError("the worker batches")

    def transcribe_many(self, requests: Sequence[SpeechRequest]) -> list[list[TranscriptPiece] | Exception]:
        self.running.set()
        self.gate.wait(10)
        self.batch_sizes.append(len(requests))
        return [[TranscriptPiece(0.0, 1.0, r.language, "en")] for r in requests]


@pytest.mark.parametrize(
    ("cpu_max_batch", "sizes"), [(8, [1, 8, 2]), (1, [1] * 11)], ids=["batched", "cpu-default-one-at-a-time"]
)
def test_transcriptions_that_wait_together_run_as_one_batch(cpu_max_batch: int, sizes: list[int]) -> None:
    async def main() -> None:
        models = fake_model_set()  # on the CPU
        models.transcriber = gated = _Gated()
        options = WorkerSettings() if cpu_max_batch == 1 else replace(WorkerSettings(), asr_cpu_max_batch=cpu_max_batch)
        workers = ModelWorkers(models, options)
        workers.start()
        try:
            audio = np.zeros(SAMPLE_RATE, dtype=np.float32)
            first = workers.transcribe(audio, "a")
            await asyncio.to_thread(gated.running.wait, 10)
            waiting = [workers.transcribe(audio, f"w{i}") for i in range(10)]
            await asyncio.sleep(0.05)  # let them reach the queue
            gated.gate.set()
            results = await asyncio.gather(first, *waiting)
            assert [r[0].text for r in results] == ["a"] + [f"w{i}" for i in range(10)]  # each its own
            assert gated.batch_sizes == sizes  # at most max_batch at once
        finally:
            workers.stop()

    asyncio.run(main())
