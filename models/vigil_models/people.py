"""People and faces in frames: OpenCV's HOG pedestrian detector and Haar face cascade.

Both detectors and their weights ship inside `opencv-python-headless` (4.x; OpenCV 5 dropped
them from the Python wheel), so nothing is downloaded. OpenCV's YuNet face detector
(`cv2.FaceDetectorYN`) would be better but needs an .onnx file that no installable package ships.

`detect(frames)` gives each frame's people and faces as boxes in fractions of the frame. A face
is a person too: a frame's people are the HOG boxes plus one box per face that lies in none of
them (close-ups and portraits, which the full-body HOG window does not see). The thresholds were
chosen on the tuning half of bench/people (bench/people_eval.py); the held-out half reports how
far to trust them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in fractions of the frame: left, top, width, height, each in [0, 1]."""

    x: float
    y: float
    width: float
    height: float

    def contains_centre_of(self, other: Box) -> bool:
        cx, cy = other.x + other.width / 2, other.y + other.height / 2
        return self.x <= cx <= self.x + self.width and self.y <= cy <= self.y + self.height


@dataclass(frozen=True)
class PeopleFound:
    people: tuple[Box, ...]  # every person seen (HOG boxes, and faces outside them)
    faces: tuple[Box, ...]

    @property
    def person_count(self) -> int:
        return len(self.people)

    @property
    def face_count(self) -> int:
        return len(self.faces)


@dataclass(frozen=True)
class PeopleOptions:
    # Frames are scaled so that their longer side is this many pixels before detection (cost).
    max_side: int = 640
    # HOG: SVM margin a window needs (higher: fewer, surer people); the detector's stride and pyramid step.
    hog_threshold: float = 2.0
    hog_stride: int = 8
    hog_scale: float = 1.05
    # Haar: neighbouring detections a face needs (higher: fewer false faces), the pyramid step, and the
    # smallest face as a fraction of the frame's shorter side.
    face_neighbours: int = 16
    face_scale: float = 1.1
    face_min_fraction: float = 0.06
    nms_overlap: float = 0.5  # boxes overlapping more than this (intersection over union) are one


MIN_NEIGHBOURS = 3  # the cascade groups detections with at least this many neighbours; the option filters further


@dataclass(frozen=True)
class RawDetections:
    """Both detectors' output for one frame before the thresholds: pixel boxes with their scores."""

    width: int  # of the frame as the detectors saw it (scaled to PeopleOptions.max_side)
    height: int
    people: np.ndarray  # float64[n, 4] x, y, w, h
    margins: np.ndarray  # float64[n]: HOG's SVM margin per box
    faces: np.ndarray  # float64[m, 4]
    neighbours: np.ndarray  # float64[m]: detections the cascade grouped into each face


class PeopleDetector:
    """`detect(uint8 HxWx3 RGB frames) -> [PeopleFound]`. Not thread-safe: one per worker thread."""

    def __init__(self, options: PeopleOptions = PeopleOptions()):
        self.options = options
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), dtype=np.float32))
        cascade = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"  # type: ignore[attr-defined]
        self._faces = cv2.CascadeClassifier(cascade)
        if self._faces.empty():
            raise RuntimeError(f"OpenCV's face cascade did not load from {cascade}")

    def detect(self, images: Sequence[np.ndarray]) -> list[PeopleFound]:
        return [decide(self.raw(image), self.options) for image in images]

    def raw(self, image: np.ndarray) -> RawDetections:
        """Run both detectors on one frame (scaled down to `max_side`), keeping every candidate."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an RGB uint8 array of shape HxWx3, got {image.dtype} {image.shape}")
        o = self.options
        height, width = image.shape[:2]
        scale = min(1.0, o.max_side / max(height, width))
        if scale < 1.0:
            image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
        people, margins = np.zeros((0, 4)), np.zeros(0)
        if min(w, h) >= 128:  # else smaller than the HOG window (64x128)
            found, weights = self._hog.detectMultiScale(
                image, hitThreshold=0.0, winStride=(o.hog_stride, o.hog_stride), padding=(8, 8), scale=o.hog_scale
            )
            people, margins = _array(found, 4), _array(weights, 1)
        grey = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY))
        side = max(20, round(o.face_min_fraction * min(w, h)))
        faces, counts = self._faces.detectMultiScale2(
            grey, scaleFactor=o.face_scale, minNeighbors=MIN_NEIGHBOURS, minSize=(side, side)
        )
        return RawDetections(w, h, people, margins, _array(faces, 4), _array(counts, 1))


def decide(raw: RawDetections, options: PeopleOptions) -> PeopleFound:
    """Apply the thresholds: the surer people and faces; faces outside every person box count as people."""
    sure = raw.margins >= options.hog_threshold
    people = _boxes(raw.people[sure], raw.margins[sure], raw.width, raw.height, options.nms_overlap)
    sure = raw.neighbours >= options.face_neighbours
    faces = _boxes(raw.faces[sure], raw.neighbours[sure], raw.width, raw.height, options.nms_overlap)
    extra = tuple(f for f in faces if not any(p.contains_centre_of(f) for p in people))
    return PeopleFound(people + extra, faces)


def _array(values: object, columns: int) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    return array.reshape(-1, columns) if columns > 1 else array.reshape(-1)


def _boxes(rects: np.ndarray, scores: np.ndarray, w: int, h: int, overlap: float) -> tuple[Box, ...]:
    """Pixel rectangles, best first after non-maximum suppression, as fractions of the frame."""
    if len(rects) == 0:
        return ()
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(_iou(rects[i], rects[j]) <= overlap for j in keep):
            keep.append(int(i))
    return tuple(
        Box(
            float(np.clip(rects[i, 0] / w, 0, 1)),
            float(np.clip(rects[i, 1] / h, 0, 1)),
            float(np.clip(rects[i, 2] / w, 0, 1)),
            float(np.clip(rects[i, 3] / h, 0, 1)),
        )
        for i in keep
    )


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return float(inter / union) if union > 0 else 0.0


# What the evidence makes it possible to say about a frame, in words the text encoder embeds. Nothing
# about who the people are (no evidence supports "a man" or "a woman").
PERSON_TEXTS = ("a person", "someone", "a photo of a person")
PEOPLE_TEXTS = ("people", "a group of people", "several people")
CROWD_TEXTS = ("a crowd", "a crowd of people")
FACE_TEXTS = ("a face", "a person's face", "a portrait of a person")


@dataclass(frozen=True)
class PeopleMixing:
    """How much of each people concept goes into a frame's vector (label spaces only).

    Chosen with bench/people_eval.py --mixing (scale 0.5 of its grid unit, GRID_UNIT there) on the
    tuning half: the smallest weights at which people queries found a frame with people first,
    with caption -> photo R@1 unchanged. Held-out half: people MRR 0.40 -> 0.79, caption R@1 0.477
    both ways.
    """

    person: float = 0.175  # one person or more
    people: float = 0.175  # two or more
    crowd: float = 0.175  # crowd_size or more
    face: float = 0.125  # a face
    crowd_size: int = 6


class PeopleConcepts:
    """Mixes people concepts into frame vectors of a label space, in proportion to what was detected."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], mixing: PeopleMixing = PeopleMixing()):
        self.mixing = mixing

        def concept(texts: tuple[str, ...]) -> np.ndarray:
            mean = np.asarray(embed(list(texts)), dtype=np.float32).mean(axis=0)
            unit: np.ndarray = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
            return unit

        self.person, self.people = concept(PERSON_TEXTS), concept(PEOPLE_TEXTS)
        self.crowd, self.face = concept(CROWD_TEXTS), concept(FACE_TEXTS)

    def mix(self, vector: np.ndarray, found: PeopleFound) -> np.ndarray:
        """The frame's unit vector with the concepts its detections support added, normalised again."""
        m, n = self.mixing, found.person_count
        if n == 0 and found.face_count == 0:
            return vector
        added = vector.astype(np.float32).copy()
        if n >= 1:
            added += m.person * self.person
        if n >= 2:
            added += m.people * self.people
        if n >= m.crowd_size:
            added += m.crowd * self.crowd
        if found.face_count:
            added += m.face * self.face
        mixed: np.ndarray = (added / max(float(np.linalg.norm(added)), 1e-12)).astype(np.float32)
        return mixed
