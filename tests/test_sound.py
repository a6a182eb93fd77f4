"""vigil_models.sound: YAMNet sound events on real music (Debian asterisk-moh-opsound-wav) and speech.

Other AudioSet classes (sirens, animals, applause) and the server path: tests/test_sound_events.py.
"""

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
SONG = MUSIC_DIR / "macroform-robot_dity.wav"  # harp and keyboards
FRENCH_PROMPT = Path("/usr/share/asterisk/sounds/fr_CA_f_June/confbridge-only-participant.wav")


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


@pytest.fixture(scope="module")
def text_encoder() -> SentenceEncoder:
    return SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), pick_device())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="module")
def tagger(text_encoder: SentenceEncoder, cache_dir: Path) -> SoundTagger:
    return SoundTagger(text_encoder, cache_dir)


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


def test_a_songs_instruments_are_folded_into_music(tagger: SoundTagger, text_encoder: SentenceEncoder) -> None:
    # YAMNet hears no voice in this track (the old tagger called 9 s of its first 30 s singing); its harp and
    # keyboards make no caption of their own under music, but still count in the vector.
    windows = tagger.tag(load_audio(SONG, 15.0, 30.0))
    music = [w for w in windows if w.caption == "music"]
    assert len(music) == 1 and music[0].end - music[0].start >= 29.0, windows
    detail = {name.lower() for i, name in enumerate(tagger.class_names) if i in set(tagger.music_detail.tolist())}
    assert {"harp", "piano", "guitar", "pop music"} <= detail
    assert not {w.caption for w in windows} & detail, windows
    sims = similarities(text_encoder, music[0].vector, ["music", "a dog barking", "speech", "a siren"])
    assert max(sims, key=sims.__getitem__) == "music", sims


def test_music_between_silences_is_one_window_with_its_edges(tagger: SoundTagger, instrumental: np.ndarray) -> None:
    music = instrumental[20 * SAMPLE_RATE : 30 * SAMPLE_RATE]
    windows = tagger.tag(np.concatenate([silence(5.0), music, silence(5.0)]))
    found = [w for w in windows if w.caption == "music"]
    assert len(found) == 1, windows
    assert found[0].start == pytest.approx(5.0, abs=1.0)
    assert found[0].end == pytest.approx(15.0, abs=1.0)
    assert all(w.start >= 4.0 and w.end <= 16.0 for w in windows), windows  # nothing is heard in the silence


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
    tagger: SoundTagger, text_encoder: SentenceEncoder, instrumental: np.ndarray, cache_dir: Path
) -> None:
    first, again = tagger.tag(instrumental), tagger.tag(instrumental)
    chunked = SoundTagger(text_encoder, cache_dir, SoundOptions(chunk_s=7.3)).tag(instrumental)
    for other in (again, chunked):
        assert [(w.start, w.end, w.caption) for w in other] == [(w.start, w.end, w.caption) for w in first]
        assert all(np.array_equal(a.vector, b.vector) for a, b in zip(other, first, strict=True))


def test_bad_options_and_input_are_refused(tagger: SoundTagger, text_encoder: SentenceEncoder, cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="threshold"):
        SoundTagger(text_encoder, cache_dir, SoundOptions(threshold=1.5))
    with pytest.raises(ValueError, match="chunk_s"):
        SoundTagger(text_encoder, cache_dir, SoundOptions(chunk_s=0.5))
    with pytest.raises(ValueError, match="mono"):
        tagger.tag(np.zeros((2, SAMPLE_RATE), dtype=np.float32))
