"""Shared fixtures: one real server for the session, and real media made once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scripts.sample_media import Utterance, pattern_video, photo_video, skimage_photo, speak, speech_seconds
from tests.inprocess import InProcessServer
from tests.server_process import ServerProcess

PHRASE = "The lighthouse keeper painted the door bright orange."
PHRASE_AT = 4.0  # seconds into the test media
# Photos shown in the slideshow, in order, each for PHOTO_SECONDS.
PHOTOS = ("chelsea", "coffee", "rocket")
PHOTO_SECONDS = 3.0


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Prepared model files shared by every server the tests start."""
    configured = os.environ.get("VIGIL_TEST_MODEL_CACHE")
    return Path(configured) if configured else tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("server-data"), model_cache).start().wait_serving()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    """The server in this process with fake models (tests/fakes.py): real gRPC, ffmpeg and Milvus Lite."""
    server = InProcessServer(tmp_path_factory.mktemp("fast-server-data")).start()
    yield server
    server.stop()


@dataclass(frozen=True)
class Media:
    dir: Path
    phrase_seconds: float  # how long the phrase takes to say

    def slideshow(self, container: str) -> Path:
        """Three photos (PHOTOS), PHRASE spoken at PHRASE_AT, in the given container."""
        path = self.dir / f"slideshow-{container}"
        if not path.exists():
            path.mkdir()
            photo_video(
                path,
                [(skimage_photo(name), PHOTO_SECONDS) for name in PHOTOS],
                [Utterance(PHRASE, PHRASE_AT)],
                container=container,
            )
        return next(path.iterdir())

    def pattern(self, duration: float = 10.0) -> Path:
        """ffmpeg's test pattern, PHRASE spoken at PHRASE_AT, in MPEG-TS."""
        path = self.dir / f"pattern-{duration:g}"
        if not path.exists():
            path.mkdir()
            pattern_video(path, duration, [Utterance(PHRASE, PHRASE_AT)])
        return next(path.iterdir())


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    root = tmp_path_factory.mktemp("media")
    seconds = speech_seconds(speak(PHRASE, root / "phrase.wav"))
    return Media(root, seconds)
