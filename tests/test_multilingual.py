"""Multilingual speech: Whisper base on real French prompts (Debian asterisk-core-sounds-fr-wav) and on English.

The French references are the prompts' transcripts from Debian asterisk-core-sounds-fr
(/usr/share/doc/asterisk-core-sounds-fr/core-sounds-fr.txt.gz), copied here so the tests do
not need that documentation package.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import load_audio
from vigil_models import SentenceEncoder, Transcriber, TranscriptPiece, pick_device
from vigil_models.catalog import speech_model_dir, text_model_dir
from vigil_models.speech import assign_by_overlap

pytestmark = pytest.mark.slow  # real models

PROMPTS = Path("/usr/share/asterisk/sounds/fr_CA_f_June")  # scripts/setup.sh installs the package
ONLY_PARTICIPANT = "confbridge-only-participant"
ONLY_PARTICIPANT_FR = "Vous êtes présentement le seul participant dans cette conférence."
ONLY_PARTICIPANT_EN = "You are currently the only participant in this conference."
ECHO_TEST = "demo-echotest"  # five sentences, 19 s
ECHO_TEST_FR = (
    "Vous etes sur le point d'entreprendre un test d'écho. Dans ce mode, tout ce que vous direz vous sera répété "
    "dès que reçu. Le but de ce test est pour vous donner un exemple audible de latence entre vous et et la machine "
    "qui exécute l'application de test d'écho. Vous pourrez quitter le test en raccrochant ou en appuyant sur dièse."
)
ECHO_TEST_EN = (
    "You are about to start an echo test. In this mode, everything you say will be repeated back to you as soon as "
    "it is received. The purpose of this test is to give you an audible example of the latency between you and the "
    "machine running the echo test application. You can leave the test by hanging up or by pressing the pound key."
)
UNRELATED_EN = [
    "The cat is asleep on the warm sofa.",
    "Add two cups of flour and stir the batter.",
    "The football match ended in a draw after extra time.",
]
FRENCH_WORDS = {"vous", "le", "la", "de", "dans", "cette", "est", "et", "un", "une", "les", "que"}


def decode(path: Path) -> np.ndarray:
    """A file's audio (8 kHz for these prompts) as float32 mono at 16 kHz."""
    return load_audio(path)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-zàâçéèêëîïôûùüÿœ]+", text.lower()))


def shared_fraction(text: str, reference: str) -> float:
    return len(words(text) & words(reference)) / len(words(reference))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Transcriber:
    model_dir = speech_model_dir("base", tmp_path_factory.mktemp("speech-cache"))
    return Transcriber(model_dir, pick_device(), multilingual=True)


@pytest.fixture(scope="module")
def text_encoder() -> SentenceEncoder:
    return SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), pick_device())


def assert_english_and_close_to(text_encoder: SentenceEncoder, translation: str, reference: str) -> None:
    assert not words(translation) & FRENCH_WORDS, translation
    vectors = text_encoder.embed([translation, reference, *UNRELATED_EN])
    sims = vectors[1:] @ vectors[0]
    assert sims[0] > max(sims[1:]) + 0.2, (translation, sims.round(3).tolist())


@pytest.mark.slow
def test_french_is_detected_transcribed_in_french_and_translated(
    base: Transcriber, text_encoder: SentenceEncoder
) -> None:
    pieces = base.transcribe(decode(PROMPTS / f"{ONLY_PARTICIPANT}.wav"))
    assert pieces, "nothing transcribed"
    assert {p.language for p in pieces} == {"fr"}
    text = " ".join(p.text for p in pieces)
    assert shared_fraction(text, ONLY_PARTICIPANT_FR) >= 0.6, text
    assert all(p.translation for p in pieces), pieces
    assert_english_and_close_to(text_encoder, " ".join(p.translation for p in pieces), ONLY_PARTICIPANT_EN)


@pytest.mark.slow
def test_a_long_french_region_gets_a_translation_on_every_piece(
    base: Transcriber, text_encoder: SentenceEncoder
) -> None:
    pieces = base.transcribe(decode(PROMPTS / f"{ECHO_TEST}.wav"), language="fr")  # the language given
    assert len(pieces) >= 3, pieces
    assert [p.start for p in pieces] == sorted(p.start for p in pieces)
    assert {p.language for p in pieces} == {"fr"}
    assert shared_fraction(" ".join(p.text for p in pieces), ECHO_TEST_FR) >= 0.6
    assert all(p.translation for p in pieces), pieces
    assert_english_and_close_to(text_encoder, " ".join(p.translation for p in pieces), ECHO_TEST_EN)


@pytest.mark.slow
def test_english_through_the_base_model_is_not_translated(base: Transcriber, tmp_path: Path) -> None:
    wav = tmp_path / "say.wav"
    sentence = "The weather today is sunny with a light breeze from the west."
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(wav), sentence], check=True)
    pieces = base.transcribe(decode(wav))
    assert pieces
    assert all(p.language == "en" and p.translation == "" for p in pieces), pieces
    assert shared_fraction(" ".join(p.text for p in pieces), sentence) >= 0.6


def test_the_english_model_never_translates(tmp_path: Path) -> None:
    tiny = Transcriber(speech_model_dir("tiny.en", tmp_path), pick_device(), multilingual=False)
    pieces = tiny.transcribe(decode(PROMPTS / f"{ONLY_PARTICIPANT}.wav"))
    assert all(p.language == "en" and p.translation == "" for p in pieces), pieces


def test_transcript_pieces_default_to_no_translation() -> None:
    assert TranscriptPiece(0.0, 1.0, "hello", "en").translation == ""


def test_translated_segments_go_to_the_piece_they_overlap_most() -> None:
    pieces = [(0.0, 3.0), (3.0, 7.0), (7.0, 11.0)]
    segments = [(0.0, 3.1, "one"), (3.1, 6.9, "two"), (6.9, 9.0, "three"), (9.0, 11.2, "four")]
    assert assign_by_overlap(pieces, segments) == ["one", "two", "three four"]
    # A translation spanning two pieces goes to the one it covers most; the other gets none.
    assert assign_by_overlap([(0.0, 2.0), (2.0, 6.0)], [(0.0, 6.0, "all")]) == ["", "all"]
    # Outside every piece: the nearest one.
    assert assign_by_overlap([(0.0, 2.0), (5.0, 6.0)], [(6.5, 7.0, "late")]) == ["", "late"]
    assert assign_by_overlap([], [(0.0, 1.0, "x")]) == []
    assert assign_by_overlap([(0.0, 1.0)], []) == [""]
