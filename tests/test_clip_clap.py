"""vigil_models.clip: the CLIP / CLAP loading code, on tiny random-weight models the tests build.

No CLIP or CLAP weights install offline, so these tests check the plumbing (loading, preprocessing,
batching, resampling, the CLAP -> CLIP map and its cache, the registry entry), not retrieval quality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, ClapConfig, ClapFeatureExtractor, ClapModel, CLIPConfig, CLIPModel

from vigil_models import ModelUnavailableError, load_models
from vigil_models.catalog import text_model_dir
from vigil_models.clip import (
    CLIP_CLAP_SPACE,
    ClapAudioEncoder,
    ClipEncoder,
    ClipImageAdapter,
    ClipTextAdapter,
    ImagePreprocessing,
    TextMap,
    default_fit_texts,
    load_clip_space,
    resample,
)

CLIP_DIM = 16  # projection_dim of the tiny CLIP
CLAP_DIM = 24  # projection_dim of the tiny CLAP: differs, so the map has to change the dimension
IMAGE_SIZE = 32
CLAP_RATE = 48_000
TEXTS = ["a cat", "a dog barking at the postman on a rainy morning", "rocket", "the sound of rain on a tin roof"]


@dataclass(frozen=True)
class ModelDirs:
    clip: Path
    clap: Path
    other_clip: Path  # same architecture as `clip`, other random weights


def _tokenizer() -> Any:
    """The packaged MiniLM WordPiece tokenizer: offline, and CLIP/CLAP only need ids and a mask."""
    return AutoTokenizer.from_pretrained(str(text_model_dir("all-MiniLM-L6-v2")), local_files_only=True)


def _save_clip(path: Path, seed: int) -> None:
    tokenizer = _tokenizer()
    text = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,  # CLIP pools at the first end-of-text token: [SEP] here
        pad_token_id=tokenizer.pad_token_id,
    )
    vision = dict(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2, image_size=IMAGE_SIZE
    )
    torch.manual_seed(seed)
    config = CLIPConfig(text_config=text, vision_config={**vision, "patch_size": 8}, projection_dim=CLIP_DIM)
    CLIPModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    preprocessor = {
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": True,
        "size": {"shortest_edge": IMAGE_SIZE},
        "resample": 3,
        "do_center_crop": True,
        "crop_size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
    }
    (path / "preprocessor_config.json").write_text(json.dumps(preprocessor))


def _save_clap(path: Path, seed: int) -> None:
    tokenizer = _tokenizer()
    text = dict(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=66,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    # HTSAT: 16 mel bins, spectrogram image 64 (freq ratio 4), two Swin stages of 16 and 32 channels.
    audio = dict(
        num_mel_bins=16,
        spec_size=64,
        window_size=4,
        depths=[1, 1],
        num_attention_heads=[2, 2],
        patch_embeds_hidden_size=16,
        hidden_size=32,
    )
    torch.manual_seed(seed)
    ClapModel(ClapConfig(text_config=text, audio_config=audio, projection_dim=CLAP_DIM)).save_pretrained(path)
    tokenizer.save_pretrained(path)
    # A 1 s window (10 s in laion/clap-htsat-*), so a short test clip already spans several windows.
    ClapFeatureExtractor(
        feature_size=16, sampling_rate=CLAP_RATE, max_length_s=1, truncation="rand_trunc", padding="repeatpad"
    ).save_pretrained(path)


@pytest.fixture(scope="module")
def model_dirs(tmp_path_factory: pytest.TempPathFactory) -> ModelDirs:
    root = tmp_path_factory.mktemp("hf-models")
    dirs = ModelDirs(root / "clip", root / "clap", root / "other-clip")
    _save_clip(dirs.clip, seed=0)
    _save_clap(dirs.clap, seed=1)
    _save_clip(dirs.other_clip, seed=2)
    return dirs


@pytest.fixture(scope="module")
def clip(model_dirs: ModelDirs) -> ClipEncoder:
    return ClipEncoder(model_dirs.clip, torch.device("cpu"))


@pytest.fixture(scope="module")
def map_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("map-cache")


@pytest.fixture(scope="module")
def clap(model_dirs: ModelDirs, clip: ClipEncoder, map_cache: Path) -> ClapAudioEncoder:
    return ClapAudioEncoder(model_dirs.clap, torch.device("cpu"), clip, map_cache)


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    shapes = [(IMAGE_SIZE, IMAGE_SIZE), (48, 80), (120, 90), (224, 224)]
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]


def _sine(freq: float, seconds: float, rate: int = 16_000) -> np.ndarray:
    return (0.5 * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)).astype(np.float32)


def _clips() -> list[np.ndarray]:
    noise = np.random.default_rng(1).normal(0, 0.1, 16_000 * 2).astype(np.float32)
    return [_sine(440, 0.5), _sine(1000, 2.5), noise]  # shorter than, and spanning, the 1 s window


def _assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.dtype == np.float32
    assert vectors.shape == (n, dim)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_loads_from_directories_offline(
    model_dirs: ModelDirs, clap: ClapAudioEncoder, map_cache: Path, tmp_path: Path
) -> None:
    """A fresh process with the hub switched off loads both models (and the cached map) and embeds."""
    script = f"""
from pathlib import Path
import numpy as np, torch
from vigil_models.clip import load_clip_space
cache = Path({str(map_cache)!r})
space = load_clip_space({str(model_dirs.clip)!r}, {str(model_dirs.clap)!r}, torch.device("cpu"), cache)
print(space.spec.dim, space.text.embed(["a cat"]).shape, space.image.embed([np.zeros((40, 60, 3), np.uint8)]).shape,
      space.audio.embed([np.zeros(16000, np.float32)]).shape)
"""
    assert clap.map_path is not None
    mtime = clap.map_path.stat().st_mtime_ns
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf")}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parents[1] / "models"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[0] == str(CLIP_DIM)
    assert clap.map_path.stat().st_mtime_ns == mtime  # the other process read the map, did not refit it


def test_text_and_image_embeddings_are_unit_float32(clip: ClipEncoder) -> None:
    assert clip.dim == CLIP_DIM
    _assert_unit_rows(clip.embed_texts(TEXTS), len(TEXTS), CLIP_DIM)
    _assert_unit_rows(clip.embed_images(_images()), 4, CLIP_DIM)
    _assert_unit_rows(clip.embed_texts([]), 0, CLIP_DIM)
    _assert_unit_rows(clip.embed_images([]), 0, CLIP_DIM)
    with pytest.raises(ValueError, match="RGB uint8"):
        clip.embed_images([np.zeros((32, 32), np.uint8)])


def test_a_batch_gives_the_vectors_of_one_at_a_time(clip: ClipEncoder, clap: ClapAudioEncoder) -> None:
    """Padding texts, mixing image sizes or clip lengths in one batch changes no vector."""
    texts, images, clips = TEXTS, _images(), _clips()
    one_by_one = np.concatenate([clip.embed_texts([t]) for t in texts])
    np.testing.assert_allclose(clip.embed_texts(texts), one_by_one, atol=1e-5)
    one_by_one = np.concatenate([clip.embed_images([image]) for image in images])
    np.testing.assert_allclose(clip.embed_images(images), one_by_one, atol=1e-5)
    one_by_one = np.concatenate([clap.embed_audio([c]) for c in clips])
    np.testing.assert_allclose(clap.embed_audio(clips), one_by_one, atol=1e-5)


def test_preprocessing_follows_the_processor_config() -> None:
    # Older checkpoints (openai/clip-vit-base-patch32) write sizes as plain ints.
    old_style = {"size": 32, "crop_size": 32, "do_resize": True, "do_center_crop": True}
    assert ImagePreprocessing.from_config(old_style, 224).shortest_edge == 32
    assert ImagePreprocessing.from_config(old_style, 224).crop == (32, 32)
    assert ImagePreprocessing.from_config({}, 224).crop == (224, 224)  # no config: the model's image size
    # A wide image is resized by its short side and the middle kept: left third red, middle green, right blue.
    image = np.zeros((64, 192, 3), np.uint8)
    image[:, :64, 0], image[:, 64:128, 1], image[:, 128:, 2] = 255, 255, 255
    plain = ImagePreprocessing(shortest_edge=32, resize=None, crop=(32, 32), mean=(0, 0, 0), std=(1, 1, 1))
    pixels = plain([image], torch.device("cpu"))
    assert pixels.shape == (1, 3, 32, 32)
    np.testing.assert_allclose(pixels[0, :, 16, 16].numpy(), [0, 1, 0], atol=1e-3)


def test_resample_16k_to_48k_keeps_the_pitch() -> None:
    tone = _sine(440, 1.0)
    up = resample(tone, 16_000, CLAP_RATE)
    assert up.dtype == np.float32 and len(up) == 3 * len(tone)
    assert np.argmax(np.abs(np.fft.rfft(up))) == 440  # 1 s of audio: bin k is k Hz
    down = resample(up, CLAP_RATE, 16_000)
    np.testing.assert_allclose(down[100:-100], tone[100:-100], atol=0.02)


def test_audio_at_16k_is_embedded_into_the_clip_space(clap: ClapAudioEncoder) -> None:
    assert clap.sample_rate == CLAP_RATE and clap.dim == CLIP_DIM
    clips = _clips()
    vectors = clap.embed_audio(clips)
    _assert_unit_rows(vectors, len(clips), CLIP_DIM)
    _assert_unit_rows(clap.embed_clap_audio(clips), len(clips), CLAP_DIM)
    np.testing.assert_allclose(clap.embed_audio(clips), vectors, atol=1e-6)  # no random crop of long clips
    # Giving the clip at 48 kHz instead lands (nearly) on the same vector: the rate is converted, not ignored.
    at_48k = clap.embed_audio([resample(clips[1], 16_000, CLAP_RATE)], sample_rate=CLAP_RATE)
    assert float(at_48k[0] @ vectors[1]) > 0.99
    assert clap.embed([clips[0]]).shape == (1, CLIP_DIM)
    with pytest.raises(ValueError, match="mono"):
        clap.embed_audio([np.zeros((2, 100), np.float32)])


def test_fitted_map_brings_clap_text_onto_clip_text(clip: ClipEncoder, clap: ClapAudioEncoder) -> None:
    texts = list(dict.fromkeys(default_fit_texts()))
    assert len(texts) > 1000 and clap.text_map.n_texts == len(texts)
    clap_texts = clap.embed_clap_texts(texts)
    mapped = clap.text_map.apply(clap_texts)
    target = clip.embed_texts(texts)
    matched = float(np.mean(np.sum(mapped * target, axis=1)))
    shuffled = float(mapped.mean(axis=0) @ target.mean(axis=0))  # the mean over every (i, j) pairing
    # Without the fit: the same CLAP vectors through a random projection of the right shape.
    projection = np.random.default_rng(1).normal(size=(CLAP_DIM, CLIP_DIM)).astype(np.float32)
    unmapped = clap_texts @ projection
    unmapped /= np.linalg.norm(unmapped, axis=1, keepdims=True)
    unfitted = float(np.mean(np.sum(unmapped * target, axis=1)))
    assert matched == pytest.approx(clap.text_map.mean_cosine, abs=1e-4)
    assert matched > shuffled + 0.05, (matched, shuffled)
    assert matched > unfitted + 0.05, (matched, unfitted)


def test_map_is_saved_once_and_reloaded(
    model_dirs: ModelDirs, clip: ClipEncoder, clap: ClapAudioEncoder, map_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert clap.map_path is not None and clap.map_path.is_file()
    assert clap.map_path.is_relative_to(map_cache)
    mtime = clap.map_path.stat().st_mtime_ns
    fits: list[int] = []
    original = ClapAudioEncoder.fit_text_map

    def counted(self: ClapAudioEncoder, texts: Sequence[str]) -> TextMap:
        fits.append(len(texts))
        return original(self, texts)

    monkeypatch.setattr(ClapAudioEncoder, "fit_text_map", counted)

    again = ClapAudioEncoder(model_dirs.clap, torch.device("cpu"), clip, map_cache)
    assert fits == [] and again.map_path == clap.map_path
    assert clap.map_path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.text_map.weight, clap.text_map.weight)
    np.testing.assert_allclose(again.embed_audio(_clips()), clap.embed_audio(_clips()), atol=1e-6)

    # Another CLIP checkpoint of the same architecture gets its own map.
    other = ClapAudioEncoder(
        model_dirs.clap, torch.device("cpu"), ClipEncoder(model_dirs.other_clip, torch.device("cpu")), map_cache
    )
    assert len(fits) == 1 and other.map_path != clap.map_path
    assert other.map_path is not None and other.map_path.is_file()


def test_clip_clap_space_needs_model_directories(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as error:
        load_models(CLIP_CLAP_SPACE, "tiny.en", torch.device("cpu"), tmp_path)
    assert "--clip-model" in str(error.value) and "--clap-model" in str(error.value)
    with pytest.raises(ModelUnavailableError, match="--clip-model"):
        ClipEncoder(tmp_path / "no-such-model", torch.device("cpu"))


def test_load_models_builds_the_clip_clap_space(model_dirs: ModelDirs, map_cache: Path) -> None:
    models = load_models(
        CLIP_CLAP_SPACE,
        "tiny.en",
        torch.device("cpu"),
        map_cache,
        clip_model=str(model_dirs.clip),
        clap_model=str(model_dirs.clap),
    )
    assert isinstance(models.text, ClipTextAdapter) and isinstance(models.image, ClipImageAdapter)
    assert models.space.dim == models.text.dim == models.image.dim == CLIP_DIM
    assert models.space.name.startswith(f"{CLIP_CLAP_SPACE}-")
    _assert_unit_rows(models.text.embed(["a cat"]), 1, CLIP_DIM)
    _assert_unit_rows(models.image.embed(_images()[:1]), 1, CLIP_DIM)
    vectors, descriptors = models.image.embed_and_describe(_images()[:1])
    assert models.image.descriptor_dim == CLIP_DIM and np.array_equal(vectors, descriptors)
    assert models.audio is not None
    _assert_unit_rows(models.audio.embed(_clips()[:1]), 1, CLIP_DIM)
    # The same weights name the same space, whatever process loads them.
    assert load_clip_space(model_dirs.clip, model_dirs.clap, torch.device("cpu"), map_cache).spec == models.space
