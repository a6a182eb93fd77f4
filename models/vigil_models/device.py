"""Choosing where models run: once, at start-up."""

from __future__ import annotations

import torch


def pick_device(requested: str = "auto") -> torch.device:
    """`auto` picks `cuda` when a GPU is visible, else `cpu`; `cpu` / `cuda[:N]` force one."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {requested!r} requested but no CUDA GPU is visible; use 'auto' or 'cpu'")
    return device
