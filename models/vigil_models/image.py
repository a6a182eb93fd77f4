"""Image encoder into the text space by label semantics (ConSE, Norouzi et al., ICLR 2014).

No image-text model installs offline, so the embedded default classifies a frame with
EfficientNet-Lite0 and maps the class probabilities through the text embeddings of the classes
(see class_texts.py): v = normalise(sum over the top-k classes of p_c * text(class_c)). The
result lives in the text encoder's space, so a text query and a frame compare by cosine.

The defaults were chosen on 274 labelled real photos (bench/label_space_eval.py): the central
crop, a softer softmax (temperature 2) over more classes (20) and class texts that add a
one-sentence description to the name raised caption -> photo R@1 from 0.29 to 0.41.

The same classifier also names what a frame shows (`labels`): its top classes in words, for frame
descriptions. These are label-space concepts (ImageNet's 1,000 classes), not free-form captions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vigil_models.efficientnet_lite import INPUT_MEAN, INPUT_SIZE, INPUT_STD, LiteClassifier


@dataclass(frozen=True)
class Concept:
    name: str  # a class name in words, e.g. "tabby cat"
    score: float  # the model's probability for it (softmax at temperature 1), in [0, 1]


@dataclass(frozen=True)
class LabelSpaceOptions:
    top_k: int = 20  # classes mixed into each vector
    temperature: float = 2.0  # softmax temperature over the classifier's logits; above 1 spreads the mass
    # The classifier sees the central square spanning this fraction of the shorter side (ImageNet's
    # usual 0.875), scaled to its input size; 0 squashes the whole frame into the square instead.
    center_crop: float = 0.875


def to_input(
    images: Sequence[np.ndarray], device: torch.device, size: int = INPUT_SIZE, center_crop: float = 0.0
) -> torch.Tensor:
    """uint8 HxWx3 RGB arrays -> normalised float batch of size x size (see LabelSpaceOptions.center_crop)."""
    if not 0.0 <= center_crop <= 1.0:
        raise ValueError(f"center_crop must be in [0, 1], got {center_crop}")
    tensors = []
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array of shape HxWx3, got {image.dtype} {image.shape}")
        t = torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1).float().div_(255.0)
        if center_crop > 0.0:
            height, width = t.shape[1:]
            side = max(1, round(center_crop * min(height, width)))
            top, left = (height - side) // 2, (width - side) // 2
            t = t[:, top : top + side, left : left + side]
        if t.shape[1:] != (size, size):
            t = F.interpolate(t[None], size=(size, size), mode="bilinear", antialias=True)[0]
        tensors.append(t)
    return ((torch.stack(tensors) - INPUT_MEAN) / INPUT_STD).to(device)


class LabelSpaceImageEncoder:
    """`embed(images) -> float32[n, dim]`, L2-normalised, in the space of `class_vectors`."""

    def __init__(
        self,
        classifier: LiteClassifier,  # the torch model, or OnnxLite (efficientnet_lite.load_lite_for_inference)
        class_vectors: np.ndarray,
        device: torch.device,
        options: LabelSpaceOptions = LabelSpaceOptions(),
        class_names: Sequence[str] = (),
    ):
        self.classifier = classifier
        self.class_names = tuple(class_names)  # in class order; empty: `labels` is unavailable
        self.device = device
        self.options = options
        self.class_vectors = torch.from_numpy(class_vectors.astype(np.float32)).to(device)
        self.dim = int(class_vectors.shape[1])
        self.descriptor_dim = classifier.feature_dim

    @torch.inference_mode()
    def class_probabilities(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        batch = to_input(images, self.device, self.classifier.input_size, self.options.center_crop)
        _, logits = self.classifier(batch)
        return torch.softmax(logits / self.options.temperature, dim=-1)

    @torch.inference_mode()
    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_probabilities(self.class_probabilities(images))

    @torch.inference_mode()
    def embed_and_describe(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The shared-space vectors and, from the same forward pass, copy descriptors.

        The descriptor is the classifier's pooled features, L2-normalised. Measured on 274 real
        photos against H.264 frames of altered copies (docs/moderation.md), it tells a photo's
        copies from other photos far better than the label-space vector, which puts two photos
        of cats close on purpose. A reference picture must be squashed to the frame size first,
        as frames are, so the central crop covers the same content.
        """
        if not images:
            empty = np.zeros((0, self.dim), dtype=np.float32)
            return empty, np.zeros((0, self.descriptor_dim), dtype=np.float32)
        batch = to_input(images, self.device, self.classifier.input_size, self.options.center_crop)
        features, logits = self.classifier(batch)
        vectors = self.embed_probabilities(torch.softmax(logits / self.options.temperature, dim=-1))
        return vectors, F.normalize(features, dim=-1).float().cpu().numpy()

    @torch.inference_mode()
    def labels(self, images: Sequence[np.ndarray], top_k: int) -> list[list[Concept]]:
        """Each frame's `top_k` classes, most probable first, as the classifier sees the central crop."""
        if not self.class_names:
            raise ValueError("this encoder was built without class names")
        if not images:
            return []
        batch = to_input(images, self.device, self.classifier.input_size, self.options.center_crop)
        _, logits = self.classifier(batch)
        top = torch.softmax(logits.float(), dim=-1).topk(top_k, dim=-1)
        return [
            [Concept(self.class_names[int(i)], float(p)) for p, i in zip(values, indices, strict=True)]
            for values, indices in zip(top.values.cpu(), top.indices.cpu(), strict=True)
        ]

    @torch.inference_mode()
    def embed_probabilities(self, probs: torch.Tensor) -> np.ndarray:
        """Class probabilities [n, classes] -> unit vectors [n, dim]: the top-k mixed by probability."""
        top = probs.topk(self.options.top_k, dim=-1)
        vectors = torch.einsum("nk,nkd->nd", top.values, self.class_vectors[top.indices])
        return F.normalize(vectors, dim=-1).float().cpu().numpy()
