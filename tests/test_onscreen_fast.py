"""Shot changes and on-screen text through the in-process server with fake models (the fast loop).

The fake text reader "reads" a sign naming the frame's colour (`sign red`), or nothing on black, so
what the server does with shots and on-screen text can be checked exactly: which frames start a shot,
which frames are read, what is stored, searched, listed, checked by standing queries, and that a
slow reader drops frames instead of holding up the stream.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import tone_video
from tests.fakes import colour_name, fake_model_set
from tests.inprocess import InProcessServer
from vigil_client import VigilClient
from vigil_client.cli import main as vigil
from vigil_client.media import read_chunks
from vigil_models import TextLine
from vigil_server.types import Modality

RED, BLUE, GREEN, BLACK = (255, 0, 0), (0, 0, 255), (0, 255, 0), (0, 0, 0)
# A shot of each colour; the black one shows no text. Shots start at 0, 3, 6 and 9 s.
SLIDES = ((RED, 3.0), (BLUE, 3.0), (BLACK, 3.0), (GREEN, 3.0))
SHOT_STARTS = [0, 3, 6, 9]


class FakeReader:
    """Reads "sign <colour>" on any frame but a black one; counts its calls; `delay` seconds each."""

    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls = 0
        self.lock = threading.Lock()

    def read(self, frame: np.ndarray) -> list[TextLine]:
        with self.lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        name = colour_name(frame)
        return [] if name == "black" else [TextLine(f"sign {name}", (0.1, 0.2, 0.5, 0.1), 0.99)]


def start_server(data: Path, reader: FakeReader, args: Sequence[str] = ()) -> InProcessServer:
    return InProcessServer(
        data,
        ["--alert-window", "600", "--on-screen-text", "on", *args],
        models=replace(fake_model_set(), reader=reader),
    )


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tone_video(tmp_path_factory.mktemp("onscreen-media"), SLIDES, [], name="shots")


@pytest.fixture(scope="module")
def reader() -> FakeReader:
    return FakeReader()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, reader: FakeReader) -> Iterator[InProcessServer]:
    running = start_server(tmp_path_factory.mktemp("onscreen-data"), reader).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def ingested(server: InProcessServer, video: Path) -> dict[str, list]:
    """The stream ingested once, with a standing query on on-screen text registered first."""
    client = VigilClient(server.address)
    query = client.add_query("sign blue", modalities=["on_screen_text"], threshold=3.0, label="blue sign")
    events = list(client.ingest(read_chunks(video.open("rb"), 1 << 16), "shots-1", "mpegts", frame_rate=1))
    segments = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"]
    alerts = [e.alert for e in events if e.WhichOneof("event") == "alert"]
    client.remove_query(query.query_id)
    client.close()
    return {"segments": segments, "alerts": alerts}


def test_shot_starts_are_flagged_on_the_frames_where_the_scene_changes_and_nowhere_else(ingested: dict) -> None:
    frames = sorted((s for s in ingested["segments"] if s.modality == 1), key=lambda s: s.start)
    assert len(frames) == 12
    assert [round(s.start) for s in frames if s.shot_start] == SHOT_STARTS
    for s in frames:
        if round(s.start) in SHOT_STARTS[1:]:
            assert s.scene_score == 1.0  # a cut from one solid colour to another: every cell changed
        else:
            assert s.scene_score == 0.0  # the same picture (re-encoded)


def test_on_screen_text_is_read_on_shot_starts_and_stored_as_its_own_modality(
    ingested: dict, reader: FakeReader
) -> None:
    texts = sorted((s for s in ingested["segments"] if s.modality == 4), key=lambda s: s.start)
    assert [(round(s.start), s.text) for s in texts] == [(0, "sign red"), (3, "sign blue"), (9, "sign green")]
    assert reader.calls == 4  # the four shot starts (black: read, nothing found); no other frame
    for s in texts:
        assert s.end - s.start == pytest.approx(1.0)
        assert [(round(b.x, 3), round(b.y, 3), round(b.width, 3), round(b.height, 3)) for b in s.text_boxes] == [
            (0.1, 0.2, 0.5, 0.1)
        ]


def test_a_standing_query_fires_on_on_screen_text_with_the_text_as_evidence(ingested: dict) -> None:
    alerts = ingested["alerts"]
    assert [(a.label, a.text, round(a.start)) for a in alerts] == [("blue sign", "sign blue", 3)]
    assert alerts[0].segment_id in {s.segment_id for s in ingested["segments"] if s.modality == 4}


def test_on_screen_text_is_searchable_listed_and_filtered(server: InProcessServer, ingested: dict) -> None:
    client = VigilClient(server.address)
    try:
        found = client.search("sign green", top_k=3)
        assert found[0].segment.modality == "on_screen_text" and found[0].segment.text == "sign green"
        assert found[0].segment.text_boxes == ((0.1, 0.2, 0.5, 0.1),)
        only = client.search("sign", modalities=["on_screen_text"], top_k=10)
        assert {m.segment.text for m in only} == {"sign red", "sign blue", "sign green"}
        frames = client.search("green", modalities=["frame"], top_k=1)
        assert frames[0].segment.modality == "frame" and frames[0].segment.shot_start  # 9 s starts its shot
        listed = list(client.iter_segments("shots-1", modalities=["on_screen_text"]))
        assert [s.text for s in listed] == ["sign red", "sign blue", "sign green"]
        frames_listed = list(client.iter_segments("shots-1", modalities=["frame"]))
        assert [round(s.start) for s in frames_listed if s.shot_start] == SHOT_STARTS
        assert server.service is not None  # the new modality is calibrated like the others, from its own segments
        stats = server.service.index.calibrator._stats[Modality.ON_SCREEN_TEXT]
        assert stats.segments == 3
    finally:
        client.close()


def test_cli_searches_and_prints_on_screen_text(
    server: InProcessServer, ingested: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        vigil(["--server", server.address, "search", "sign blue", "--modality", "on_screen_text", "--top-k", "1"]) == 0
    )
    out = capsys.readouterr().out
    assert "[on_screen_text] shots-1" in out and "sign blue" in out
    assert vigil(["--server", server.address, "search", "sign blue", "--modality", "on_screen_text", "--json"]) == 0
    assert '"text_boxes": [[0.1, 0.2, 0.5, 0.1]]' in capsys.readouterr().out


def paced(video: Path, seconds: float, pieces: int = 40) -> Iterator[bytes]:
    """The file in `pieces` chunks spread over `seconds` of wall time: a live source."""
    data = video.read_bytes()
    size = -(-len(data) // pieces)
    for at in range(0, len(data), size):
        yield data[at : at + size]
        time.sleep(seconds / pieces)


def cuts_video(out: Path) -> Path:
    """Ten one-second shots, a cut every second."""
    return tone_video(out, tuple((c, 1.0) for c in (RED, BLUE, GREEN) * 3 + (RED,)), [], name="cuts")


@pytest.mark.slow  # paced at the media rate: it takes its clip's length in wall time
def test_a_slow_reader_drops_frames_of_a_live_stream_and_never_holds_it_up(tmp_path: Path) -> None:
    video = cuts_video(tmp_path)
    reader = FakeReader(delay=3.0)
    server = start_server(tmp_path / "data", reader).start()
    try:
        client = VigilClient(server.address)
        began = time.monotonic()
        frames = []  # (seconds since the first chunk, frame segment), as they arrive
        for event in client.ingest(paced(video, 10.0), "cuts", "mpegts", frame_rate=1):
            if event.WhichOneof("event") == "segment" and event.segment.segment.modality == 1:
                frames.append((time.monotonic() - began, event.segment.segment))
        assert len(frames) == 10 and all(s.shot_start for _, s in frames)  # a cut every second
        # Ten cuts, 3 s to read each: reading all would take 30 s; one is read while at most 2 wait.
        assert 3 <= reader.calls <= 6
        assert frames[-1][0] < 14  # the frames kept pace with the 10 s of media
        client.close()
    finally:
        server.stop()


def test_an_upload_waits_for_the_reader_and_loses_no_shot(tmp_path: Path) -> None:
    video = cuts_video(tmp_path)
    reader = FakeReader(delay=0.3)
    server = start_server(tmp_path / "data", reader).start()
    try:
        client = VigilClient(server.address)
        events = list(client.ingest(read_chunks(video.open("rb"), 1 << 16), "upload", "mpegts", frame_rate=1))
        texts = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"
                 and e.segment.segment.modality == 4]  # fmt: skip
        assert reader.calls == 10 and len(texts) == 10
        client.close()
    finally:
        server.stop()


def test_on_screen_text_off_reads_nothing(tmp_path: Path, video: Path) -> None:
    reader = FakeReader()
    server = start_server(tmp_path / "data", reader, ["--on-screen-text", "off"]).start()
    try:
        client = VigilClient(server.address)
        events = list(client.ingest(read_chunks(video.open("rb"), 1 << 16), "off", "mpegts", frame_rate=1))
        assert not [e for e in events if e.WhichOneof("event") == "segment" and e.segment.segment.modality == 4]
        assert reader.calls == 0
        client.close()
    finally:
        server.stop()
