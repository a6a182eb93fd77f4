"""The frame encoder's fast path (ONNX Runtime on CPU) computes what the torch model computes, and
the thread plan that sizes every runtime's pool."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from scripts.sample_media import skimage_photo
from vigil_models import efficientnet_lite
from vigil_models.catalog import classifier_weights
from vigil_models.efficientnet_lite import EfficientNetLite, OnnxLite, load_lite0, load_lite_for_inference
from vigil_models.image import LabelSpaceImageEncoder, to_input
from vigil_models.threads import ThreadPlan, auto_threads, plan_threads

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera", "immunohistochemistry")
CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def weights() -> str:
    return str(classifier_weights("efficientnet-lite0"))


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [skimage_photo(name) for name in PHOTOS]


@pytest.fixture(scope="module")
def fast(weights: str, tmp_path_factory: pytest.TempPathFactory) -> OnnxLite:
    classifier = load_lite_for_inference("efficientnet-lite0", weights, CPU, 1, tmp_path_factory.mktemp("cache"))
    assert isinstance(classifier, OnnxLite)  # on CPU the fast path is the default
    return classifier


@pytest.mark.slow
def test_onnx_path_gives_the_eager_models_features_and_classes_on_real_photos(
    weights: str, fast: OnnxLite, photos: list[np.ndarray]
) -> None:
    eager = load_lite0(weights, CPU)
    for batch in (photos[:1], photos[:3], photos):  # the image worker's batches vary in size
        x = to_input(batch, CPU, eager.input_size, center_crop=0.875)
        with torch.inference_mode():
            (f0, l0), (f1, l1) = eager(x), fast(x)
        assert f1.shape == f0.shape and l1.shape == l0.shape
        assert float(torch.nn.functional.cosine_similarity(f0, f1, dim=-1).min()) > 0.99999
        assert float((l0 - l1).abs().max()) < 1e-3
        assert torch.equal(l0.topk(5).indices, l1.topk(5).indices)


@pytest.mark.slow
def test_encoder_on_the_onnx_path_gives_the_same_vectors_descriptors_and_labels(
    weights: str, fast: OnnxLite, photos: list[np.ndarray]
) -> None:
    rng = np.random.default_rng(0)
    class_vectors = rng.standard_normal((efficientnet_lite.NUM_CLASSES, 384)).astype(np.float32)
    names = [f"class {i}" for i in range(efficientnet_lite.NUM_CLASSES)]
    eager = LabelSpaceImageEncoder(load_lite0(weights, CPU), class_vectors, CPU, class_names=names)
    onnx = LabelSpaceImageEncoder(fast, class_vectors, CPU, class_names=names)
    v0, d0 = eager.embed_and_describe(photos)
    v1, d1 = onnx.embed_and_describe(photos)
    assert v1.dtype == np.float32 and d1.dtype == np.float32
    assert float(np.abs(v0 - v1).max()) < 1e-4
    assert float(np.abs(d0 - d1).max()) < 1e-4
    np.testing.assert_allclose(onnx.embed(photos), v0, atol=1e-4)
    assert [[c.name for c in row] for row in onnx.labels(photos, 3)] == [
        [c.name for c in row] for row in eager.labels(photos, 3)
    ]


@pytest.mark.slow
def test_onnx_path_refuses_other_input_sizes(fast: OnnxLite) -> None:
    with pytest.raises(ValueError, match=r"\[n, 3, 224, 224\]"):
        fast(torch.zeros(1, 3, 160, 200))


@pytest.mark.slow
def test_export_is_cached_and_reused_without_exporting_again(
    weights: str, tmp_path: Path, photos: list[np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_lite_for_inference("efficientnet-lite0", weights, CPU, 1, tmp_path)
    cached = list(tmp_path.glob("*.onnx"))
    assert len(cached) == 1 and isinstance(first, OnnxLite)

    def no_export(model: EfficientNetLite) -> bytes:
        raise AssertionError("exported again although the cache holds the graph")

    monkeypatch.setattr(efficientnet_lite, "export_onnx", no_export)
    second = load_lite_for_inference("efficientnet-lite0", weights, CPU, 1, tmp_path)
    assert isinstance(second, OnnxLite)
    x = to_input(photos[:2], CPU, 224, center_crop=0.875)
    assert torch.equal(first(x)[1], second(x)[1])


@pytest.mark.slow
def test_a_damaged_cache_file_is_exported_again(weights: str, tmp_path: Path) -> None:
    load_lite_for_inference("efficientnet-lite0", weights, CPU, 1, tmp_path)
    (cached,) = tmp_path.glob("*.onnx")
    cached.write_bytes(b"not an onnx graph")
    again = load_lite_for_inference("efficientnet-lite0", weights, CPU, 1, tmp_path)
    assert isinstance(again, OnnxLite)
    assert cached.stat().st_size > 1_000_000  # rewritten with the real graph


@pytest.mark.slow
def test_falls_back_to_the_torch_model_when_the_fast_path_cannot_be_built(
    weights: str,
    tmp_path: Path,
    photos: list[np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def no_onnx(model: EfficientNetLite) -> bytes:
        raise ModuleNotFoundError("No module named 'onnx'")

    monkeypatch.setattr(efficientnet_lite, "export_onnx", no_onnx)
    with caplog.at_level(logging.WARNING, logger=efficientnet_lite.__name__):
        classifier = load_lite_for_inference("efficientnet-lite0", weights, CPU, 1, tmp_path)
    assert isinstance(classifier, EfficientNetLite)
    assert "frame encoder runs on torch" in caplog.text and "onnx" in caplog.text
    x = to_input(photos[:1], CPU, 224, center_crop=0.875)
    with torch.inference_mode():
        assert classifier(x)[1].shape == (1, efficientnet_lite.NUM_CLASSES)


def test_thread_plan_gives_each_runtime_one_thread_on_small_machines_and_obeys_cpu_threads() -> None:
    assert plan_threads(0, cpus=2) == ThreadPlan(torch_intra=1, torch_interop=1, whisper=1, onnx=1)
    assert auto_threads(1) == 1 and auto_threads(4) == 1 and auto_threads(8) == 2 and auto_threads(64) == 4
    assert plan_threads(3, cpus=2) == ThreadPlan(torch_intra=3, torch_interop=1, whisper=3, onnx=3)
    assert plan_threads(0).whisper == auto_threads()
    with pytest.raises(ValueError, match="cpu_threads"):
        plan_threads(-1)
