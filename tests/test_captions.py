"""Live captions with the real models: real recorded speech and music streamed at the media rate.

The stream is a slideshow of packaged photos (scikit-image's cat, coffee and rocket) with three
prompts of Debian's asterisk-core-sounds-en-wav (a real voice, with published transcripts) and a
passage of asterisk-moh-opsound-wav music. One watcher follows its captions from the start (with
frame descriptions), a second joins after the first final caption. `vigil captions` then writes the
same media as WebVTT, which webvtt-py must read and whose cues must lie within 0.5 s of the speech.
"""

from __future__ import annotations

import re
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import webvtt

from scripts.sample_media import CONTAINERS, LETTERBOX, load_audio, run_ffmpeg, skimage_photo
from tests.server_process import ServerProcess
from vigil_client import CaptionInfo, StreamState, VigilClient
from vigil_client.cli import main as vigil
from vigil_models.yamnet import PATCH_S

pytestmark = pytest.mark.slow  # real models

PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")  # scripts/setup.sh installs the package
MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")  # instrumental
# (prompt, its transcript from core-sounds-en.txt, where it starts in the stream)
SAID = (
    ("conf-onlyperson", "You are currently the only person in this conference.", 1.0),
    ("agent-incorrect", "Login incorrect. Please enter your agent number followed by the pound key.", 6.0),
    ("conf-invalid", "That is not a valid conference number. Please try again.", 22.0),
)
MUSIC_AT, MUSIC_S = 12.5, 8.0
# (scikit-image photo, seconds shown, words a description of it may use)
SLIDES = (
    ("chelsea", 9.5, {"cat", "mau", "tabby"}),
    ("coffee", 9.5, {"espresso", "cup", "coffee"}),
    ("rocket", 9.0, {"shuttle", "missile", "rocket", "projectile"}),
)
DURATION = sum(s for _, s, _ in SLIDES)
RATE = 16_000
STREAM = "captions-real"


@dataclass(frozen=True)
class Speech:
    text: str  # the transcript
    start: float  # where the voice starts and ends in the stream (by energy), seconds
    end: float


@dataclass(frozen=True)
class Source:
    video: Path
    speech: list[Speech]


def voiced(audio: np.ndarray) -> tuple[float, float]:
    """First and last 20 ms frame louder than -40 dB below the clip's peak, in seconds."""
    frames = audio[: audio.size // 320 * 320].reshape(-1, 320)
    loud = np.flatnonzero(np.sqrt((frames**2).mean(axis=1)) > np.abs(audio).max() * 0.01)
    return loud[0] * 0.02, (loud[-1] + 1) * 0.02


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    work = tmp_path_factory.mktemp("captions-media")
    track = np.zeros(round(DURATION * RATE), np.float32)
    speech = []
    for name, text, at in SAID:
        clip = load_audio(PROMPTS / f"{name}.wav")
        first = round(at * RATE)
        track[first : first + clip.size] += clip
        a, b = voiced(clip)
        speech.append(Speech(text, at + a, at + b))
    music = load_audio(MUSIC, start=10.0, seconds=MUSIC_S)
    first = round(MUSIC_AT * RATE)
    track[first : first + music.size] += music
    wav = work / "track.wav"
    with wave.open(str(wav), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes((np.clip(track, -1, 1) * 32767).astype("<i2").tobytes())
    from PIL import Image

    inputs: list[str] = []
    chains = []
    for i, (name, seconds, _) in enumerate(SLIDES):
        Image.fromarray(skimage_photo(name)).save(work / f"{name}.png")
        inputs += ["-loop", "1", "-framerate", "25", "-t", f"{seconds}", "-i", str(work / f"{name}.png")]
        chains.append(f"[{i}:v]{LETTERBOX}[v{i}]")
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(SLIDES))) + f"concat=n={len(SLIDES)}[vout]"
    video = work / "captions.ts"
    run_ffmpeg([*inputs, "-i", str(wav), "-filter_complex", graph, "-map", "[vout]", "-map", f"{len(SLIDES)}:a",
                "-t", f"{DURATION}", *CONTAINERS["mpegts"][1], str(video)])  # fmt: skip
    return Source(video, speech)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("captions-data"), model_cache).start().wait_serving()
    yield proc
    proc.stop()


@dataclass
class Follower:
    client: VigilClient
    descriptions: bool = False
    events: list[tuple[float, CaptionInfo | StreamState]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.watch = self.client.watch_captions(STREAM, descriptions=self.descriptions)
        assert self.watch.wait_connected(30)
        self.ended = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        been_live = False
        for event in self.watch:
            self.events.append((time.monotonic(), event))
            if isinstance(event, StreamState):
                been_live = been_live or event.live
                if been_live and not event.live:
                    self.ended.set()

    @property
    def captions(self) -> list[CaptionInfo]:
        return [e for _, e in list(self.events) if isinstance(e, CaptionInfo)]

    def finals(self, kind: str = "speech") -> list[CaptionInfo]:
        return [c for c in self.captions if c.is_final and c.kind == kind]


@dataclass(frozen=True)
class Followed:
    first: Follower
    late: Follower


@pytest.fixture(scope="module")
def followed(server: ServerProcess, source: Source) -> Iterator[Followed]:
    data = source.video.read_bytes()
    pieces = [data[i : i + (32 << 10)] for i in range(0, len(data), 32 << 10)]
    with VigilClient(server.address) as client:
        first = Follower(client, descriptions=True)
        holder: list[Follower] = []

        def join_late() -> None:
            deadline = time.monotonic() + 60
            while not first.finals() and time.monotonic() < deadline:
                time.sleep(0.02)
            holder.append(Follower(client))

        joiner = threading.Thread(target=join_late, daemon=True)
        joiner.start()

        def paced() -> Iterator[bytes]:  # the media rate: bytes spread evenly over the stream's duration
            began = time.monotonic()
            for k, piece in enumerate(pieces):
                time.sleep(max(0.0, began + k * DURATION / len(pieces) - time.monotonic()))
                yield piece

        for _ in client.ingest(paced(), STREAM, "mpegts"):
            pass
        joiner.join(60)
        assert holder, "no final caption came while the stream played"
        for follower in (first, holder[0]):
            assert follower.ended.wait(30), "the end of the stream never reached a watcher"
            follower.watch.cancel()
        yield Followed(first, holder[0])


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


def test_interims_come_before_each_final_and_finals_in_order_with_the_words_said(
    followed: Followed, source: Source
) -> None:
    captions = [c for c in followed.first.captions if c.kind == "speech"]
    finals = followed.first.finals()
    assert [c.start for c in finals] == sorted(c.start for c in finals)
    assert [c.sequence for c in captions] == sorted(c.sequence for c in captions)
    interims = {}
    for final in finals:
        same = [c for c in captions if c.caption_id == final.caption_id]
        assert same[-1] is final and all(not c.is_final for c in same[:-1])
        assert all(final.text.startswith(c.stable_text) for c in same)  # stable words never changed
        interims[final.caption_id] = len(same) - 1
    # Every utterance after the first got interims before its final. (The first starts 1 s in, while the
    # decoder is still probing the stream's format, so its audio may reach the server all at once.)
    for said in source.speech[1:]:
        during = [c for c in finals if c.start < said.end and c.end > said.start]
        assert during and all(interims[c.caption_id] for c in during), (said.text, during)
    for said in source.speech:
        heard = " ".join(c.text for c in finals if c.end > said.start - 0.5 and c.start < said.end + 0.5)
        shared = words(heard) & words(said.text)
        assert len(shared) >= 0.6 * len(words(said.text)), (said.text, heard)
        assert any(c.words for c in finals if c.start < said.end and c.end > said.start)


def test_a_late_joiner_gets_the_replay_then_live_captions(followed: Followed) -> None:
    events = [e for _, e in followed.late.events]
    assert isinstance(events[0], StreamState) and events[0].live
    captions = followed.late.captions
    replayed = [c for c in captions if c.replayed]
    assert replayed and captions[: len(replayed)] == replayed
    first_final = followed.first.finals()[0]
    assert first_final.caption_id in {c.caption_id for c in replayed if c.is_final}
    live = [c for c in captions[len(replayed) :] if c.is_final and c.kind == "speech"]
    assert live, "no live final after the replay"
    by_id = {c.caption_id: c for c in followed.first.captions if c.is_final}
    assert all(c == by_id[c.caption_id] for c in live)


def test_music_gives_a_sound_caption_in_the_same_feed(followed: Followed) -> None:
    sounds = followed.first.finals("sound")
    assert sounds and {c.text for c in sounds} <= {"[music]", "[singing]"} and "[music]" in {c.text for c in sounds}
    # The tagger scores 0.96 s patches every 0.48 s, so a patch that overlaps the music's start or
    # end by less than a patch is rightly heard as music: a caption may reach one patch past it.
    for c in sounds:
        assert MUSIC_AT - PATCH_S <= c.start < c.end <= MUSIC_AT + MUSIC_S + PATCH_S, c


def test_frame_descriptions_name_what_the_photos_show(followed: Followed) -> None:
    described = followed.first.finals("description")
    shown_from = 0.0
    for name, seconds, expected in SLIDES:
        during = [c for c in described if shown_from <= c.start < shown_from + seconds]
        assert during, f"no description of {name}"
        assert words(during[0].text) & expected, (name, during[0].text)
        assert during[0].concepts and during[0].concepts[0][1] > 0
        shown_from += seconds


def test_the_captions_cli_writes_webvtt_within_half_a_second_of_the_speech(
    server: ServerProcess, source: Source, tmp_path: Path
) -> None:
    out = tmp_path / "captions.vtt"
    argv = ["--server", server.address, "captions", str(source.video), "--stream", "cli-real", "-o", str(out)]
    assert vigil(argv) == 0
    cues = webvtt.read(str(out)).captions  # raises on a malformed file
    speech_cues = [c for c in cues if not c.text.startswith("[")]
    assert speech_cues
    seconds = [(c.start_time.in_milliseconds() / 1000, c.end_time.in_milliseconds() / 1000) for c in speech_cues]
    for start, end in seconds:
        assert any(s.start - 0.5 <= start and end <= s.end + 0.5 for s in source.speech), (start, end, source.speech)
    for said in source.speech:
        inside = [(a, b) for a, b in seconds if a < said.end and b > said.start]
        assert inside, said
        assert inside[0][0] == pytest.approx(said.start, abs=0.5) and inside[-1][1] == pytest.approx(said.end, abs=0.5)
    for cue in cues:
        lines = cue.text.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines)
