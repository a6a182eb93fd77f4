"""The signals moderation matches reference items with, in the order alerts list their evidence.

To add a signal: write a module with a `Signal` subclass (see base.py) and add one line to
SIGNAL_TYPES, naming how to build it from the SignalContext. Moderation's code does not change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vigil_server.moderation.signals.base import (
    ArchiveHit,
    Comparison,
    FramePdq,
    ItemMedia,
    Live,
    LiveAudio,
    LiveFile,
    LiveFrame,
    LiveInput,
    Signal,
    SignalArchive,
    SignalIndex,
)
from vigil_server.moderation.signals.chromaprint import ChromaprintSignal
from vigil_server.moderation.signals.copy_descriptor import CopyDescriptorSignal, DescribeFrames, SearchCopies
from vigil_server.moderation.signals.md5 import Md5Signal
from vigil_server.moderation.signals.pdq import PdqSignal
from vigil_server.moderation.signals.sha256 import Sha256Signal
from vigil_server.moderation.signals.vpdq import VpdqSignal
from vigil_server.settings import ModerationSettings

__all__ = [
    "SIGNAL_TYPES",
    "ArchiveHit",
    "ChromaprintSignal",
    "Comparison",
    "CopyDescriptorSignal",
    "FramePdq",
    "ItemMedia",
    "Live",
    "LiveAudio",
    "LiveFile",
    "LiveFrame",
    "LiveInput",
    "Md5Signal",
    "PdqSignal",
    "Sha256Signal",
    "Signal",
    "SignalArchive",
    "SignalContext",
    "SignalIndex",
    "VpdqSignal",
    "build_signals",
]


@dataclass(frozen=True)
class SignalContext:
    """What a signal may need to be built: the thresholds, and the frame model and index for descriptors."""

    settings: ModerationSettings
    describe_frames: DescribeFrames  # frames -> copy descriptors (the image worker)
    search_copies: SearchCopies  # the segment index's copy-descriptor search
    descriptor_dim: int


SIGNAL_TYPES: dict[str, Callable[[SignalContext], Signal[Any, Any]]] = {
    "pdq": lambda c: PdqSignal(c.settings.pdq_max_distance, c.settings.pdq_min_quality),
    "copy_descriptor": lambda c: CopyDescriptorSignal(
        c.describe_frames, c.search_copies, c.descriptor_dim, c.settings.bank_min_cosine
    ),
    "chromaprint": lambda c: ChromaprintSignal(c.settings.fingerprint_min_score),
    "vpdq": lambda c: VpdqSignal(
        c.settings.vpdq_max_distance, c.settings.vpdq_min_quality, c.settings.vpdq_match_percent
    ),
    "md5": lambda c: Md5Signal(),
    "sha256": lambda c: Sha256Signal(),
}


def build_signals(context: SignalContext) -> list[Signal[Any, Any]]:
    """One of each registered signal, in registry order."""
    return [factory(context) for factory in SIGNAL_TYPES.values()]
