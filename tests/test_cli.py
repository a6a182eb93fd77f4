"""The `vigil` CLI against the real server."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import PHRASE_AT, Media
from tests.server_process import ServerProcess

CLI = [sys.executable, "-m", "vigil_client.cli"]


def vigil(server: ServerProcess, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, "--server", server.address, *args], input=stdin, capture_output=True, timeout=300)


def test_ingest_from_stdin_then_search_json(server: ServerProcess, media: Media) -> None:
    done = vigil(server, "ingest", "-", "--stream", "cli-stdin", "--json", stdin=media.pattern().read_bytes())
    assert done.returncode == 0, done.stderr
    segments = [json.loads(line) for line in done.stdout.decode().splitlines()]
    assert {s["modality"] for s in segments} == {"frame", "speech"}
    assert b"10 frames" in done.stderr

    found = vigil(server, "search", "lighthouse keeper", "--stream", "cli-stdin", "--top-k", "3", "--json")
    assert found.returncode == 0, found.stderr
    rows = [json.loads(line) for line in found.stdout.decode().splitlines()]
    assert len(rows) == 3
    assert set(rows[0]) >= {"stream_id", "modality", "start", "end", "score", "text"}
    assert rows[0]["modality"] == "speech" and abs(rows[0]["start"] - PHRASE_AT) <= 1.0


def test_ingest_file_guesses_format_and_prints_segments(server: ServerProcess, media: Media) -> None:
    done = vigil(server, "ingest", str(media.slideshow("webm")), "--stream", "cli-webm")
    assert done.returncode == 0, done.stderr
    assert b"[frame ] cli-webm" in done.stdout
    text = vigil(server, "search", "cat", "--modality", "frame", "--stream", "cli-webm", "--top-k", "1")
    assert text.returncode == 0 and b"cli-webm" in text.stdout


def test_errors_are_reported_with_exit_status(server: ServerProcess, tmp_path) -> None:  # type: ignore[no-untyped-def]
    junk = tmp_path / "junk.ts"
    junk.write_bytes(b"\x00not a transport stream" * 1000)
    failed = vigil(server, "ingest", str(junk), "--stream", "cli-junk")
    assert failed.returncode == 1
    assert b"INVALID_ARGUMENT" in failed.stderr
    unknown = vigil(server, "ingest", str(tmp_path / "x.unknownext"))
    assert unknown.returncode == 2 and b"--format" in unknown.stderr
