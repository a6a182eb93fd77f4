"""Shot detection (shots.py) on synthetic frames and real photos: cuts, drift, and pictures that stay."""

from __future__ import annotations

import numpy as np
import pytest

from scripts.sample_media import skimage_photo
from vigil_server.shots import ShotDetector, scene_score, thumbnail


def solid(rgb: tuple[int, int, int], size: int = 224) -> np.ndarray:
    return np.full((size, size, 3), rgb, np.uint8)


def test_the_first_frame_starts_a_shot_and_the_same_picture_never_does() -> None:
    shots = ShotDetector(0.5)
    first = shots.next(solid((40, 80, 120)))
    assert first.start and first.score == 0.0
    noise = np.random.default_rng(0).integers(-12, 13, (224, 224, 3))
    for _ in range(5):  # re-encoding noise of a few levels
        shot = shots.next(np.clip(solid((40, 80, 120)) + noise, 0, 255).astype(np.uint8))
        assert not shot.start and shot.score == 0.0
    assert shots.shots == 1


def test_a_cut_between_real_photos_starts_a_shot_on_the_frame_after_it() -> None:
    cat, coffee = skimage_photo("chelsea"), skimage_photo("coffee")
    shots = ShotDetector(0.5)
    starts = [shots.next(frame).start for frame in (cat, cat, cat, coffee, coffee, cat)]
    assert starts == [True, False, False, True, False, True]
    assert scene_score(thumbnail(cat), thumbnail(coffee)) > 0.8


def test_a_slow_fade_starts_a_shot_once_it_has_drifted_far_enough_from_the_shots_first_frame() -> None:
    shots = ShotDetector(0.5)
    steps = [shots.next(solid((v, v, v))) for v in range(0, 100, 8)]  # 0.03 a step: no step is a cut
    starts = [i for i, step in enumerate(steps) if step.start]
    assert starts == [0, 4, 8, 12]  # every 32 levels (more than 0.1 of the range) from the last start
    assert all(step.score == (1.0 if i in starts[1:] else 0.0) for i, step in enumerate(steps))


def test_a_cut_between_pictures_of_similar_colour_is_a_shot() -> None:
    card = np.full((360, 640, 3), (30, 60, 110), np.uint8)  # dark blue, like the sky of the rocket photo
    shots = ShotDetector(0.5)
    shots.next(card)
    rocket = shots.next(skimage_photo("rocket"))
    assert rocket.start and rocket.score > 0.7


def test_a_caption_appearing_over_the_same_scene_is_not_a_shot() -> None:
    from PIL import Image, ImageDraw, ImageFont

    photo = skimage_photo("rocket")
    picture = Image.fromarray(photo)
    ImageDraw.Draw(picture).text((20, picture.height - 60), "LAUNCH DAY", font=ImageFont.load_default(size=36),
                                 fill=(255, 255, 255))  # fmt: skip
    shots = ShotDetector(0.5)
    shots.next(photo)
    captioned = shots.next(np.asarray(picture))
    assert not captioned.start and 0 < captioned.score < 0.05


@pytest.mark.parametrize("threshold", [0.4, 0.6])
def test_the_threshold_decides(threshold: float) -> None:
    shots = ShotDetector(threshold)
    shots.next(solid((0, 0, 0)))
    half = solid((0, 0, 0))
    half[:, :112] = 200  # the left half of the picture changes
    shot = shots.next(half)
    assert shot.score == 0.5 and shot.start is (threshold <= 0.5)
