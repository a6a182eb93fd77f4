"""Frame descriptions for blind viewers: what a new scene shows, in words, as captions of their own kind.

While a watcher of the stream asks for descriptions, each sampled frame is compared with the last
described one by a cheap pixel score: the mean absolute difference of their 16x16 colour thumbnails
(0 to 1). At or above `scene_change` it is a new scene, and the frame model names what it shows: its
top classes (ImageNet's 1,000, for the packaged model) with their probabilities, the first always,
the others down to `min_concept_score`. These are label-space concepts ("tabby cat, Egyptian
cat"), not free-form captions. A description is published unless it names the same classes as the
last one; at most one per `describe_every_s` of the stream, one at a time, and never in the way
of the frames being indexed (the naming runs on a task of its own; a frame that comes while it
runs waits for the next scene change).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable

import numpy as np

from vigil_models import Concept
from vigil_server.captions import Caption, CaptionFeed, CaptionKind
from vigil_server.clock import stream_time
from vigil_server.settings import CaptionSettings

log = logging.getLogger(__name__)

THUMBNAIL = 16  # the scene score compares THUMBNAIL x THUMBNAIL colour pictures

Label = Callable[[np.ndarray, int], Awaitable[list[Concept]]]


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """An RGB frame as THUMBNAIL x THUMBNAIL x 3 block means in [0, 1] (edges that do not divide are cut)."""
    h, w = (frame.shape[0] // THUMBNAIL) * THUMBNAIL, (frame.shape[1] // THUMBNAIL) * THUMBNAIL
    if h == 0 or w == 0:
        return np.zeros((THUMBNAIL, THUMBNAIL, 3), np.float32)
    blocks = frame[:h, :w].astype(np.float32).reshape(THUMBNAIL, h // THUMBNAIL, THUMBNAIL, w // THUMBNAIL, 3)
    small: np.ndarray = blocks.mean(axis=(1, 3)) / 255.0
    return small


def scene_score(a: np.ndarray, b: np.ndarray) -> float:
    """How different two thumbnails are: their mean absolute difference, 0 (same) to 1."""
    return float(np.abs(a - b).mean())


class SceneDescriber:
    """One stream's descriptions: hand it every sampled frame, in order, with `frame`; `close` at the end."""

    def __init__(
        self, label: Label | None, feed: CaptionFeed, settings: CaptionSettings, frame_rate: float, time_offset: float
    ):
        self._label = label
        self._feed = feed
        self._settings = settings
        self._step = 1.0 / frame_rate
        self._offset = time_offset
        self._reference: np.ndarray | None = None  # thumbnail of the last described frame
        self._described_at = -np.inf  # its time
        self._names: tuple[str, ...] = ()  # the classes it named
        self._task: asyncio.Task[None] | None = None

    def frame(self, index: int, frame: np.ndarray) -> None:
        """The stream's frame `index` (sampled at frame_rate); may start describing it."""
        if self._label is None or not self._feed.wants_descriptions:
            self._reference = None  # a watcher asking later gets the scene it joins
            return
        if self._task is not None and not self._task.done():
            return
        at = index * self._step
        small = thumbnail(frame)
        asked = self._feed.take_describe_request()
        changed = self._reference is None or scene_score(small, self._reference) >= self._settings.scene_change
        if not (asked or (changed and at - self._described_at >= self._settings.describe_every_s)):
            return
        self._reference, self._described_at = small, at
        self._task = asyncio.create_task(self._describe(frame, at, asked), name="describe")

    async def _describe(self, frame: np.ndarray, at: float, asked: bool) -> None:
        assert self._label is not None
        try:
            concepts = await self._label(frame, self._settings.concepts)
        except Exception:  # a description is an extra: losing one must not end the stream
            log.warning("describing a frame failed (stream %s)", self._feed.stream_id, exc_info=True)
            return
        kept = tuple(c for i, c in enumerate(concepts) if i == 0 or c.score >= self._settings.min_concept_score)
        names = tuple(c.name for c in kept)
        if not names or (names == self._names and not asked):
            return
        self._names = names
        self._feed.publish(
            Caption(
                caption_id=uuid.uuid4().hex,
                kind=CaptionKind.DESCRIPTION,
                final=True,
                start=stream_time(at, self._offset),
                end=stream_time(at + self._step, self._offset),
                text=", ".join(names),
                stable_text=", ".join(names),
                concepts=tuple(Concept(c.name, round(c.score, 4)) for c in kept),
            )
        )

    async def close(self) -> None:
        """Wait for a description in progress (the stream's last frames are described before it ends)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
