"""On-screen text: the text a stream's frames show (signs, captions, tickers, overlays), read and indexed.

Reading text (OCR, vigil_models.ocr) costs about 0.3 CPU-seconds a frame, so it is not done on every
sampled frame: only on the first frame of each shot (shots.py), and again when a shot has lasted
`text_refresh_s` since it was last read (a ticker or a caption changing over one scene). The frames to
read go to a lane of their own, at most `text_backlog` waiting. On a live stream reading never holds up
the frames or the speech: a frame offered while the backlog is full is dropped (counted in `dropped`,
logged). A stream sent faster than real time (an upload: overload.py) loses nothing instead; its frames
wait for room, as its speech does, so many cuts slow an upload down to the reader's pace.

Each read that finds text becomes one ON_SCREEN_TEXT segment: its lines, top to bottom, one per
line of `text`; where each is (`text_boxes`); the frame's time. Its vector is the lines embedded
with the text encoder, so a text query finds it ("the sign that says free crypto"); it is stored,
calibrated and checked by standing queries like a transcript, so an alert carries the text. A read
in the same shot that finds the same text as the last one is not stored again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

import numpy as np

from vigil_models import TextLine
from vigil_server.lanes import Lane
from vigil_server.types import Box, Modality, Segment

log = logging.getLogger(__name__)

MIN_CHARACTERS = 2  # letters or digits a line needs to be kept (a lone "|" or "." is noise)


@dataclass(frozen=True)
class _Read:
    index: int  # the sampled frame's index
    shot: int  # which shot of the stream it belongs to
    picture: np.ndarray  # the frame at its own size (else the sampled frame)


Reader = Callable[[np.ndarray], Awaitable[list[TextLine]]]
MakeSegment = Callable[[Modality, float, float, str], Segment]
Store = Callable[[Segment, np.ndarray], Awaitable[None]]
Embed = Callable[[str], Awaitable[np.ndarray]]


def text_of(lines: list[TextLine]) -> tuple[str, tuple[Box, ...]]:
    """The lines worth keeping as a segment's text (one per line) and their boxes."""
    kept = [line for line in lines if sum(c.isalnum() for c in line.text) >= MIN_CHARACTERS]
    return "\n".join(line.text for line in kept), tuple(Box(*line.box) for line in kept)


class OnScreenText:
    """One stream's on-screen text: hand it every sampled frame with `frame`; `drain` at the end, `close` always."""

    def __init__(self, read: Reader, embed: Embed, store: Store, make_segment: MakeSegment, frame_rate: float,
                 refresh_s: float, backlog: int):  # fmt: skip
        self._read = read
        self._embed = embed
        self._store = store
        self._make_segment = make_segment
        self._step = 1.0 / frame_rate
        self._refresh_s = refresh_s
        self._backlog = backlog
        self._lane: Lane[_Read] = Lane(self._consume, backlog, name="on-screen-text")
        self._shot = 0
        self._read_at = -np.inf  # time of the last frame handed over to be read
        self._last: tuple[int, str] = (-1, "")  # (shot, text) of the last segment stored
        self.offered = 0  # frames handed over to be read
        self.dropped = 0  # frames that would have been read, dropped because reading was behind
        self.stored = 0  # on-screen text segments stored

    async def frame(self, index: int, frame: np.ndarray, full: np.ndarray | None, shot_start: bool,
                    wait: bool = False) -> None:  # fmt: skip
        """The stream's sampled frame `index` (and the same at its own size), and whether it begins a shot.

        With a full backlog, `wait` waits for room (uploads); else the frame is not read (live streams).
        """
        at = index * self._step
        if shot_start:
            self._shot += 1
        elif at - self._read_at < self._refresh_s:
            return
        self._read_at = at
        if wait:
            await self._lane.room()
        elif len(self._lane) >= self._backlog:
            self.dropped += 1
            log.info("on-screen text: reading is behind, frame %d (%.1f s) not read (%d dropped)",
                     index, at, self.dropped)  # fmt: skip
            return
        self.offered += 1
        self._lane.put_nowait(_Read(index, self._shot, full if full is not None else frame))

    async def _consume(self, job: _Read) -> None:
        try:
            lines = await self._read(job.picture)
        except Exception:  # reading is an extra: losing one frame's text must not end the stream
            log.warning("reading on-screen text failed (frame %d)", job.index, exc_info=True)
            return
        text, boxes = text_of(lines)
        if not text or (job.shot, text) == self._last:
            return
        self._last = (job.shot, text)
        start = job.index * self._step
        segment = self._make_segment(Modality.ON_SCREEN_TEXT, start, start + self._step, text)
        vector = await self._embed(" ".join(text.split("\n")))
        await self._store(replace(segment, text_boxes=boxes), vector)
        self.stored += 1

    async def drain(self) -> None:
        await self._lane.drain()

    async def close(self) -> None:
        await self._lane.close()
