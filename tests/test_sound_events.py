"""AudioSet sound events (YAMNet): the features, real recordings, speech, and a siren found by name through a server.

Real recordings come from Debian's gcompris-qt-data (scripts/setup.sh installs it), read with
bench/sounds/dataset.py; the siren is synthetic (a swept tone with harmonics, made with numpy).
"""

from __future__ import annotations

import dataclasses
import io
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from bench.sounds.dataset import LabelledSound, load, siren
from scripts.sample_media import load_audio
from tests.fakes import fake_model_set
from tests.inprocess import InProcessServer
from vigil.v1 import vigil_pb2
from vigil_client import VigilClient
from vigil_models import SAMPLE_RATE, SentenceEncoder, SoundTagger, pick_device
from vigil_models.catalog import text_model_dir
from vigil_models.yamnet import NUM_CLASSES, class_names, log_mel, mel_matrix, patch_count, patches

RCC = "/usr/share/gcompris-qt/rcc"
ACTIVITIES = "gcompris/src/activities"
DOG = LabelledSound(
    "gcompris-qt-data", f"{RCC}/memory-sound.rcc:/{ACTIVITIES}/memory-sound/resource/LRBark_3_LA_cut.ogg", ("Dog",)
)
APPLAUSE = LabelledSound(
    "gcompris-qt-data", f"{RCC}/memory-sound.rcc:/{ACTIVITIES}/memory-sound/resource/LRApplauses_1_LA_cut.ogg",
    ("Applause",),
)  # fmt: skip
PROMPT = Path("/usr/share/asterisk/sounds/en_US_f_Allison/vm-intro.wav")  # asterisk-core-sounds-en-wav, a real voice


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def test_features_follow_yamnets_framing() -> None:
    assert len(class_names()) == NUM_CLASSES and class_names()[0] == "Speech" and "Siren" in class_names()
    weights = mel_matrix()
    assert weights.shape == (257, 64) and not weights[0].any()  # the DC bin is zeroed, as TensorFlow does
    assert (weights.sum(axis=0) > 0).all()  # every band covers some bin between 125 and 7500 Hz
    assert log_mel(np.zeros(399, dtype=np.float32)).shape == (0, 64)
    assert log_mel(np.zeros(400 + 160 * 9, dtype=np.float32)).shape == (10, 64)
    assert np.allclose(log_mel(np.zeros(800, dtype=np.float32)), np.log(0.001))  # log(mel + 0.001) of silence
    assert [patch_count(n) for n in (0, 1, 15600, 15601, 15600 + 7680)] == [0, 1, 1, 2, 2]
    assert patches(np.zeros(100, dtype=np.float32)).shape == (1, 96, 64)  # padded to one patch
    assert patches(np.zeros(5 * SAMPLE_RATE, dtype=np.float32)).shape == (patch_count(5 * SAMPLE_RATE), 96, 64)


@pytest.fixture(scope="module")
def text_encoder() -> SentenceEncoder:
    return SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), pick_device())


@pytest.fixture(scope="module")
def tagger(text_encoder: SentenceEncoder, tmp_path_factory: pytest.TempPathFactory) -> SoundTagger:
    return SoundTagger(text_encoder, tmp_path_factory.mktemp("model-cache"))


@pytest.mark.slow
class TestTagger:
    def test_a_siren_between_silences_is_captioned_siren_where_it_sounds(self, tagger: SoundTagger) -> None:
        windows = tagger.tag(np.concatenate([silence(3.0), siren(6.0), silence(3.0)]))
        sirens = [w for w in windows if w.caption == "siren"]
        assert sirens, windows
        assert all(w.start >= 2.0 and w.end <= 10.0 for w in windows), windows
        assert sum(w.end - w.start for w in sirens) >= 4.0, sirens

    @pytest.mark.parametrize(
        ("sound", "caption", "query"), [(DOG, "dog", "a dog barking"), (APPLAUSE, "applause", "applause")]
    )
    def test_real_recordings_get_their_class_and_a_vector_nearest_its_name(
        self, tagger: SoundTagger, text_encoder: SentenceEncoder, sound: LabelledSound, caption: str, query: str
    ) -> None:
        windows = tagger.tag(load(sound))
        assert caption in {w.caption for w in windows}, windows
        others = ["music", "a siren", "speech", "rain", query]
        texts = text_encoder.embed(others)
        for window in windows:
            assert abs(float(np.linalg.norm(window.vector)) - 1.0) < 1e-5
            if window.caption == caption:
                sims = texts @ window.vector
                assert others[int(np.argmax(sims))] == query, dict(zip(others, sims.tolist(), strict=True))

    def test_speech_makes_no_window_but_a_siren_under_it_does(self, tagger: SoundTagger) -> None:
        voice = load_audio(PROMPT)
        assert tagger.tag(voice) == []
        mixed = siren(voice.size / SAMPLE_RATE) * 0.5 + voice
        captions = {w.caption for w in tagger.tag(mixed)}
        assert any("siren" in c for c in captions), captions  # "siren", or "police car (siren)"

    def test_short_audio_is_padded_to_one_patch(self, tagger: SoundTagger) -> None:
        assert tagger.scores(silence(0.05)).shape == (0, NUM_CLASSES)
        assert tagger.scores(siren(0.5)).shape == (1, NUM_CLASSES)
        assert tagger.tag(silence(0.5)) == []


def wav_bytes(samples: np.ndarray) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return out.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The real server with the real text encoder and sound tagger (speech and frames are fakes: no speech here)."""
    text = SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), pick_device())
    models = fake_model_set(text.dim)
    models = dataclasses.replace(
        models, text=text, sound=SoundTagger(text, tmp_path_factory.mktemp("server-model-cache")),
        space=dataclasses.replace(models.space, name="sound-events-test", dim=text.dim),
    )  # fmt: skip
    server = InProcessServer(tmp_path_factory.mktemp("data"), models=models).start(timeout=300)
    yield server
    server.stop()


@pytest.mark.slow
def test_a_siren_in_a_stream_is_found_by_name_and_captioned(server: InProcessServer) -> None:
    dog = load(DOG)
    stream = np.concatenate([silence(2.0), siren(6.0), silence(2.0), dog, silence(2.0)])
    data = wav_bytes(stream)
    dog_start = 10.0
    with VigilClient(server.address, timeout=300) as client:
        events = list(client.ingest([data[i : i + 32768] for i in range(0, len(data), 32768)], "street", "wav"))
        stored = [
            e.segment.segment
            for e in events
            if e.HasField("segment") and e.segment.segment.modality == vigil_pb2.MODALITY_SOUND
        ]
        assert "[siren]" in {s.text for s in stored}, [(s.text, s.start, s.end) for s in stored]
        found = [m.segment for m in client.search("a siren", modalities=["sound"], top_k=5)]
        # The best match is the siren; YAMNet also hears it as an alarm, and the two windows tie by meaning.
        assert found and found[0].start >= 1.0 and found[0].end <= 9.0, [(s.text, s.start, s.end) for s in found]
        assert found[0].text in {"[siren]", "[alarm]"}
        named = [s for s in found if s.text == "[siren]"]
        assert named and named[0].start < found[0].end and named[0].end > found[0].start
        found = [m.segment for m in client.search("a dog barking", modalities=["sound"], top_k=5)]
        assert found and found[0].text in {"[dog]", "[bark]"}, [(s.text, s.start, s.end) for s in found]
        assert found[0].start >= dog_start - 1.0
