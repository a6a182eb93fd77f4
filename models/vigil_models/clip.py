"""Production encoders: CLIP for frames and text, CLAP for sound, in one space (CLIP's).

Weights are never downloaded: each model loads with `transformers` from a directory written by
`save_pretrained`, or by a model name already in the local Hugging Face cache.

CLAP's audio embeddings live in CLAP's own space. They are brought into CLIP's space by an affine
map fitted once, by ridge-regularised least squares, on pairs of text embeddings of the same
sentences (CLAP text -> CLIP text); the map is cached on disk, keyed by both models, and the
audio vector is then `normalise(W @ clap_audio + b)`. The map is learnt on text only, so audio
vectors keep CLAP's gap between its audio and text embeddings: compare their scores with the
per-modality calibration, not with the raw cosine of frames.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import try_to_load_from_cache
from transformers import AutoTokenizer, ClapFeatureExtractor, ClapModel, CLIPModel

from vigil_models.catalog import ModelUnavailableError, SpaceSpec, imagenet_class_names
from vigil_models.speech import SAMPLE_RATE

__all__ = [
    "CLIP_CLAP_SPACE",
    "MAP_FILE",
    "SOUND_LABELS",
    "ClapAudioEncoder",
    "ClipEncoder",
    "ClipImageAdapter",
    "ClipSpace",
    "ClipSpaceSpec",
    "ClipTextAdapter",
    "ImagePreprocessing",
    "TextMap",
    "default_fit_texts",
    "fit_text_map",
    "load_clip_space",
    "resample",
]

log = logging.getLogger(__name__)

CLIP_CLAP_SPACE = "clip-clap"
MAP_FILE = "clap_to_clip.npz"
PREPROCESSOR_FILE = "preprocessor_config.json"
# Ridge term of the CLAP -> CLIP fit, relative to the mean variance of the CLAP text embeddings.
RIDGE = 1e-3
TEXT_BATCH = 64  # texts per forward pass
IMAGE_BATCH = 32  # frames per forward pass
AUDIO_BATCH = 16  # audio windows per forward pass
# OpenAI CLIP's normalisation, used when a model directory has no preprocessor_config.json.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

# Sound words for fitting the map, beside the ImageNet class names (which are all visual).
SOUND_LABELS = (
    "speech", "conversation", "shouting", "whispering", "laughter", "a baby crying", "applause",
    "a cheering crowd", "singing", "a choir", "music", "piano", "guitar", "drums", "violin", "an orchestra",
    "rock music", "electronic music", "a dog barking", "a cat meowing", "birds singing", "a rooster crowing",
    "a cow mooing", "a horse neighing", "insects buzzing", "rain", "thunder", "wind", "ocean waves",
    "running water", "a fire crackling", "a car engine", "a car horn", "traffic", "a siren", "a train",
    "a helicopter", "an airplane", "a motorcycle", "footsteps", "knocking on a door", "a door slamming",
    "glass breaking", "a gunshot", "an explosion", "fireworks", "an alarm", "a telephone ringing",
    "typing on a keyboard", "a vacuum cleaner", "a power drill", "a chainsaw", "hammering", "a bell ringing",
    "a clock ticking", "coughing", "sneezing", "snoring", "breathing", "silence", "static noise", "beeping",
)  # fmt: skip


def default_fit_texts() -> list[str]:
    """ImageNet class names, sound words, and the sound words in a sentence: about 1,100 texts."""
    return [*imagenet_class_names(), *SOUND_LABELS, *(f"the sound of {label}" for label in SOUND_LABELS)]


@dataclass(frozen=True)
class ClipSpaceSpec(SpaceSpec):
    """The "clip-clap" space as loaded: its name carries a fingerprint of both models, so vectors
    from different checkpoints never share a collection."""

    clip_model: str = ""  # directory or cached model name
    clap_model: str = ""


def _features(output: Any) -> torch.Tensor:
    """transformers 5 returns an output object from `get_*_features`; older versions a tensor."""
    tensor = output if isinstance(output, torch.Tensor) else output.pooler_output
    assert isinstance(tensor, torch.Tensor)
    return tensor


def _to_numpy(tensor: torch.Tensor) -> np.ndarray:
    array: np.ndarray = F.normalize(tensor.float(), dim=-1).cpu().numpy()
    return array


@torch.inference_mode()
def _embed_texts(
    model: Any, tokenizer: Any, max_tokens: int, dim: int, texts: Sequence[str], device: torch.device
) -> np.ndarray:
    """A CLIP or CLAP text tower over `texts`, TEXT_BATCH at a time: float32[n, dim], L2-normalised."""
    rows = [np.zeros((0, dim), dtype=np.float32)]
    for start in range(0, len(texts), TEXT_BATCH):
        batch = tokenizer(
            list(texts[start : start + TEXT_BATCH]),
            padding=True,
            truncation=True,
            max_length=max_tokens,
            return_tensors="pt",
        )
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        rows.append(_to_numpy(_features(model.get_text_features(input_ids=ids, attention_mask=mask))))
    return np.concatenate(rows)


def _fingerprints(config: Any, *modules: torch.nn.Module) -> tuple[str, str]:
    """(hash of the projection weights, hash of those and the config).

    The first names the checkpoint (two of one architecture differ) and survives a transformers
    upgrade that writes its configs differently; the second keys cached data derived from the model.
    """
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    weights = digest.hexdigest()
    settings = {k: v for k, v in config.to_dict().items() if k not in ("transformers_version", "_name_or_path")}
    digest.update(json.dumps(settings, sort_keys=True, default=str).encode())
    return weights, digest.hexdigest()


def _load(kind: str, source: str, flag: str, loader: Any) -> Any:
    try:
        return loader(source, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(
            f"{kind} model {source!r} could not be loaded from disk ({exc}); pass {flag} a directory written by "
            "save_pretrained (config, weights, tokenizer, preprocessor_config.json) or the name of a model already "
            "in the Hugging Face cache: nothing is downloaded"
        ) from exc


def _preprocessor_config(source: str) -> dict[str, Any]:
    """The model's preprocessor_config.json, from its directory or the local hub cache; {} when absent."""
    path: Path | None = Path(source) / PREPROCESSOR_FILE
    if not Path(source).is_dir():
        cached = try_to_load_from_cache(source, PREPROCESSOR_FILE)
        path = Path(cached) if isinstance(cached, str) else None
    if path is None or not path.is_file():
        return {}
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def _pair(value: Any, default: int) -> tuple[int, int]:
    """A size as preprocessor configs write it: an int, {"height", "width"} or {"shortest_edge"}."""
    if isinstance(value, int):
        return value, value
    if isinstance(value, dict) and "height" in value:
        return int(value["height"]), int(value["width"])
    if isinstance(value, dict) and "shortest_edge" in value:
        return int(value["shortest_edge"]), int(value["shortest_edge"])
    return default, default


@dataclass(frozen=True)
class ImagePreprocessing:
    """CLIP's preprocessing, done in torch on the model's device (CLIPImageProcessor needs torchvision)."""

    shortest_edge: int | None  # resize so the shorter side has this length, keeping the aspect ratio
    resize: tuple[int, int] | None  # or resize to exactly (height, width); None: no resize
    crop: tuple[int, int] | None  # centre crop (height, width)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    rescale: float = 1 / 255

    @classmethod
    def from_config(cls, config: dict[str, Any], image_size: int) -> ImagePreprocessing:
        size = config.get("size", {"shortest_edge": image_size})
        shortest = None
        resize = None
        if config.get("do_resize", True):
            if isinstance(size, int) or (isinstance(size, dict) and "shortest_edge" in size):
                shortest = _pair(size, image_size)[0]
            else:
                resize = _pair(size, image_size)
        crop = _pair(config.get("crop_size"), image_size) if config.get("do_center_crop", True) else None
        normalize = config.get("do_normalize", True)
        return cls(
            shortest_edge=shortest,
            resize=resize,
            crop=crop,
            mean=tuple(config.get("image_mean", CLIP_MEAN)) if normalize else (0.0, 0.0, 0.0),
            std=tuple(config.get("image_std", CLIP_STD)) if normalize else (1.0, 1.0, 1.0),
            rescale=float(config.get("rescale_factor", 1 / 255)) if config.get("do_rescale", True) else 1.0,
        )

    def _one(self, image: np.ndarray, device: torch.device) -> torch.Tensor:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array of shape HxWx3, got {image.dtype} {image.shape}")
        pixels = torch.from_numpy(np.require(image, requirements=["C", "W"])).to(device).permute(2, 0, 1).float()
        height, width = pixels.shape[1:]
        target = self.resize
        if self.shortest_edge is not None:
            short, long = min(height, width), max(height, width)
            new_long = int(self.shortest_edge * long / short)
            target = (self.shortest_edge, new_long) if height <= width else (new_long, self.shortest_edge)
        if target is not None and target != (height, width):
            pixels = F.interpolate(pixels[None], size=target, mode="bicubic", antialias=True, align_corners=False)[0]
            pixels = pixels.clamp_(0.0, 255.0)  # as the uint8 image PIL would give
        if self.crop is not None:
            pixels = _center_crop(pixels, self.crop)
        mean = torch.tensor(self.mean, device=device).view(3, 1, 1)
        std = torch.tensor(self.std, device=device).view(3, 1, 1)
        return (pixels * self.rescale - mean) / std

    def __call__(self, images: Sequence[np.ndarray], device: torch.device) -> torch.Tensor:
        """uint8 HxWx3 RGB arrays -> a normalised float batch [n, 3, h, w] on `device`."""
        return torch.stack([self._one(image, device) for image in images])


def _center_crop(pixels: torch.Tensor, crop: tuple[int, int]) -> torch.Tensor:
    """Centre crop [3, h, w], padding with zeros first where the image is smaller (as transformers does)."""
    height, width = pixels.shape[1:]
    pad_h, pad_w = max(crop[0] - height, 0), max(crop[1] - width, 0)
    if pad_h or pad_w:
        pixels = F.pad(pixels, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2))
        height, width = pixels.shape[1:]
    top, left = (height - crop[0]) // 2, (width - crop[1]) // 2
    return pixels[:, top : top + crop[0], left : left + crop[1]]


class ClipEncoder:
    """CLIP text and image towers: `embed_texts` / `embed_images` -> float32[n, dim], L2-normalised."""

    def __init__(self, model_dir_or_name: str | Path, device: torch.device, batch_size: int = IMAGE_BATCH):
        source = str(model_dir_or_name)
        self.source = source
        self.device = device
        self.batch_size = batch_size
        self.model = _load("CLIP", source, "--clip-model", CLIPModel.from_pretrained).eval().to(device)
        self.tokenizer = _load("CLIP tokenizer for", source, "--clip-model", AutoTokenizer.from_pretrained)
        config = self.model.config
        self.dim = int(config.projection_dim)
        # The real CLIP tokenizer stops at 77 tokens; take the smaller of its limit and the model's.
        self.max_tokens = min(int(self.tokenizer.model_max_length), int(config.text_config.max_position_embeddings))
        image_config = _preprocessor_config(source)
        self.preprocess = ImagePreprocessing.from_config(image_config, int(config.vision_config.image_size))
        self.weights_id, self.fingerprint = _fingerprints(
            config, self.model.text_projection, self.model.visual_projection
        )

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return _embed_texts(self.model, self.tokenizer, self.max_tokens, self.dim, texts, self.device)

    @torch.inference_mode()
    def embed_images(self, images: Sequence[np.ndarray]) -> np.ndarray:
        rows = [np.zeros((0, self.dim), dtype=np.float32)]
        for start in range(0, len(images), self.batch_size):
            pixels = self.preprocess(images[start : start + self.batch_size], self.device)
            rows.append(_to_numpy(_features(self.model.get_image_features(pixel_values=pixels))))
        return np.concatenate(rows)


class ClipTextAdapter:
    """The pipeline's text encoder interface (`embed(texts)`, `dim`) over a ClipEncoder."""

    def __init__(self, clip: ClipEncoder):
        self.clip = clip
        self.dim = clip.dim

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.clip.embed_texts(texts)


class ClipImageAdapter:
    """The pipeline's image encoder interface (`embed(images)`, `dim`) over a ClipEncoder."""

    def __init__(self, clip: ClipEncoder):
        self.clip = clip
        self.dim = clip.dim
        self.descriptor_dim = clip.dim

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        return self.clip.embed_images(images)

    def embed_and_describe(self, images: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """CLIP's image embedding doubles as the copy descriptor (not tuned: see docs/moderation.md)."""
        vectors = self.clip.embed_images(images)
        return vectors, vectors


@dataclass(frozen=True)
class TextMap:
    """Affine map from CLAP's space to CLIP's: `x @ weight + bias`."""

    weight: np.ndarray  # float32[d_clap, d_clip]
    bias: np.ndarray  # float32[d_clip]
    n_texts: int  # pairs it was fitted on
    mean_cosine: float  # mean cosine of mapped CLAP text to CLIP text on those pairs

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        """CLAP vectors -> L2-normalised vectors in CLIP's space."""
        mapped = vectors.astype(np.float32) @ self.weight + self.bias
        norms = np.linalg.norm(mapped, axis=1, keepdims=True)
        result: np.ndarray = (mapped / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def save(self, path: Path) -> None:
        """Atomically: a crash never leaves a half-written map that later loads."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            np.savez(out, weight=self.weight, bias=self.bias, n_texts=self.n_texts, mean_cosine=self.mean_cosine)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> TextMap:
        with np.load(path) as data:
            return cls(
                weight=data["weight"].astype(np.float32),
                bias=data["bias"].astype(np.float32),
                n_texts=int(data["n_texts"]),
                mean_cosine=float(data["mean_cosine"]),
            )


def fit_text_map(source: np.ndarray, target: np.ndarray, ridge: float = RIDGE) -> TextMap:
    """Ridge least squares `target ≈ source @ W + b` over paired rows (both L2-normalised)."""
    if len(source) != len(target) or len(source) < 2:
        raise ValueError(f"need at least 2 paired rows, got {len(source)} and {len(target)}")
    x, y = source.astype(np.float64), target.astype(np.float64)
    x_mean, y_mean = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - x_mean, y - y_mean
    gram = xc.T @ xc
    penalty = ridge * max(float(np.trace(gram)) / gram.shape[0], 1e-12)
    weight = np.linalg.solve(gram + penalty * np.eye(gram.shape[0]), xc.T @ yc)
    bias = y_mean - x_mean @ weight
    fitted = TextMap(weight.astype(np.float32), bias.astype(np.float32), len(x), 0.0)
    mean_cosine = float(np.mean(np.sum(fitted.apply(source) * target, axis=1)))
    return TextMap(fitted.weight, fitted.bias, len(x), mean_cosine)


def resample(audio: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """Linear-interpolation resampling (anti-aliased when going down), in torch."""
    samples = np.ascontiguousarray(audio, dtype=np.float32)
    if source_rate == target_rate:
        return samples
    length = max(1, round(len(samples) * target_rate / source_rate))
    x = torch.from_numpy(samples).view(1, 1, 1, -1)
    y = F.interpolate(x, size=(1, length), mode="bilinear", align_corners=False, antialias=target_rate < source_rate)
    result: np.ndarray = y.view(-1).numpy()
    return result


class ClapAudioEncoder:
    """CLAP audio tower, mapped into CLIP's space: `embed_audio(clips) -> float32[n, clip.dim]`.

    Clips longer than the model's window (10 s for laion/clap-htsat-*) are cut into windows whose
    embeddings are averaged, weighted by duration, so nothing is cropped at random.
    """

    def __init__(
        self,
        model_dir_or_name: str | Path,
        device: torch.device,
        clip: ClipEncoder,
        cache_dir: Path | None = None,
        batch_size: int = AUDIO_BATCH,
    ):
        source = str(model_dir_or_name)
        self.source = source
        self.device = device
        self.clip = clip
        self.batch_size = batch_size
        self.model = _load("CLAP", source, "--clap-model", ClapModel.from_pretrained).eval().to(device)
        self.tokenizer = _load("CLAP tokenizer for", source, "--clap-model", AutoTokenizer.from_pretrained)
        self.features = _load(
            "CLAP feature extractor for", source, "--clap-model", ClapFeatureExtractor.from_pretrained
        )
        config = self.model.config
        self.fusion = bool(config.audio_config.enable_fusion)
        self.sample_rate = int(self.features.sampling_rate)
        self.window = int(self.features.nb_max_samples)  # samples at self.sample_rate
        # RoBERTa-style positions start after the padding index: two positions are never used by tokens.
        self.max_tokens = min(int(self.tokenizer.model_max_length), int(config.text_config.max_position_embeddings) - 2)
        self.weights_id, self.fingerprint = _fingerprints(
            config, self.model.text_projection, self.model.audio_projection
        )
        self.dim = clip.dim
        self.map_path = (
            cache_dir / "clap-to-clip" / f"{clip.fingerprint[:16]}-{self.fingerprint[:16]}" / MAP_FILE
            if cache_dir is not None
            else None
        )
        if self.map_path is not None and self.map_path.is_file():
            self.text_map = TextMap.load(self.map_path)
            if self.text_map.weight.shape != (config.projection_dim, clip.dim):
                raise ModelUnavailableError(f"{self.map_path} does not fit these models: delete it to refit")
        else:
            self.text_map = self.fit_text_map(default_fit_texts())

    def embed_clap_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Texts in CLAP's own space (float32[n, d_clap], L2-normalised)."""
        d_clap = int(self.model.config.projection_dim)
        return _embed_texts(self.model, self.tokenizer, self.max_tokens, d_clap, texts, self.device)

    def fit_text_map(self, texts: Sequence[str]) -> TextMap:
        """Fit the CLAP -> CLIP map on `texts`, use it, and save it to the cache (when there is one)."""
        unique = list(dict.fromkeys(texts))
        text_map = fit_text_map(self.embed_clap_texts(unique), self.clip.embed_texts(unique))
        log.info("fitted CLAP->CLIP map on %d texts: mean cosine %.3f", text_map.n_texts, text_map.mean_cosine)
        if self.map_path is not None:
            text_map.save(self.map_path)
        self.text_map = text_map
        return text_map

    def _windows(self, clip: np.ndarray, sample_rate: int) -> list[np.ndarray]:
        if clip.ndim != 1 or clip.size == 0:
            raise ValueError(f"expected non-empty mono float audio, got shape {clip.shape}")
        audio = resample(clip, sample_rate, self.sample_rate)
        return [audio[start : start + self.window] for start in range(0, len(audio), self.window)]

    @torch.inference_mode()
    def _embed_windows(self, windows: list[np.ndarray]) -> np.ndarray:
        rows = []
        truncation = "fusion" if self.fusion else "rand_trunc"  # no window is longer: nothing random happens
        for start in range(0, len(windows), self.batch_size):
            batch = self.features(
                windows[start : start + self.batch_size],
                sampling_rate=self.sample_rate,
                truncation=truncation,
                padding="repeatpad",
                return_tensors="pt",
            )
            features = batch["input_features"].to(self.device, torch.float32)
            is_longer = torch.zeros((len(features), 1), dtype=torch.bool, device=self.device)
            output = self.model.get_audio_features(input_features=features, is_longer=is_longer)
            rows.append(_features(output).float().cpu().numpy())
        return np.concatenate(rows)

    def embed_clap_audio(self, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """Clips in CLAP's own space (float32[n, d_clap], L2-normalised)."""
        d_clap = int(self.model.config.projection_dim)
        if not clips:
            return np.zeros((0, d_clap), dtype=np.float32)
        per_clip = [self._windows(clip, sample_rate) for clip in clips]
        vectors = self._embed_windows([w for windows in per_clip for w in windows])
        pooled = np.zeros((len(clips), d_clap), dtype=np.float32)
        row = 0
        for i, windows in enumerate(per_clip):
            weights = np.array([len(w) for w in windows], dtype=np.float32)
            pooled[i] = weights @ vectors[row : row + len(windows)] / weights.sum()
            row += len(windows)
        return _to_numpy(torch.from_numpy(pooled))

    def embed_audio(self, clips: Sequence[np.ndarray], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """float32 mono clips at `sample_rate` -> float32[n, clip.dim], L2-normalised, in CLIP's space."""
        if not clips:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.text_map.apply(self.embed_clap_audio(clips, sample_rate))

    def embed(self, clips: Sequence[np.ndarray]) -> np.ndarray:
        """The pipeline's encoder interface: 16 kHz mono clips."""
        return self.embed_audio(clips)


@dataclass(frozen=True)
class ClipSpace:
    """Everything the "clip-clap" space embeds with."""

    spec: ClipSpaceSpec
    text: ClipTextAdapter
    image: ClipImageAdapter
    audio: ClapAudioEncoder


def load_clip_space(
    clip_dir: str | Path, clap_dir: str | Path, device: torch.device, cache_dir: Path | None
) -> ClipSpace:
    """Load CLIP and CLAP from disk and the CLAP -> CLIP map from `cache_dir` (fitting it the first time)."""
    clip = ClipEncoder(clip_dir, device)
    audio = ClapAudioEncoder(clap_dir, device, clip, cache_dir)
    identity = hashlib.sha256(f"{clip.weights_id}:{audio.weights_id}".encode()).hexdigest()[:8]
    spec = ClipSpaceSpec(
        name=f"{CLIP_CLAP_SPACE}-{identity}",
        dim=clip.dim,
        text_model="clip",
        image_classifier="clip",
        clip_model=str(clip_dir),
        clap_model=str(clap_dir),
    )
    return ClipSpace(spec, ClipTextAdapter(clip), ClipImageAdapter(clip), audio)
