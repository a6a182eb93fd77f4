"""Frame descriptions for blind viewers: what a new scene shows, in words, as captions of their own kind.

While a watcher of the stream asks for descriptions, the first frame of each new shot (shots.py:
a cut, or a scene that drifted far enough; the stream's shot detector decides, the same one that
decides when on-screen text is read) is named by the frame model: its top classes (ImageNet's
1,000, for the packaged model) with their probabilities, the first always, the others down to
`min_concept_score`. These are label-space concepts ("tabby cat, Egyptian
cat"), not free-form captions. A description is published unless it names the same classes as the
last one; at most one per `describe_every_s` of the stream, one at a time, and never in the way
of the frames being indexed (the naming runs on a task of its own; a frame that comes while it
runs, or within `describe_every_s` of the last description, leaves its shot to be described at the
next chance).
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

Label = Callable[[np.ndarray, int], Awaitable[list[Concept]]]


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
        self._pending = True  # a shot began that is not described yet (or a watcher just joined)
        self._described_at = -np.inf  # time of the last description
        self._names: tuple[str, ...] = ()  # the classes it named
        self._task: asyncio.Task[None] | None = None

    def frame(self, index: int, frame: np.ndarray, shot_start: bool) -> None:
        """The stream's frame `index` (sampled at frame_rate), and whether it begins a shot; may describe it."""
        if self._label is None or not self._feed.wants_descriptions:
            self._pending = True  # a watcher asking later gets the scene it joins
            return
        self._pending = self._pending or shot_start
        if self._task is not None and not self._task.done():
            return
        at = index * self._step
        asked = self._feed.take_describe_request()
        if not (asked or (self._pending and at - self._described_at >= self._settings.describe_every_s)):
            return
        self._pending, self._described_at = False, at
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
