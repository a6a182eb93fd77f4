"""vigil_models.sound: the packaged event detector on real music (Debian asterisk-moh-opsound-wav) and speech."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import load_audio
from vigil_models import SAMPLE_RATE, SentenceEncoder, SoundOptions, SoundTagger, SoundWindow, pick_device
from vigil_models.catalog import text_model_dir

pytestmark = pytest.mark.slow  # real models

MUSIC_DIR = Path("/usr/share/asterisk/moh")  # Debian asterisk-moh-opsound-wav (scripts/setup.sh installs it)
INSTRUMENTAL = MUSIC_DIR / "macroform-cold_day.wav"  # instrumental; quiet from about 53 s to 68 s
SONG = MUSIC_DIR / "macroform-robot_dity.wav"  # sung from about 20 s
FRENCH_PROMPT = Path("/usr/share/asterisk/sounds/fr_CA_f_June/confbridge-only-participant.wav")


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def text_encoder() -> SentenceEncoder:
    return SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), pick_device())


@pytest.fixture(scope="module")
def tagger(text_encoder: SentenceEncoder) -> SoundTagger:
    return SoundTagger(text_encoder)


@pytest.fixture(scope="module")
def instrumental() -> np.ndarray:
    return load_audio(INSTRUMENTAL, 0.0, 60.0)


@pytest.fixture(scope="module")
def instrumental_windows(tagger: SoundTagger, instrumental: np.ndarray) -> list[SoundWindow]:
    return tagger.tag(instrumental)


def similarities(text_encoder: SentenceEncoder, vector: np.ndarray, texts: list[str]) -> dict[str, float]:
    return dict(zip(texts, (text_encoder.embed(texts) @ vector).tolist(), strict=True))


def test_instrumental_music_is_music_over_most_of_it(instrumental_windows: list[SoundWindow]) -> None:
    assert instrumental_windows, "no window on 60 s of music"
    assert {w.caption for w in instrumental_windows} == {"music"}
    covered = sum(w.end - w.start for w in instrumental_windows)
    assert covered >= 45.0, instrumental_windows
    assert all(0.0 <= w.start < w.end <= 60.0 for w in instrumental_windows)


def test_a_music_vector_is_a_unit_vector_nearest_the_word_music(
    instrumental_windows: list[SoundWindow], text_encoder: SentenceEncoder
) -> None:
    for window in instrumental_windows:
        assert window.vector.dtype == np.float32 and window.vector.shape == (text_encoder.dim,)
        assert abs(float(np.linalg.norm(window.vector)) - 1.0) < 1e-5
        sims = similarities(text_encoder, window.vector, ["music", "a dog barking", "speech", "silence"])
        assert max(sims, key=sims.__getitem__) == "music", sims


def test_singing_in_a_song_gets_singing_windows(tagger: SoundTagger, text_encoder: SentenceEncoder) -> None:
    windows = tagger.tag(load_audio(SONG, 15.0, 30.0))
    sung = [w for w in windows if w.caption == "singing"]
    assert sung, windows
    assert any(w.caption == "music" for w in windows)  # tagged independently: the music goes on under the voice
    for window in sung:
        sims = similarities(text_encoder, window.vector, ["singing", "a dog barking", "speech"])
        assert max(sims, key=sims.__getitem__) == "singing", sims


def test_music_between_silences_is_one_window_with_its_edges(tagger: SoundTagger, instrumental: np.ndarray) -> None:
    music = instrumental[20 * SAMPLE_RATE : 30 * SAMPLE_RATE]
    windows = tagger.tag(np.concatenate([silence(5.0), music, silence(5.0)]))
    assert [w.caption for w in windows] == ["music"], windows
    assert windows[0].start == pytest.approx(5.0, abs=1.0)
    assert windows[0].end == pytest.approx(15.0, abs=1.0)


def test_speech_gives_no_windows(tagger: SoundTagger, tmp_path: Path) -> None:
    wav = tmp_path / "say.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en", "-w", str(wav), "The lighthouse keeper painted the door bright orange."], check=True
    )
    assert tagger.tag(load_audio(wav)) == []
    assert tagger.tag(load_audio(FRENCH_PROMPT)) == []  # a real voice


def test_silence_and_slivers_give_no_windows(tagger: SoundTagger) -> None:
    assert tagger.tag(silence(10.0)) == []
    for samples in (0, 1, 400, 1600):
        assert tagger.tag(np.full(samples, 0.01, dtype=np.float32)) == []


def test_tag_is_deterministic_and_chunking_does_not_change_it(
    tagger: SoundTagger, text_encoder: SentenceEncoder, instrumental: np.ndarray
) -> None:
    first, again = tagger.tag(instrumental), tagger.tag(instrumental)
    chunked = SoundTagger(text_encoder, SoundOptions(chunk_s=7.3)).tag(instrumental)
    for other in (again, chunked):
        assert [(w.start, w.end, w.caption) for w in other] == [(w.start, w.end, w.caption) for w in first]
        assert all(np.array_equal(a.vector, b.vector) for a, b in zip(other, first, strict=True))


def test_bad_options_and_input_are_refused(tagger: SoundTagger, text_encoder: SentenceEncoder) -> None:
    with pytest.raises(ValueError, match="unknown sound classes"):
        SoundTagger(text_encoder, SoundOptions(captions=("music", "dog")))
    with pytest.raises(ValueError, match="mono"):
        tagger.tag(np.zeros((2, SAMPLE_RATE), dtype=np.float32))
