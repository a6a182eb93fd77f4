"""EfficientNet-Lite prepared for inference (batch norm folded, padding fixed) computes what the model computes."""

from __future__ import annotations

import numpy as np
import torch

from scripts.sample_media import skimage_photo
from vigil_models.catalog import classifier_weights
from vigil_models.efficientnet_lite import load_lite0, prepare_for_inference
from vigil_models.image import to_input

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera")


def test_prepared_model_gives_the_same_features_and_classes_on_real_photos() -> None:
    weights = str(classifier_weights("efficientnet-lite0"))
    plain = load_lite0(weights, torch.device("cpu"), prepared=False)
    prepared = load_lite0(weights, torch.device("cpu"))
    photos = [np.ascontiguousarray(skimage_photo(name)) for name in PHOTOS]
    photos = [np.stack([p] * 3, axis=-1) if p.ndim == 2 else p[..., :3] for p in photos]
    batch = to_input(photos, torch.device("cpu"), plain.input_size, center_crop=0.875)
    with torch.inference_mode():
        (f0, l0), (f1, l1) = plain(batch), prepared(batch)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in prepared.modules())  # it really was folded
    cosines = torch.nn.functional.cosine_similarity(f0, f1, dim=-1)
    assert float(cosines.min()) > 0.99999, cosines
    assert float((l0 - l1).abs().max()) < 1e-3
    assert torch.equal(l0.topk(5).indices, l1.topk(5).indices)
    # Another input size still works: the padding falls back to being computed per input.
    with torch.inference_mode():
        other = torch.randn(1, 3, 160, 200)
        assert torch.allclose(plain(other)[1], prepare_for_inference(plain)(other)[1], atol=1e-3)
