"""vigil_models: the packaged classifier and text model on real photos, the device choice, the model joiner."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from scripts.sample_media import skimage_photo
from vigil_models import LabelSpaceImageEncoder, ModelUnavailableError, SentenceEncoder, pick_device
from vigil_models.catalog import classifier_weights, imagenet_class_names, speech_model_dir, text_model_dir
from vigil_models.efficientnet_lite import FEATURE_DIM, NUM_CLASSES, EfficientNetLite, load_lite0
from vigil_models.image import to_input
from vigil_models.speech import join_split_model

pytestmark = pytest.mark.slow  # real models

PHOTOS = ("chelsea", "coffee", "rocket")
CAPTIONS = ("cat", "coffee", "rocket")  # CAPTIONS[i] describes PHOTOS[i]
CAT_CLASSES = range(281, 286)  # ImageNet: tabby, tiger cat, Persian, Siamese, Egyptian cat


@pytest.fixture(scope="module")
def device() -> torch.device:
    return pick_device()


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [skimage_photo(name) for name in PHOTOS]


@pytest.fixture(scope="module")
def class_names() -> list[str]:
    return imagenet_class_names()


@pytest.fixture(scope="module")
def classifier(device: torch.device) -> EfficientNetLite:
    return load_lite0(str(classifier_weights("efficientnet-lite0")), device)


@pytest.fixture(scope="module")
def text_encoder(device: torch.device) -> SentenceEncoder:
    return SentenceEncoder(text_model_dir("all-MiniLM-L6-v2"), device)


@pytest.fixture(scope="module")
def image_encoder(
    classifier: EfficientNetLite, text_encoder: SentenceEncoder, class_names: list[str], device: torch.device
) -> LabelSpaceImageEncoder:
    return LabelSpaceImageEncoder(classifier, text_encoder.embed(class_names), device)


@pytest.fixture(scope="module")
def logits(classifier: EfficientNetLite, photos: list[np.ndarray], device: torch.device) -> torch.Tensor:
    with torch.inference_mode():
        features, out = classifier(to_input(photos, device))
    assert features.shape == (len(photos), FEATURE_DIM)
    assert out.shape == (len(photos), NUM_CLASSES)
    result: torch.Tensor = out.cpu()
    return result


# -- EfficientNet-Lite0 ------------------------------------------------------------------------


def test_lite0_sees_a_cat_in_chelsea(logits: torch.Tensor, class_names: list[str]) -> None:
    top = int(logits[PHOTOS.index("chelsea")].argmax())
    assert top in CAT_CLASSES, class_names[top]


def test_lite0_sees_espresso_in_coffee(logits: torch.Tensor, class_names: list[str]) -> None:
    top = class_names[int(logits[PHOTOS.index("coffee")].argmax())]
    assert "espresso" in top or "coffee" in top, top


def test_to_input_rejects_what_is_not_rgb_uint8(device: torch.device) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        to_input([np.zeros((224, 224), dtype=np.uint8)], device)
    with pytest.raises(ValueError, match="RGB uint8"):
        to_input([np.zeros((224, 224, 3), dtype=np.float32)], device)


def test_class_names_are_the_thousand_imagenet_classes_in_order(class_names: list[str]) -> None:
    assert len(class_names) == 1000
    assert "goldfish" in class_names[1].lower()
    assert "espresso" in class_names[967].lower()


# -- the label space: images and text in one space ---------------------------------------------


def test_each_caption_finds_its_own_photo_first(
    image_encoder: LabelSpaceImageEncoder, text_encoder: SentenceEncoder, photos: list[np.ndarray]
) -> None:
    images = image_encoder.embed(photos)
    texts = text_encoder.embed(list(CAPTIONS))
    scores = texts @ images.T  # cosine: both sides are unit vectors
    assert list(scores.argmax(axis=1)) == [0, 1, 2], np.round(scores, 3)  # caption -> photo
    assert list(scores.argmax(axis=0)) == [0, 1, 2], np.round(scores, 3)  # photo -> caption


def test_vectors_are_unit_float32_of_dim_384(
    image_encoder: LabelSpaceImageEncoder, text_encoder: SentenceEncoder, photos: list[np.ndarray]
) -> None:
    for vectors in (image_encoder.embed(photos[:2]), text_encoder.embed(["a red kite", "ein Hund"])):
        assert vectors.dtype == np.float32
        assert vectors.shape == (2, 384)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert image_encoder.dim == text_encoder.dim == 384
    assert image_encoder.embed([]).shape == (0, 384)
    assert text_encoder.embed([]).shape == (0, 384)


def test_an_image_vector_does_not_depend_on_its_batch(
    image_encoder: LabelSpaceImageEncoder, photos: list[np.ndarray]
) -> None:
    alone = image_encoder.embed([photos[2]])
    together = image_encoder.embed(photos)[2:]
    np.testing.assert_allclose(alone, together, atol=1e-5)


# -- device --------------------------------------------------------------------------------------


def test_cuda_without_a_gpu_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for requested in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="no CUDA GPU"):
            pick_device(requested)
    assert pick_device("auto") == torch.device("cpu")


def test_auto_picks_cuda_when_a_gpu_is_visible(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto") == torch.device("cuda")
    assert pick_device("cuda:1") == torch.device("cuda", 1)


def test_auto_matches_this_machine() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert pick_device("auto").type == expected
    assert pick_device("cpu") == torch.device("cpu")
    with pytest.raises(RuntimeError):
        pick_device("tpu")


# -- model files ---------------------------------------------------------------------------------


def test_packaged_speech_model_dir_and_unknown_names(tmp_path: Path) -> None:
    assert (speech_model_dir("tiny.en", tmp_path) / "model.bin").is_file()
    with pytest.raises(ModelUnavailableError, match="unknown speech model"):
        speech_model_dir("large-v3", tmp_path)
    with pytest.raises(ModelUnavailableError):
        text_model_dir("clip")


@pytest.fixture
def split_model(tmp_path: Path) -> tuple[list[Path], Path]:
    """A model shipped in two parts, the second part's directory holding the other files."""
    first, second = tmp_path / "pkg1", tmp_path / "pkg2"
    first.mkdir()
    second.mkdir()
    (first / "model.bin.part1").write_bytes(b"first-half|")
    (second / "model.bin.part2").write_bytes(b"second-half")
    (second / "config.json").write_text('{"x": 1}')
    (second / "tokenizer.json").write_text("{}")
    return [first / "model.bin.part1", second / "model.bin.part2"], second


def test_join_split_model_joins_once(split_model: tuple[list[Path], Path], tmp_path: Path) -> None:
    parts, extras = split_model
    cache = tmp_path / "cache"

    joined = join_split_model(parts, extras, cache)

    assert (joined / "model.bin").read_bytes() == b"first-half|second-half"
    assert sorted(p.name for p in joined.iterdir()) == ["config.json", "model.bin", "tokenizer.json"]
    assert [p for p in cache.iterdir() if p != joined] == []  # no temporary directory left behind
    stamp = (joined / "model.bin").stat().st_mtime_ns
    os.utime(joined / "model.bin", ns=(stamp - 10**9, stamp - 10**9))

    again = join_split_model(parts, extras, cache)

    assert again == joined
    assert (again / "model.bin").stat().st_mtime_ns == stamp - 10**9  # reused, not rewritten


def test_join_split_model_replaces_a_half_written_dir(split_model: tuple[list[Path], Path], tmp_path: Path) -> None:
    parts, extras = split_model
    cache = tmp_path / "cache"
    target = join_split_model(parts, extras, cache)
    (target / "model.bin").unlink()  # as if a run died before renaming into place
    (target / "junk").write_text("x")

    again = join_split_model(parts, extras, cache)

    assert again == target
    assert (again / "model.bin").read_bytes() == b"first-half|second-half"
    assert not (again / "junk").exists()


def test_join_split_model_keys_the_cache_on_the_parts(split_model: tuple[list[Path], Path], tmp_path: Path) -> None:
    parts, extras = split_model
    cache = tmp_path / "cache"
    before = join_split_model(parts, extras, cache)
    parts[1].write_bytes(b"second-half, a newer release")

    after = join_split_model(parts, extras, cache)

    assert after != before
    assert (after / "model.bin").read_bytes() == b"first-half|second-half, a newer release"


def _squashed(image: np.ndarray, size: int = 224) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def test_copy_descriptors_tell_a_photos_copy_from_photos_of_its_kind(
    image_encoder: LabelSpaceImageEncoder, photos: list[np.ndarray]
) -> None:
    """The descriptor comes from the same pass as the vector and separates copies from look-alikes."""
    cat = photos[0]
    half = cat[::2, ::2]
    dy, dx = half.shape[0] // 20, half.shape[1] // 20
    copy = np.ascontiguousarray(half[dy:-dy, dx:-dx])  # 50 % and 5 % off each side
    others = [photos[1], photos[2], skimage_photo("astronaut")]
    frames = [_squashed(image) for image in (cat, copy, *others)]
    vectors, descriptors = image_encoder.embed_and_describe(frames)
    np.testing.assert_allclose(vectors, image_encoder.embed(frames), atol=1e-5)
    assert descriptors.shape == (5, FEATURE_DIM) and image_encoder.descriptor_dim == FEATURE_DIM
    np.testing.assert_allclose(np.linalg.norm(descriptors, axis=1), 1.0, atol=1e-5)
    similarity = descriptors[1:] @ descriptors[0]
    assert similarity[0] >= 0.75 > similarity[1:].max(), np.round(similarity, 3)
    empty_vectors, empty_descriptors = image_encoder.embed_and_describe([])
    assert empty_vectors.shape == (0, 384) and empty_descriptors.shape == (0, FEATURE_DIM)
