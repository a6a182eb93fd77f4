"""JSON logs (logs.py, --log-format json) from the in-process server: one object per line, the call's
tenant and stream on an Ingest call's lines, and no spoken or queried text at INFO or above.

The handler under test is the one configure_logging installs (`logs.handler("json", app.call_ids)`),
attached to the root logger for the module's server; the fake transcriber says "foxtrot" for the
stream's tone (tests/fakes.py), and a standing query and a search use the same word.
"""

from __future__ import annotations

import io
import json
import logging
import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.sample_media import tone_video
from tests.fakes import TONE_WORDS
from tests.inprocess import InProcessServer
from vigil_client import VigilClient
from vigil_server.app import call_ids
from vigil_server.logs import JsonFormatter, handler

ROOT = Path(__file__).resolve().parent.parent
WORD = "foxtrot"  # what the fake transcriber hears in the stream, and the text of the query and the search
FREQ = float(next(f for f, w in TONE_WORDS.items() if w == WORD))
STREAM = "json-logs-stream"


@pytest.fixture(scope="module")
def lines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[dict[str, Any]]]:
    """Every line the server logged (vigil_server at DEBUG) while a stream was ingested, queried and searched."""
    out = io.StringIO()
    json_handler = handler("json", call_ids, out)
    json_handler.setLevel(logging.DEBUG)
    root, ours = logging.getLogger(), logging.getLogger("vigil_server")
    level = ours.level
    root.addHandler(json_handler)
    ours.setLevel(logging.DEBUG)
    try:
        server = InProcessServer(tmp_path_factory.mktemp("json-logs-data")).start()
        try:
            video = tone_video(tmp_path_factory.mktemp("json-logs-media"), [((0, 255, 0), 4.0)], [(FREQ, 0.5, 1.5)])
            with VigilClient(server.address, timeout=120) as client:
                client.add_query(WORD, keywords=[WORD])
                events = list(client.ingest([video.read_bytes()], STREAM, "mpegts", pacing="upload"))
                spoken = [e.segment.segment.text for e in events if e.HasField("segment") and e.segment.segment.text]
                assert WORD in spoken, spoken  # the text is really there to be leaked
                assert any(e.HasField("alert") for e in events)  # and went through moderation
                client.search(WORD, top_k=5)
        finally:
            server.stop()
    finally:
        root.removeHandler(json_handler)
        ours.setLevel(level)
    yield [json.loads(line) for line in out.getvalue().splitlines()]  # each line parses alone


def test_every_line_is_one_object_with_the_fields(lines: list[dict[str, Any]]) -> None:
    assert len(lines) > 5
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", line["time"]), line
        assert line["level"] in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}


def test_an_ingest_calls_lines_carry_its_tenant_and_stream(lines: list[dict[str, Any]]) -> None:
    ingest = [line for line in lines if line["logger"] == "vigil_server.ingest"]
    assert any("ingest began" in line["message"] for line in ingest)
    assert any("ingest ended" in line["message"] for line in ingest)
    for line in ingest:
        assert (line.get("tenant"), line.get("stream")) == ("default", STREAM), line
    start_up = [line for line in lines if line["message"].startswith("store ")]  # assemble: served no call
    assert start_up and all("tenant" not in line and "stream" not in line for line in start_up)


def test_spoken_and_queried_text_is_never_logged_at_info_or_above(lines: list[dict[str, Any]]) -> None:
    loud = [line for line in lines if line["level"] != "DEBUG"]
    assert loud
    leaked = [line for line in loud if WORD in json.dumps(line).lower()]
    assert not leaked, leaked
    # The check sees text where it is logged: the standing query's label (its text) is at DEBUG.
    assert any(WORD in line["message"] for line in lines if line["level"] == "DEBUG")


def test_an_exception_is_one_line_with_its_traceback() -> None:
    formatter = JsonFormatter(lambda: {"tenant": "t1", "stream": "s1"})
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed: %s", ("it",), sys.exc_info())
    text = formatter.format(record)
    assert "\n" not in text
    entry = json.loads(text)
    assert entry["message"] == "failed: it" and entry["tenant"] == "t1" and entry["stream"] == "s1"
    assert "ValueError: boom" in entry["exception"]


def test_configure_logging_json_writes_json_to_stderr() -> None:
    """A fresh interpreter, as main() configures it: every stderr line is a JSON object."""
    script = """
        import logging
        from vigil_server.app import call_ids
        from vigil_server.logs import configure_logging
        configure_logging("INFO", "json", call_ids)
        logging.getLogger("vigil_server").info("hello %s", "there")
        logging.getLogger("vigil_server").debug("not shown")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stderr.splitlines()]
    assert [(e["level"], e["logger"], e["message"]) for e in entries] == [("INFO", "vigil_server", "hello there")]
