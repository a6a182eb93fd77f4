"""Frame encoder cost: CPU-milliseconds per frame of EfficientNet-Lite0 at 224, by execution path and batch size.

Each path runs the same prepared model (batch norm folded, padding fixed) on real photos
(scikit-image's) in batches of 1-8 frames, as the image worker does, under the torch thread
count given. CPU time (process_time) is the measure, so other load on the machine inflates
it less than wall time; the median of --repeats timed rounds is reported. Every path's
outputs are compared with the eager model's (max abs difference of logits, min cosine of the
pooled features, and whether the top-5 classes agree).

    .venv/bin/python bench/encoder_speed.py [--threads 1 2] [--repeats 5] [--paths eager frozen ...]

Paths: eager (torch.inference_mode), channels-last (eager on NHWC), frozen (trace + freeze +
optimize_for_inference), frozen-cl (the same on NHWC), quant (dynamic int8 of the Linear head;
convolutions are not covered), onnx (ONNX Runtime as the server runs it: intra-op threads as
torch's, one inter-op thread, no spinning). `to_input` (crop, resize, normalise), common to all
paths, is reported on its own.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.sample_media import skimage_photo  # noqa: E402
from vigil_models.catalog import classifier_weights  # noqa: E402
from vigil_models.efficientnet_lite import OnnxLite, export_onnx, load_lite0, onnx_session  # noqa: E402
from vigil_models.image import to_input  # noqa: E402

PHOTOS = ("chelsea", "coffee", "rocket", "astronaut", "camera", "cat", "hubble_deep_field", "immunohistochemistry")
BATCHES = (1, 2, 4, 8)
Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def photos() -> list[np.ndarray]:
    return [skimage_photo(name) for name in PHOTOS]


def build(path: str, threads: int) -> Forward:
    model = load_lite0(str(classifier_weights("efficientnet-lite0")), torch.device("cpu"))
    example = torch.randn(1, 3, 224, 224)
    if path == "eager":
        return model
    if path == "channels-last":
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        return lambda x: model(x.contiguous(memory_format=torch.channels_last))
    if path in ("frozen", "frozen-cl"):
        if path == "frozen-cl":
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
            example = example.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(False), torch.no_grad():
            traced = torch.jit.trace(model, example, check_trace=False)  # type: ignore[no-untyped-call]
            frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
        if path == "frozen-cl":
            return lambda x: frozen(x.contiguous(memory_format=torch.channels_last))
        return frozen
    if path == "quant":
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)  # type: ignore[no-untyped-call]
        return quantized  # type: ignore[no-any-return]
    if path == "onnx":  # as the server loads it (efficientnet_lite.load_lite_for_inference), without the cache
        return OnnxLite(onnx_session(export_onnx(model), threads), model.input_size)
    raise ValueError(f"unknown path {path!r}")


def preprocess_ms(images: list[np.ndarray], batch: int, repeats: int) -> float:
    """Median CPU-ms per frame of to_input (crop, antialiased resize, normalise), common to every path."""
    rounds = []
    for _ in range(repeats):
        t0 = time.process_time()
        for i in range(0, len(images), batch):
            to_input(images[i : i + batch], torch.device("cpu"), 224, 0.875)
        rounds.append((time.process_time() - t0) * 1000.0 / len(images))
    return statistics.median(rounds)


def measure(forward: Forward, images: list[np.ndarray], batch: int, repeats: int) -> float:
    """Median CPU-ms per frame over `repeats` rounds, each one pass over all photos in batches."""
    inputs = [to_input(images[i : i + batch], torch.device("cpu"), 224, 0.875) for i in range(0, len(images), batch)]
    with torch.inference_mode():
        for x in inputs[:2]:
            forward(x)  # warm up (the frozen graph's first runs optimise)
        rounds = []
        for _ in range(repeats):
            t0 = time.process_time()
            for x in inputs:
                forward(x)
            rounds.append((time.process_time() - t0) * 1000.0 / len(images))
    return statistics.median(rounds)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch intra-op threads to try")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--paths", nargs="+", default=["eager", "channels-last", "frozen", "frozen-cl", "quant", "onnx"])
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "encoder_speed.json")
    ns = p.parse_args()
    images = photos()
    torch.set_num_interop_threads(1)
    reference = load_lite0(str(classifier_weights("efficientnet-lite0")), torch.device("cpu"))
    full = to_input(images, torch.device("cpu"), 224, 0.875)
    with torch.inference_mode():
        ref_features, ref_logits = reference(full)
    rows: list[dict[str, object]] = []
    for threads in ns.threads:
        torch.set_num_threads(threads)
        pre = {str(b): round(preprocess_ms(images, b, ns.repeats), 2) for b in BATCHES}
        rows.append({"path": "to_input", "threads": threads, "cpu_ms_per_frame": pre})
        print(f"threads={threads} {'to_input':14} " + " ".join(f"b{b}={v:6.2f}" for b, v in pre.items()), flush=True)
        for path in ns.paths:
            try:
                forward = build(path, threads)
            except Exception as exc:  # noqa: BLE001 - a path that cannot be built here is reported, not fatal
                print(f"{path}: cannot build: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            with torch.inference_mode():
                features, logits = forward(full)
            cosine = float(torch.nn.functional.cosine_similarity(features, ref_features, dim=-1).min())
            row = {
                "path": path,
                "threads": threads,
                "max_abs_logit_diff": float((logits - ref_logits).abs().max()),
                "min_feature_cosine": cosine,
                "top5_same": bool(torch.equal(logits.topk(5).indices, ref_logits.topk(5).indices)),
            }
            speeds = {str(b): round(measure(forward, images, b, ns.repeats), 2) for b in BATCHES}
            row["cpu_ms_per_frame"] = speeds
            rows.append(row)
            ms = " ".join(f"b{b}={v:6.2f}" for b, v in speeds.items())
            print(f"threads={threads} {path:14} {ms}  dlogit={row['max_abs_logit_diff']:.2e} cos={cosine:.6f}",
                  flush=True)  # fmt: skip
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(ns).items()}, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
