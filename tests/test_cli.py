"""The `vigil` CLI against the real server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import PHRASE_AT, Media
from tests.inprocess import InProcessServer
from tests.server_process import ServerProcess

CLI = [sys.executable, "-m", "vigil_client.cli"]


def vigil(
    server: ServerProcess | InProcessServer, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, "--server", server.address, *args], input=stdin, capture_output=True, timeout=300)


@pytest.mark.slow
def test_ingest_from_stdin_then_search_json(server: ServerProcess, media: Media) -> None:
    done = vigil(server, "ingest", "-", "--stream", "cli-stdin", "--json", stdin=media.pattern().read_bytes())
    assert done.returncode == 0, done.stderr
    segments = [json.loads(line) for line in done.stdout.decode().splitlines()]
    modalities = {s["modality"] for s in segments}
    # The test pattern shows a running clock: on-screen text may be read too; never sound (there is none).
    assert {"frame", "speech"} <= modalities <= {"frame", "speech", "on_screen_text"}, modalities
    assert b"10 frames" in done.stderr

    found = vigil(server, "search", "lighthouse keeper", "--stream", "cli-stdin", "--top-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    rows = [json.loads(line) for line in found.stdout.decode().splitlines()]
    assert len(rows) == 3
    assert set(rows[0]) >= {"stream_id", "modality", "start", "end", "score", "text"}
    assert rows[0]["modality"] == "speech" and abs(rows[0]["start"] - PHRASE_AT) <= 1.0


@pytest.mark.slow
def test_ingest_file_guesses_format_and_prints_segments(server: ServerProcess, media: Media) -> None:
    done = vigil(server, "ingest", str(media.slideshow("webm")), "--stream", "cli-webm")
    assert done.returncode == 0, done.stderr
    assert b"[frame ] cli-webm" in done.stdout
    text = vigil(server, "search", "cat", "--modality", "frame", "--stream", "cli-webm", "--top-k", "1")
    assert text.returncode == 0 and b"cli-webm" in text.stdout


def test_errors_are_reported_with_exit_status(fast_server: InProcessServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    server = fast_server
    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"\x00not a transport stream" * 1000)
    failed = vigil(server, "ingest", str(junk), "--stream", "cli-junk")
    assert failed.returncode == 1
    assert b"INVALID_ARGUMENT" in failed.stderr
    unknown = vigil(server, "ingest", str(tmp_path / "x.unknownext"))
    assert unknown.returncode == 2 and b"--format" in unknown.stderr


@pytest.mark.slow
def test_search_by_example_from_the_cli(server: ServerProcess, media: Media, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from scripts.sample_media import skimage_photo

    assert vigil(server, "ingest", str(media.slideshow("mpegts")), "--stream", "cli-examples").returncode == 0
    photo = tmp_path / "cat.jpg"
    Image.fromarray(skimage_photo("chelsea")).save(photo, quality=80)
    found = vigil(server, "search", "--image", str(photo), "--stream", "cli-examples", "--modality", "frame", "--json")
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout.decode().splitlines()[0])
    assert top["modality"] == "frame" and top["start"] < 3.0 and "cosine" in top

    like = vigil(server, "search", "--segment", top["segment_id"], "--stream", "cli-examples", "--top-k", "1", "--json")
    assert like.returncode == 0, like.stderr
    assert json.loads(like.stdout)["segment_id"] != top["segment_id"]

    clip = vigil(server, "search", "--video", str(media.slideshow("mpegts")), "--stream", "cli-examples", "--json")
    assert clip.returncode == 0 and clip.stdout, clip.stderr

    both = vigil(server, "search", "cat", "--image", str(photo))
    assert both.returncode == 2 and b"one of" in both.stderr
    missing = vigil(server, "search", "--segment", "0" * 32)
    assert missing.returncode == 1 and b"NOT_FOUND" in missing.stderr
