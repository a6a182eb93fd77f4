"""Image encoder into the text space by label semantics (ConSE, Norouzi et al., ICLR 2014).

No image-text model installs offline, so the embedded default classifies a frame with
EfficientNet-Lite0 and maps the class probabilities through the text embeddings of the class
names: v = normalise(sum over the top-k classes of p_c * text(name_c)). The result lives in
the text encoder's space, so a text query and a frame compare by cosine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vigil_models.efficientnet_lite import INPUT_MEAN, INPUT_SIZE, INPUT_STD, EfficientNetLite


@dataclass(frozen=True)
class LabelSpaceOptions:
    top_k: int = 10  # classes mixed into each vector
    temperature: float = 1.0  # softmax temperature over the classifier's logits


def to_input(images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
    """uint8 HxWx3 RGB arrays -> normalised float batch at the classifier's input size."""
    tensors = []
    for image in images:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array of shape HxWx3, got {image.dtype} {image.shape}")
        t = torch.from_numpy(np.require(image, requirements=["C", "W"])).permute(2, 0, 1).float().div_(255.0)
        if t.shape[1:] != (INPUT_SIZE, INPUT_SIZE):
            t = F.interpolate(t[None], size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True)[0]
        tensors.append(t)
    return ((torch.stack(tensors) - INPUT_MEAN) / INPUT_STD).to(device)


class LabelSpaceImageEncoder:
    """`embed(images) -> float32[n, dim]`, L2-normalised, in the space of `class_vectors`."""

    def __init__(
        self,
        classifier: EfficientNetLite,
        class_vectors: np.ndarray,
        device: torch.device,
        options: LabelSpaceOptions = LabelSpaceOptions(),
    ):
        self.classifier = classifier
        self.device = device
        self.options = options
        self.class_vectors = torch.from_numpy(class_vectors.astype(np.float32)).to(device)
        self.dim = int(class_vectors.shape[1])

    @torch.inference_mode()
    def class_probabilities(self, images: Sequence[np.ndarray]) -> torch.Tensor:
        _, logits = self.classifier(to_input(images, self.device))
        return torch.softmax(logits / self.options.temperature, dim=-1)

    @torch.inference_mode()
    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        probs = self.class_probabilities(images)
        top = probs.topk(self.options.top_k, dim=-1)
        vectors = torch.einsum("nk,nkd->nd", top.values, self.class_vectors[top.indices])
        return F.normalize(vectors, dim=-1).float().cpu().numpy()
