"""Shot changes: which sampled frames begin a new shot (a cut, or a scene that drifted far enough).

Each sampled frame is shrunk to a 16x16 colour thumbnail and compared with the thumbnail of the
first frame of the current shot: the scene score is the share of the 256 cells whose colour changed
by more than CELL_CHANGE (of the full range, in any channel): 0 when nothing moved, 1 when every part
of the picture did. A frame whose score reaches the threshold (0.5: half the picture changed) starts
a new shot and becomes the reference, so a hard cut starts a shot on the first sampled frame after it,
and a slow pan or fade starts one once the picture has changed that much since the shot began. The
first frame of a stream always starts a shot.

The score is computed here, on the frames the pipeline samples, rather than by ffmpeg's scene
filter: ffmpeg scores consecutive decoded frames (25 a second), so a fade or pan that changes the
picture a little per frame never reaches a cut's score, and its per-frame scores would have to be
carried beside the raw frames on the pipe. A thumbnail costs about 0.1 ms a frame. The share of
changed cells, rather than the mean difference, catches cuts between pictures of similar colour
(a dark blue card to a photo of a rocket against the sky: mean difference 0.09, 79 % of the cells
changed) while a caption appearing over the same scene changes 2 % of them.

Shot starts decide when on-screen text is read (onscreen.py) and when frames are described
(describe.py), and are on every frame segment (`Segment.shot_start`, `Segment.scene_score`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THUMBNAIL = 16  # the scene score compares THUMBNAIL x THUMBNAIL colour pictures
CELL_CHANGE = 0.1  # a cell whose mean colour moved more than this (0-1, in any channel) has changed


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """An RGB frame as THUMBNAIL x THUMBNAIL x 3 block means in [0, 1] (edges that do not divide are cut)."""
    h, w = (frame.shape[0] // THUMBNAIL) * THUMBNAIL, (frame.shape[1] // THUMBNAIL) * THUMBNAIL
    if h == 0 or w == 0:
        return np.zeros((THUMBNAIL, THUMBNAIL, 3), np.float32)
    blocks = frame[:h, :w].astype(np.float32).reshape(THUMBNAIL, h // THUMBNAIL, THUMBNAIL, w // THUMBNAIL, 3)
    small: np.ndarray = blocks.mean(axis=(1, 3)) / 255.0
    return small


def scene_score(a: np.ndarray, b: np.ndarray) -> float:
    """How different two thumbnails are: the share of their cells whose colour changed, 0 (none) to 1 (all)."""
    return float((np.abs(a - b).max(axis=2) > CELL_CHANGE).mean())


@dataclass(frozen=True)
class Shot:
    """What the detector says of one sampled frame."""

    score: float  # scene score against the first frame of the shot it belonged to (0 for a stream's first frame)
    start: bool  # the frame begins a new shot


class ShotDetector:
    """One stream's shots: hand it every sampled frame, in order."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._reference: np.ndarray | None = None  # thumbnail of the current shot's first frame
        self.shots = 0

    def next(self, frame: np.ndarray) -> Shot:
        small = thumbnail(frame)
        if self._reference is None:
            self._reference = small
            self.shots += 1
            return Shot(0.0, True)
        score = scene_score(small, self._reference)
        start = score >= self.threshold
        if start:
            self._reference = small
            self.shots += 1
        return Shot(round(score, 4), start)
