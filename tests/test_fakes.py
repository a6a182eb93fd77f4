"""The fake models of tests/fakes.py do what their module docstring says, on media decoded by real ffmpeg."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scripts import sample_media
from tests.fakes import PALETTE, TONE_WORDS, fake_model_set
from vigil_models import SAMPLE_RATE, ModelSet
from vigil_server.decode import DecodeSettings, MediaDecoder

FRAME_RATE = 2.0  # frame i shows time i / FRAME_RATE
SLIDES = (("red", 3.0), ("blue", 6.0))  # colour, seconds
WORD_FREQ = {word: float(freq) for freq, word in TONE_WORDS.items()}
MUSIC = (2500.0, 6.5, 2.0)  # frequency, start, seconds
TONES = ((WORD_FREQ["alpha"], 1.0, 1.0), (WORD_FREQ["charlie"], 4.0, 1.0), MUSIC)
TOLERANCE_S = 0.3  # AAC priming and the fakes' frames move edges by less than this


@dataclass(frozen=True)
class Decoded:
    frames: list[np.ndarray]
    audio: np.ndarray  # float32 mono at SAMPLE_RATE


async def _decode(data: bytes) -> Decoded:
    """Feed the file in chunks while reading frames and audio concurrently, as ingest does; always close."""
    decoder = MediaDecoder("mpegts", FRAME_RATE, DecodeSettings())
    frames: list[np.ndarray] = []
    blocks: list[np.ndarray] = []

    async def feed() -> None:
        for i in range(0, len(data), 64 << 10):
            await decoder.feed(data[i : i + (64 << 10)])
        await decoder.finish()

    async def read_frames() -> None:
        async for frame in decoder.frames():
            frames.append(frame)

    async def read_audio() -> None:
        async for block in decoder.audio():
            blocks.append(block)

    try:
        await asyncio.gather(feed(), read_frames(), read_audio())
        await decoder.wait()  # raises if ffmpeg failed
    finally:
        await decoder.close()
    return Decoded(frames, np.concatenate(blocks))


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> Decoded:
    slides = [(PALETTE[colour], seconds) for colour, seconds in SLIDES]
    path = sample_media.tone_video(tmp_path_factory.mktemp("tones"), slides, TONES)
    return asyncio.run(asyncio.wait_for(_decode(path.read_bytes()), timeout=60))


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return fake_model_set()


def _cut(audio: np.ndarray, start: float, end: float) -> np.ndarray:
    return audio[round(start * SAMPLE_RATE) : round(end * SAMPLE_RATE)]


def test_text_vectors_are_bags_of_words(models: ModelSet) -> None:
    vectors = models.text.embed(["Red car", "a red bus", "quantum harbour", "", "  !? "])
    assert vectors.shape == (5, 32) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > 0.3  # one shared word of two and three
    assert abs(float(vectors[0] @ vectors[2])) < 0.3  # no shared word
    assert np.array_equal(vectors[3], vectors[4])  # no words: one fixed vector
    assert np.isfinite(vectors).all()
    assert np.allclose(models.text.embed(["RED, red."])[0], models.text.embed(["red"])[0], atol=1e-6)


def test_frames_are_named_by_colour(models: ModelSet, decoded: Decoded) -> None:
    assert len(decoded.frames) == round(sum(s for _, s in SLIDES) * FRAME_RATE)
    words = models.text.embed([colour for colour, _ in SLIDES])
    similarity = models.image.embed(decoded.frames) @ words.T
    change = SLIDES[0][1]
    for i, row in enumerate(similarity):
        t = i / FRAME_RATE
        if abs(t - change) < 0.5:
            continue  # the frame at the cut may show either slide
        expected = 0 if t < change else 1
        assert row[expected] == pytest.approx(1.0, abs=1e-5), f"frame at {t} s: {row}"
        assert row[1 - expected] < 0.9


def test_speech_detector_hears_the_word_tones_only(models: ModelSet, decoded: Decoded) -> None:
    regions = models.detector.find(decoded.audio)
    assert len(regions) == 2, regions  # the 2500 Hz music tone is not speech
    for region, (_, start, seconds) in zip(regions, TONES[:2], strict=True):
        assert abs(region.start - start) < TOLERANCE_S and abs(region.end - (start + seconds)) < TOLERANCE_S


def test_transcriber_says_the_tone_words(models: ModelSet, decoded: Decoded) -> None:
    texts = []
    for region in models.detector.find(decoded.audio):
        pieces = models.transcriber.transcribe(_cut(decoded.audio, region.start, region.end))
        assert len(pieces) == 1 and pieces[0].language == "en"
        assert pieces[0].start == 0.0 and pieces[0].end == pytest.approx(region.end - region.start, abs=1e-3)
        texts.append(pieces[0].text)
    assert texts == ["alpha", "charlie"]
    assert models.transcriber.multilingual is False


def test_transcriber_splits_two_tones_and_names_unknown_ones(models: ModelSet, tmp_path: Path) -> None:
    tones = ((WORD_FREQ["bravo"], 0.5, 1.0), (WORD_FREQ["echo"], 1.5, 1.0), (1650.0, 3.5, 1.0))
    audio = sample_media.load_audio(sample_media.tone_wav(tmp_path / "two.wav", tones, 5.0))
    regions = models.detector.find(audio)
    assert [t for r in regions for t in (r.start, r.end)] == pytest.approx([0.4, 2.6, 3.4, 4.6], abs=0.05)
    pieces = models.transcriber.transcribe(_cut(audio, regions[0].start, regions[0].end))
    assert [p.text for p in pieces] == ["bravo", "echo"]
    assert pieces[0].end == pieces[1].start == pytest.approx(1.1, abs=0.1)  # 1.5 s, from the region's start
    unknown = models.transcriber.transcribe(_cut(audio, regions[1].start, regions[1].end))
    assert [p.text for p in unknown] == ["unknown"]
    assert models.transcriber.transcribe(np.zeros(SAMPLE_RATE, np.float32))[0].text == "unknown"


def test_music_tone_gives_a_music_window(models: ModelSet, decoded: Decoded) -> None:
    windows = models.sound.tag(decoded.audio)
    assert [w.caption for w in windows] == ["music"]
    _, start, seconds = MUSIC
    assert abs(windows[0].start - start) < TOLERANCE_S and abs(windows[0].end - (start + seconds)) < TOLERANCE_S
    assert np.allclose(windows[0].vector, models.text.embed(["music"])[0])
    assert models.sound.tag(_cut(decoded.audio, 0.0, 6.0)) == []  # word tones only
    # a music tone under 1 s is no window
    beep = np.sin(2 * np.pi * 2500 * np.arange(SAMPLE_RATE // 2) / SAMPLE_RATE).astype(np.float32) / 4
    assert models.sound.tag(np.concatenate([np.zeros(SAMPLE_RATE, np.float32), beep])) == []


def _half_size_jpeg(photo: np.ndarray) -> np.ndarray:
    image = Image.fromarray(photo)
    image = image.resize((image.width // 2, image.height // 2), Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=75)
    return np.asarray(Image.open(buffer).convert("RGB"))


def test_copy_descriptor_finds_resized_copies(models: ModelSet) -> None:
    chelsea, coffee = sample_media.skimage_photo("chelsea"), sample_media.skimage_photo("coffee")
    _, described = models.image.embed_and_describe([chelsea, _half_size_jpeg(chelsea), coffee])
    assert described.shape == (3, models.image.descriptor_dim) == (3, 48)
    assert np.allclose(np.linalg.norm(described, axis=1), 1.0, atol=1e-5)
    # Measured: copy 0.9998, the other photo 0.556.
    assert float(described[0] @ described[1]) > 0.9
    assert float(described[0] @ described[2]) < 0.7
    red, blue, black, white = (np.full((90, 160, 3), PALETTE[c], np.uint8) for c in ("red", "blue", "black", "white"))
    _, flat = models.image.embed_and_describe([red, blue, black, white])
    assert float(flat[0] @ flat[1]) == pytest.approx(-0.5, abs=1e-5)  # solid colours differ
    assert float(flat[2] @ flat[3]) == pytest.approx(1.0, abs=1e-5)  # flat greys are one picture


def test_same_inputs_same_outputs(decoded: Decoded) -> None:
    first, second = fake_model_set(), fake_model_set()
    texts = ["red", "the lighthouse keeper", ""]
    assert np.array_equal(first.text.embed(texts), second.text.embed(texts))
    for a, b in zip(
        first.image.embed_and_describe(decoded.frames), second.image.embed_and_describe(decoded.frames), strict=True
    ):
        assert np.array_equal(a, b)
    regions = first.detector.find(decoded.audio)
    assert regions == second.detector.find(decoded.audio)
    for region in regions:
        clip = _cut(decoded.audio, region.start, region.end)
        assert first.transcriber.transcribe(clip) == second.transcriber.transcribe(clip)
    windows = [first.sound.tag(decoded.audio), second.sound.tag(decoded.audio)]
    assert [(w.start, w.end, w.caption) for w in windows[0]] == [(w.start, w.end, w.caption) for w in windows[1]]
    assert all(np.array_equal(a.vector, b.vector) for a, b in zip(*windows, strict=True))
    assert fake_model_set(64).text.embed(texts).shape == (3, 64)
    assert first.space.name == "fake-test" and first.space.dim == 32 and first.audio is None
