"""People and faces in frames (vigil_models.people) and, end to end, a text query about people.

The detectors are OpenCV's (HOG, Haar) with the thresholds bench/people_eval.py chose; the photos
are scikit-image's. Through a real vigil-server with the real models, a stream of a portrait of
an astronaut among photos without people is searched with "people": her frames come first.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest

from scripts.sample_media import skimage_photo, tone_video
from scripts.signs import fit_picture
from tests.server_process import ServerProcess
from vigil_client import VigilClient, read_chunks
from vigil_models import PeopleConcepts, PeopleDetector, PeopleFound, PeopleMixing, PeopleOptions
from vigil_models.people import Box, decide

WITHOUT_PEOPLE = ("coffee", "rocket", "chelsea", "moon")


@pytest.fixture(scope="module")
def detector() -> PeopleDetector:
    return PeopleDetector()


def test_the_astronaut_is_a_person_with_a_face(detector: PeopleDetector) -> None:
    (found,) = detector.detect([skimage_photo("astronaut")])
    assert found.person_count >= 1 and found.face_count == 1
    (face,) = found.faces
    assert 0.3 < face.x < 0.6 and 0.05 < face.y < 0.35 and 0.1 < face.width < 0.4  # her face, upper middle
    assert any(p.contains_centre_of(face) for p in found.people)


def test_photos_without_people_have_none(detector: PeopleDetector) -> None:
    for found in detector.detect([skimage_photo(name) for name in WITHOUT_PEOPLE]):
        assert (found.person_count, found.face_count) == (0, 0)
    with pytest.raises(ValueError, match="RGB uint8"):
        detector.detect([np.zeros((64, 64), np.uint8)])


def test_thresholds_decide_on_the_raw_detections(detector: PeopleDetector) -> None:
    raw = detector.raw(skimage_photo("astronaut"))
    loose, strict = PeopleOptions(hog_threshold=0.0, face_neighbours=3), PeopleOptions(face_neighbours=1000)
    assert decide(raw, loose).face_count >= decide(raw, PeopleOptions()).face_count
    assert decide(raw, strict).face_count == 0


def _embed(texts: list[str]) -> np.ndarray:
    """Deterministic unit vectors per text (a stand-in text encoder for the mixing arithmetic)."""
    rows = [np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(16) for t in texts]
    return np.stack([r / np.linalg.norm(r) for r in rows]).astype(np.float32)


def test_mixing_adds_only_the_concepts_the_detections_support() -> None:
    concepts = PeopleConcepts(_embed, PeopleMixing())
    frame = _embed(["a cup of coffee"])[0]
    assert concepts.mix(frame, PeopleFound((), ())) is frame  # nothing seen: unchanged
    one = concepts.mix(frame, PeopleFound((Box(0, 0, 0.5, 0.5),), ()))
    crowd = concepts.mix(frame, PeopleFound(tuple(Box(i / 10, 0, 0.1, 0.2) for i in range(8)), ()))
    assert np.isclose(np.linalg.norm(one), 1.0) and np.isclose(np.linalg.norm(crowd), 1.0)
    assert one @ concepts.person > frame @ concepts.person
    assert crowd @ concepts.crowd > one @ concepts.crowd
    assert one @ frame > 0.8  # the frame's own content stays


# -- through the server -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("people-data"), model_cache, ["--people", "on"])
    proc.start(timeout=300)  # a busy machine takes minutes to import and load everything
    for attempt in range(3):  # a health check may time out while the models load on a loaded machine
        try:
            proc.wait_serving(600)
            break
        except grpc.RpcError:
            if attempt == 2:
                raise
    yield proc
    proc.stop()


@pytest.mark.slow
def test_a_frame_with_people_is_found_by_people(server: ServerProcess, tmp_path: Path) -> None:
    size = (428, 640)
    slides = [(fit_picture(skimage_photo(name), size), 2.0) for name in ("coffee", "astronaut", *WITHOUT_PEOPLE[1:])]
    video = tone_video(tmp_path, slides, [], size=f"{size[0]}x{size[1]}", name="people")
    with VigilClient(server.address, timeout=600) as client:
        events = list(
            client.ingest(read_chunks(video.open("rb"), 1 << 16), "people", "mpegts", frame_rate=1, pacing="upload")
        )
        frames = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"]
        counts = {round(f.start): (f.person_count, f.face_count) for f in frames}
        assert counts[2][0] >= 1 and counts[3][0] >= 1 and counts[2][1] == 1, counts  # the astronaut
        assert all(c == (0, 0) for t, c in counts.items() if t not in (2, 3)), counts
        for query in ("people", "a person", "a face"):
            found = client.search(query, modalities=["frame"], stream_ids=["people"], top_k=3)
            assert round(found[0].segment.start) in (2, 3), (query, found)
            assert found[0].segment.person_count and found[0].segment.face_count == 1


def test_people_are_looked_for_on_shot_starts_and_every_few_seconds() -> None:
    import asyncio

    from vigil_server.frame_people import PeopleSchedule

    async def plans() -> list[bool]:
        schedule = PeopleSchedule(refresh_s=5.0)
        fresh = [schedule.plan(t, shot_start=t in (0.0, 3.0))[0] for t in (0.0, 1.0, 2.0, 3.0, 4.0, 7.0, 8.0, 9.0)]
        assert (schedule.detected, schedule.reused) == (3, 5)
        return fresh

    assert asyncio.run(plans()) == [True, False, False, True, False, False, True, False]
