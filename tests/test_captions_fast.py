"""Live captions, ListSegments and the caption CLI on the in-process server with fake models (the fast loop).

One stream is ingested at twice the media rate while a watcher follows its captions (with frame
descriptions) and a second watcher joins after the first final caption. The fakes say a word per
voice tone, call a high tone music, and name frames by colour (tests/fakes.py).
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
import srt
import webvtt

from scripts.sample_media import tone_video
from tests.fakes import TONE_WORDS
from tests.inprocess import InProcessServer
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import CaptionInfo, CaptionProgress, StreamState, VigilClient, error_details
from vigil_client.cli import main as vigil

WORD_FREQ = {word: float(freq) for freq, word in TONE_WORDS.items()}
STREAM = "captions-fast"
RED, BLUE = (255, 0, 0), (0, 0, 255)
SLIDES = ((RED, 4.5), (BLUE, 4.5))
# (word, start, seconds) of the voice tones; then music.
SPOKEN = (("alpha", 0.5, 2.0), ("charlie", 3.5, 2.0))
MUSIC = (2500.0, 6.0, 1.5)
SPEED = 2.0  # media seconds sent per wall second


def start_of(cue: webvtt.Caption) -> float:
    """A cue's start in seconds (webvtt-py's start_in_seconds drops the milliseconds)."""
    return float(cue.start_time.in_milliseconds()) / 1000


@dataclass
class Follower:
    """One WatchCaptions call on a thread, recording every event in arrival order."""

    client: VigilClient
    descriptions: bool = False
    events: list[CaptionInfo | StreamState | CaptionProgress] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.watch = self.client.watch_captions(STREAM, descriptions=self.descriptions)
        assert self.watch.wait_connected(10)
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        been_live = False
        for event in self.watch:
            self.events.append(event)
            if isinstance(event, StreamState):
                been_live = been_live or event.live
                if been_live and not event.live:
                    self.ended.set()

    @property
    def captions(self) -> list[CaptionInfo]:
        return [e for e in list(self.events) if isinstance(e, CaptionInfo)]

    def finals(self, kind: str = "speech") -> list[CaptionInfo]:
        return [c for c in self.captions if c.is_final and c.kind == kind]


@dataclass(frozen=True)
class Followed:
    first: Follower  # from before the stream started, with descriptions
    late: Follower  # joined after the first final caption
    segments: list[vigil_pb2.Segment]  # as the Ingest call announced them


@pytest.fixture(scope="module")
def followed(fast_server: InProcessServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Followed]:
    tones = [(WORD_FREQ[w], start, seconds) for w, start, seconds in SPOKEN] + [MUSIC]
    video = tone_video(tmp_path_factory.mktemp("captions"), SLIDES, tones)
    data = video.read_bytes()
    pieces = [data[i : i + (16 << 10)] for i in range(0, len(data), 16 << 10)]
    seconds = sum(s for _, s in SLIDES)
    with VigilClient(fast_server.address) as client:
        first = Follower(client, descriptions=True)
        holder: list[Follower] = []

        def join_late() -> None:
            deadline = time.monotonic() + 30
            while not first.finals() and time.monotonic() < deadline:
                time.sleep(0.01)
            holder.append(Follower(client))

        joiner = threading.Thread(target=join_late, daemon=True)
        joiner.start()

        def paced() -> Iterator[bytes]:
            for piece in pieces:
                time.sleep(seconds / SPEED / len(pieces))
                yield piece

        segments = [e.segment.segment for e in client.ingest(paced(), STREAM, "mpegts") if e.HasField("segment")]
        joiner.join(30)
        late = holder[0]
        for follower in (first, late):
            assert follower.ended.wait(10), "the stream's end never reached a watcher"
            follower.watch.cancel()
        yield Followed(first, late, segments)


def test_interims_come_before_the_final_of_their_id_and_finals_in_order(followed: Followed) -> None:
    captions = [c for c in followed.first.captions if c.kind == "speech"]
    finals = followed.first.finals()
    assert [c.text for c in finals] == ["alpha", "charlie"]
    assert [c.start for c in finals] == sorted(c.start for c in finals)
    for final in finals:
        same = [c for c in captions if c.caption_id == final.caption_id]
        assert same[-1] is final and len(same) >= 2, same  # at least one interim, then the final
        assert all(not c.is_final for c in same[:-1])
        assert all(final.text.startswith(c.stable_text) for c in same)
        assert final.segment_ids and final.words and final.words[0].text == final.text
        spoken = next(s for w, s, _ in SPOKEN if w == final.text)
        assert final.start == pytest.approx(spoken, abs=0.35) and final.end > final.start
    assert [c.sequence for c in followed.first.captions] == sorted(c.sequence for c in followed.first.captions)


def test_progress_says_how_far_each_kind_of_final_has_come(followed: Followed) -> None:
    events = followed.first.events
    for kind in ("speech", "sound"):
        marks = [(i, e.until) for i, e in enumerate(events) if isinstance(e, CaptionProgress) and e.kind == kind]
        assert marks and [u for _, u in marks] == sorted(u for _, u in marks), kind
        for i, until in marks:  # no final of the kind that came later starts before it
            later = [e for e in events[i + 1 :] if isinstance(e, CaptionInfo) and e.is_final and e.kind == kind]
            assert all(c.start >= until for c in later), (kind, until, later)


def test_sound_captions_come_in_the_same_feed(followed: Followed) -> None:
    sounds = followed.first.finals("sound")
    assert [c.text for c in sounds] == ["[music]"]
    _, start, seconds = MUSIC
    assert sounds[0].start == pytest.approx(start, abs=0.35) and sounds[0].end == pytest.approx(
        start + seconds, abs=0.35
    )


def test_a_late_joiner_gets_the_replay_then_live_captions(followed: Followed) -> None:
    events = followed.late.events
    assert isinstance(events[0], StreamState) and events[0].live
    captions = followed.late.captions
    replayed = [c for c in captions if c.replayed]
    assert replayed and captions[: len(replayed)] == replayed, "the replay comes first"
    assert [c.text for c in replayed if c.is_final] == ["alpha"]
    assert not any(c.kind == "description" for c in captions)  # it did not ask for them
    live = [c for c in captions[len(replayed) :] if c.is_final]
    by_id = {c.caption_id: c for c in followed.first.captions if c.is_final}
    assert [c.text for c in live] == ["charlie", "[music]"]
    assert all(c == by_id[c.caption_id] for c in live)  # the same captions the first watcher got


def test_descriptions_name_each_new_scene(followed: Followed) -> None:
    described = followed.first.finals("description")
    assert [(c.text, c.start) for c in described] == [("red", 0.0), ("blue", 5.0)]  # frames at whole seconds
    assert described[0].concepts[0][0] == "red" and described[0].concepts[0][1] > 0.9


def test_final_captions_are_the_stored_segments(followed: Followed, fast_server: InProcessServer) -> None:
    with VigilClient(fast_server.address) as client:
        listed = list(client.iter_segments(STREAM, modalities=["speech", "sound"]))
    captioned = [i for c in followed.first.captions if c.is_final for i in c.segment_ids]
    assert sorted(s.segment_id for s in listed) == sorted(captioned)
    assert [s.text for s in listed] == ["alpha", "charlie", "[music]"]


def test_list_segments_pages_in_time_order_with_filters(followed: Followed, fast_server: InProcessServer) -> None:
    expected = sorted(followed.segments, key=lambda s: (s.start, s.end, s.segment_id))
    with VigilClient(fast_server.address) as client:
        pages = []
        token = ""
        while True:
            page = client.list_segments(STREAM, page_size=5, page_token=token)
            pages.append(page.segments)
            if not (token := page.next_page_token):
                break
        assert [len(p) for p in pages] == [5, 5, len(expected) - 10]
        assert [s.segment_id for p in pages for s in p] == [s.segment_id for s in expected]
        speech = client.list_segments(STREAM, modalities=["speech"]).segments
        assert [s.text for s in speech] == ["alpha", "charlie"]
        window = client.list_segments(STREAM, start=3.0, end=5.0).segments
        assert window and all(s.end > 3.0 and s.start < 5.0 for s in window)
        assert {s.modality for s in window} == {"frame", "speech"}
        assert client.list_segments("no-such-stream").segments == []


def status(call: object) -> tuple[grpc.StatusCode, list[str]]:
    try:
        call()  # type: ignore[operator]
    except grpc.RpcError as error:
        return error.code(), [f for f, _ in error_details(error).field_violations]
    raise AssertionError("the call succeeded")


def test_bad_listing_and_caption_requests_name_their_field(fast_server: InProcessServer) -> None:
    with grpc.insecure_channel(fast_server.address) as channel:
        stub = vigil_pb2_grpc.VigilStub(channel)
        page = stub.ListSegments(vigil_pb2.ListSegmentsRequest(stream_id=STREAM, page_size=2), timeout=10)
        token = page.next_page_token
        bad = {
            "stream_id": vigil_pb2.ListSegmentsRequest(stream_id="no spaces"),
            "page_size": vigil_pb2.ListSegmentsRequest(stream_id=STREAM, page_size=1001),
            "page_token": vigil_pb2.ListSegmentsRequest(stream_id=STREAM, page_token="bm9wZQ"),
            "time_range.end": vigil_pb2.ListSegmentsRequest(stream_id=STREAM, time_range={"start": 5, "end": 2}),
        }
        for name, request in bad.items():
            assert status(lambda r=request: stub.ListSegments(r, timeout=10)) == (
                grpc.StatusCode.INVALID_ARGUMENT, [name]), name  # fmt: skip
        other_filter = vigil_pb2.ListSegmentsRequest(stream_id=STREAM, page_token=token, modalities=[2])
        code, fields = status(lambda: stub.ListSegments(other_filter, timeout=10))
        assert (code, fields) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])
        for request, name in (
            (vigil_pb2.WatchCaptionsRequest(stream_id=""), "stream_id"),
            (vigil_pb2.WatchCaptionsRequest(stream_id=STREAM, replay=101), "replay"),
        ):
            assert status(lambda r=request: list(stub.WatchCaptions(r, timeout=10))) == (
                grpc.StatusCode.INVALID_ARGUMENT, [name])  # fmt: skip


def test_watching_a_stream_that_is_not_live_waits_for_it(fast_server: InProcessServer) -> None:
    with VigilClient(fast_server.address) as client, client.watch_captions("not-yet") as watch:
        first = next(watch)
        assert first == StreamState("not-yet", live=False)
        got: list[object] = []
        threading.Thread(target=lambda: got.append(next(watch, None)), daemon=True).start()
        time.sleep(0.3)
        assert got == []  # the call is open, waiting for the stream


def test_captions_cli_writes_webvtt_and_transcript_writes_every_format(
    followed: Followed, fast_server: InProcessServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    video = tone_video(tmp_path, [(RED, 3.0)], [(WORD_FREQ["delta"], 0.5, 1.0), (WORD_FREQ["golf"], 2.3, 0.6)])
    out = tmp_path / "live.vtt"
    server = ["--server", fast_server.address]
    assert vigil([*server, "captions", str(video), "--stream", "cli-captions", "--format", "vtt", "-o", str(out)]) == 0
    cues = webvtt.read(str(out)).captions
    assert [c.text for c in cues] == ["delta", "golf"]
    assert start_of(cues[0]) == pytest.approx(0.5, abs=0.35)
    assert "2 final captions" in capsys.readouterr().err

    assert vigil([*server, "transcript", STREAM, "--format", "srt"]) == 0
    subtitles = list(srt.parse(capsys.readouterr().out))
    assert [s.content for s in subtitles] == ["alpha", "charlie", "[music]"]
    assert vigil([*server, "transcript", STREAM, "--format", "txt", "--start", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == ["charlie", "[music]"]
    assert vigil([*server, "transcript", STREAM, "--format", "json"]) == 0
    rows = [json.loads(line) for line in io.StringIO(capsys.readouterr().out)]
    assert [r["modality"] for r in rows] == ["speech", "speech", "sound"] and rows[0]["text"] == "alpha"
