"""The factory that builds a model set from the catalogue (catalog.py), and the protocols it meets.

An embedding space is named; its name is stored with every collection so vectors from
different spaces never mix. Swapping the space or the speech model is a configuration change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import torch

from vigil_models.catalog import (
    SPACES,
    SPEECH_MODELS,
    ModelUnavailableError,
    SpaceSpec,
    SpeechModelSpec,
    classifier_weights,
    speech_model_dir,
    text_model_dir,
)
from vigil_models.class_texts import NUM_CLASSES, class_name, embed_class_texts, imagenet_class_texts
from vigil_models.efficientnet_lite import load_lite_for_inference
from vigil_models.explicit import ExplicitScorer
from vigil_models.image import Concept, LabelSpaceImageEncoder
from vigil_models.ocr import TextLine, TextReader, tokenizer_words
from vigil_models.people import PeopleConcepts, PeopleDetector, PeopleFound
from vigil_models.sound import SoundTagger, SoundWindow
from vigil_models.speech import (
    SpeechDetector,
    SpeechRegion,
    SpeechRequest,
    Transcriber,
    TranscriptPiece,
    VadSettings,
)
from vigil_models.text import SentenceEncoder
from vigil_models.threads import plan_threads
from vigil_models.vad import VadState


class TextEmbedder(Protocol):
    """A text encoder as the pipeline uses it: `embed(texts) -> float32[n, dim]`, L2-normalised rows."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


class ImageEmbedder(Protocol):
    """`embed(uint8 HxWx3 RGB frames) -> float32[n, dim]`, L2-normalised rows.

    `embed_and_describe(frames) -> (embed(frames), float32[n, descriptor_dim])`: also a copy
    descriptor per frame (L2-normalised), for near-duplicate detection, which tells two photos
    of one kind of thing apart where the shared-space vector, made to match meaning, does not.
    """

    @property
    def dim(self) -> int: ...

    @property
    def descriptor_dim(self) -> int: ...

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray: ...

    def embed_and_describe(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]: ...


class AudioEmbedder(Protocol):
    """`embed(float32 mono 16 kHz clips) -> float32[n, dim]`, L2-normalised rows."""

    @property
    def dim(self) -> int: ...

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray: ...


class SpeechDetectorModel(Protocol):
    """`find(float32 mono 16 kHz audio) -> [SpeechRegion]`, times in seconds from the start of that audio.

    For streams, `scan(state, audio) -> (probabilities, state)`: the speech probability of every
    complete window of `window` samples, consecutive across calls from `VadState()` on, each sample
    scored once; the samples of an unfinished window wait in the state for the next call.
    """

    @property
    def window(self) -> int: ...

    def find(self, audio: np.ndarray) -> list[SpeechRegion]: ...

    def scan(self, state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]: ...


class TranscriberModel(Protocol):
    """`transcribe(one speech region, language) -> [TranscriptPiece]`, times relative to the region.

    `language` is an ISO 639-1 code, or "" to detect it; `multilingual` says whether the model
    hears (and translates) languages other than English. `words` adds each piece's word timings;
    `translate=False` skips the English translation of other languages. `transcribe_many` does
    several regions at once, each as `transcribe` would; a region it cannot do gets its exception.
    """

    multilingual: bool

    def transcribe(
        self, audio: np.ndarray, language: str = "", words: bool = False, translate: bool = True
    ) -> list[TranscriptPiece]: ...

    def transcribe_many(self, requests: Sequence[SpeechRequest]) -> list[list[TranscriptPiece] | Exception]: ...


class FrameLabeler(Protocol):
    """`labels(uint8 HxWx3 RGB frames, top_k) -> [[Concept]]`: what each frame shows, in words, most likely first."""

    def labels(self, images: Sequence[np.ndarray], top_k: int) -> list[list[Concept]]: ...


class TextReaderModel(Protocol):
    """`read(uint8 HxWx3 RGB frame at its own size) -> [TextLine]`: the lines of text it shows (ocr.py)."""

    def read(self, frame: np.ndarray) -> list[TextLine]: ...


class PeopleDetectorModel(Protocol):
    """`detect(uint8 HxWx3 RGB frames) -> [PeopleFound]`: people and faces in each frame (people.py)."""

    def detect(self, images: Sequence[np.ndarray]) -> list[PeopleFound]: ...


class ExplicitScorerModel(Protocol):
    """`score(uint8 HxWx3 RGB frames) -> float32[n]`: how likely each frame is sexually explicit, 0-1."""

    def score(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


class SoundTaggerModel(Protocol):
    """`tag(float32 mono 16 kHz audio) -> [SoundWindow]`: non-speech sound windows, vectors in the text space."""

    def tag(self, audio: np.ndarray) -> list[SoundWindow]: ...


@dataclass
class ModelSet:
    """Everything the pipeline runs. Each member is used by exactly one worker."""

    space: SpaceSpec
    speech: SpeechModelSpec
    device: torch.device
    text: TextEmbedder
    image: ImageEmbedder
    detector: SpeechDetectorModel
    transcriber: TranscriberModel
    sound: SoundTaggerModel  # AudioSet sound-event windows (YAMNet), in the text space
    audio: AudioEmbedder | None = None  # sound straight into the space (CLAP); None in label spaces
    # Names what frames show (the frame encoder's classes), run on the image worker; None: cannot.
    labeler: FrameLabeler | None = None
    reader: TextReaderModel | None = None  # on-screen text (OCR), on a worker of its own; None: not read
    # Frame detectors, on a worker of their own; None: switched off. `concepts` mixes what `people` finds into
    # frame vectors (label spaces; None in clip-clap, whose frame encoder sees people itself).
    people: PeopleDetectorModel | None = None
    concepts: PeopleConcepts | None = None
    explicit: ExplicitScorerModel | None = None


def load_models(
    space: str,
    speech: str,
    device: torch.device,
    cache_dir: Path,
    cpu_threads: int = 0,
    clip_model: str = "",  # "clip-clap" only: a CLIP directory, or a model name in the local hub cache
    clap_model: str = "",  # "clip-clap" only: a CLAP directory or cached model name
    read_text: bool = True,  # load the on-screen text reader (OCR)
    people: bool = True,  # load the people and face detector
    explicit: bool = True,  # load the explicit-image scorer
) -> ModelSet:
    if space not in SPACES:
        raise ModelUnavailableError(f"unknown embedding space {space!r}; choose one of {sorted(SPACES)}")
    spec = SPACES[space]
    threads = plan_threads(cpu_threads)  # per runtime, on CPU (threads.py)
    text: TextEmbedder
    image: ImageEmbedder
    audio: AudioEmbedder | None = None
    labeler: FrameLabeler | None = None
    if space == "clip-clap":
        missing = [flag for flag, value in (("--clip-model", clip_model), ("--clap-model", clap_model)) if not value]
        if missing:
            raise ModelUnavailableError(
                f"space 'clip-clap' loads CLIP and CLAP weights from disk; missing {' and '.join(missing)}: "
                "pass --clip-model DIR --clap-model DIR (directories written by save_pretrained, "
                "or model names already in the Hugging Face cache); nothing is downloaded"
            )
        from vigil_models.clip import load_clip_space  # CLIP/CLAP code is imported only when asked for

        loaded = load_clip_space(clip_model, clap_model, device, cache_dir)
        spec, text, image, audio = loaded.spec, loaded.text, loaded.image, loaded.audio
    else:
        text = SentenceEncoder(text_model_dir(spec.text_model), device)
        if text.dim != spec.dim:
            raise ModelUnavailableError(f"text model gives {text.dim}-d vectors, space {space} expects {spec.dim}")
        weights = str(classifier_weights(spec.image_classifier))  # on CPU run by ONNX Runtime, exported to cache_dir
        classifier = load_lite_for_inference(spec.image_classifier, weights, device, threads.onnx, cache_dir)
        class_vectors = embed_class_texts(text.embed, imagenet_class_texts())  # name + description per class
        names = [class_name(i) for i in range(NUM_CLASSES)]
        image = labeler = LabelSpaceImageEncoder(classifier, class_vectors, device, spec.label_space, names)
    speech_spec = SPEECH_MODELS.get(speech)
    model_dir = speech_model_dir(speech, cache_dir)  # raises for an unknown name
    assert speech_spec is not None
    transcriber = Transcriber(model_dir, device, speech_spec.multilingual, cpu_threads=threads.whisper)
    sound = SoundTagger(cast(SentenceEncoder, text), cache_dir)  # it only calls text.embed(); YAMNet unzips there
    detector = SpeechDetector(VadSettings())
    reader = None
    if read_text:  # spaces the recogniser drops are put back with the text model's whole words
        vocabulary = tokenizer_words(text_model_dir(spec.text_model)) if space != "clip-clap" else frozenset()
        reader = TextReader(vocabulary=vocabulary)
    concepts = PeopleConcepts(text.embed) if people and space != "clip-clap" else None
    return ModelSet(
        spec, speech_spec, device, text, image, detector, transcriber, sound=sound, audio=audio, labeler=labeler,
        reader=reader, people=PeopleDetector() if people else None, concepts=concepts,
        explicit=ExplicitScorer(max(1, min(cpu_threads, 2))) if explicit else None,
    )  # fmt: skip
