"""The moderation side of the client and the `vigil` CLI: standing queries, reference banks, alerts.

Unit tests first (argument parsing, kind guessing, alert conversion, chunking, the watch loop; no server),
then the CLI against the real server (the session `server` fixture).
"""

from __future__ import annotations

import hashlib
import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import grpc
import pytest

from tests.conftest import PHRASE_AT, Media
from tests.inprocess import InProcessServer
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2
from vigil_client import (
    AlertInfo,
    AlertWatch,
    MediaBytes,
    VigilClient,
    VigilError,
    cli,
    cli_connection,
    cli_moderation,
    media_kind,
)
from vigil_client.moderation import bank_item_kind, example_proto

CLI = [sys.executable, "-m", "vigil_client.cli"]
ALERT_KEYS = {"stream_id", "start", "end", "kind", "match_id", "label", "score", "hash_distance", "text",
              "alert_id", "modality", "segment_id", "bank", "external_id", "methods", "cosine", "fingerprint_score",
              "suppressed", "from_archive", "raised_at", "thumbnail_bytes", "sequence", "replayed", "verdict",
              "reviewer", "note", "reviewed_at"}  # fmt: skip
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 100


# -- Unit tests: no server ------------------------------------------------------------------------------------


def test_moderation_commands_parse() -> None:
    p = cli.parser()
    args = p.parse_args(["query", "add", "a red car", "--example", "car.jpg", "--negative", "a toy car",
                         "--modality", "frame", "--modality", "speech", "--stream", "cam-1", "--threshold", "4.5",
                         "--label", "cars", "--json"])  # fmt: skip
    assert (args.command, args.action, args.text) == ("query", "add", "a red car")
    assert args.example == ["car.jpg"] and args.negative == ["a toy car"]
    assert args.modality == ["frame", "speech"] and args.stream == ["cam-1"]
    assert args.threshold == 4.5 and args.label == "cars" and args.json
    assert p.parse_args(["query", "add", "--example", "x.wav"]).text is None

    args = p.parse_args(["bank", "add", "logo.png", "--bank", "logos", "--external-id", "case-7", "--kind", "image",
                         "--archive-window", "-1"])  # fmt: skip
    assert (args.path, args.bank, args.external_id, args.kind, args.archive_window) == (
        "logo.png", "logos", "case-7", "image", -1.0)  # fmt: skip
    assert p.parse_args(["bank", "import", "-", "--bank", "b"]).file == "-"
    assert p.parse_args(["bank", "export", "-o", "out.csv"]).output == "out.csv"
    assert p.parse_args(["bank", "list"]).bank == ""

    args = p.parse_args(["watch", "--stream", "a", "--stream", "b", "--bank", "x", "--query", "q1", "--count", "3"])
    assert (args.stream, args.bank, args.query, args.count, args.json) == (["a", "b"], ["x"], ["q1"], 3, False)
    for bad in (["bank", "add", "x.png"], ["query"], ["watch", "--count", "x"], ["bank", "add", "x", "--bank", "b",
                                                                               "--kind", "pdf"]):  # fmt: skip
        with pytest.raises(SystemExit):
            p.parse_args(bad)


def test_kind_from_extension() -> None:
    for name in ("a.jpg", "b.JPEG", "c.png", "d.webp", "e.bmp", "f.gif"):
        assert media_kind(name) == "image", name
    for name in ("a.wav", "b.mp3", "c.flac", "d.ogg", "e.m4a", "f.opus"):
        assert media_kind(name) == "audio", name
    for name in ("a.ts", "b.mp4", "c.mkv", "d.webm", "e.mov", "f.ogv"):
        assert media_kind(name) == "video", name
    assert media_kind("notes.txt") is None and media_kind("noext") is None

    assert bank_item_kind("logo.PNG", None, None) == ("image", "")
    assert bank_item_kind("jingle.wav", None, None) == ("audio", "wav")
    assert bank_item_kind("clip.mkv", None, None) == ("video", "matroska")
    assert bank_item_kind("clip.bin", "video", "mpegts") == ("video", "mpegts")
    assert bank_item_kind(JPEG, None, None) == ("image", "")
    assert bank_item_kind(b"ID3...", "audio", "mp3") == ("audio", "mp3")
    for source, kind, fmt in ((b"ID3...", None, None), (b"\x47" * 188, "video", None), ("clip.bin", None, None),
                              ("clip.bin", "video", None), ("x.png", "pdf", None)):  # fmt: skip
        with pytest.raises(ValueError):
            bank_item_kind(source, kind, fmt)


def test_query_examples(tmp_path: Path) -> None:
    assert example_proto("a red car").text == "a red car"
    assert example_proto(JPEG).image == JPEG
    photo, song, film = tmp_path / "car.jpg", tmp_path / "song.mp3", tmp_path / "film.ts"
    for path in (photo, song, film):
        path.write_bytes(b"bytes of " + path.name.encode())
    assert example_proto(photo).image == b"bytes of car.jpg"
    assert example_proto(song).audio == vigil_pb2.MediaClip(data=b"bytes of song.mp3", format="mp3")
    assert example_proto(film).video.format == "mpegts"
    assert example_proto(MediaBytes(b"x", "wav")).WhichOneof("example") == "audio"
    assert example_proto(MediaBytes(b"x", "mp4")).WhichOneof("example") == "video"
    assert example_proto(MediaBytes(b"x", "mp4", kind="audio")).WhichOneof("example") == "audio"
    with pytest.raises(ValueError):
        example_proto(tmp_path / "notes.txt")
    # The CLI's PATH_OR_TEXT: an existing file, else text; a missing file named like media is an error.
    assert cli_moderation._example(str(photo)) == photo
    assert cli_moderation._example("a toy car") == "a toy car"
    with pytest.raises(ValueError, match="no such file"):
        cli_moderation._example(str(tmp_path / "missing.jpg"))


def alert_proto(**fields: Any) -> vigil_pb2.Alert:
    base: dict[str, Any] = dict(alert_id="a1", kind=vigil_pb2.ALERT_KIND_REFERENCE, stream_id="cam-1", start=4.0,
                                end=5.0, modality=vigil_pb2.MODALITY_FRAME, segment_id="s1", match_id="item-1",
                                label="the cat", bank="pets", external_id="case-7", score=0.91, cosine=0.91,
                                raised_at=1.7e9)  # fmt: skip
    return vigil_pb2.Alert(**{**base, **fields})


def test_alert_as_json() -> None:
    plain = AlertInfo.from_proto(alert_proto(methods=[vigil_pb2.MATCH_METHOD_EMBEDDING]))
    row = plain.as_json()
    assert set(row) == ALERT_KEYS
    assert row["hash_distance"] is None and row["fingerprint_score"] is None  # optional fields left unset
    assert (row["kind"], row["modality"], row["methods"], row["thumbnail_bytes"]) == ("reference", "frame",
                                                                                        ["embedding"], 0)  # fmt: skip
    assert json.loads(json.dumps(row)) == row

    hashed = AlertInfo.from_proto(alert_proto(
        methods=[vigil_pb2.MATCH_METHOD_PDQ, vigil_pb2.MATCH_METHOD_FINGERPRINT], hash_distance=0,
        fingerprint_score=0.75, thumbnail_jpeg=JPEG, suppressed=2, from_archive=True,
    )).as_json()  # fmt: skip
    assert hashed["hash_distance"] == 0  # set to zero is not absent
    assert hashed["fingerprint_score"] == 0.75 and hashed["methods"] == ["pdq", "fingerprint"]
    assert (hashed["thumbnail_bytes"], hashed["suppressed"], hashed["from_archive"]) == (len(JPEG), 2, True)

    query = AlertInfo.from_proto(
        alert_proto(
            kind=vigil_pb2.ALERT_KIND_QUERY,
            modality=vigil_pb2.MODALITY_SPEECH,
            text="the lighthouse keeper",
            score=5.5,
            bank="",
            external_id="",
        )
    )
    assert query.as_json()["kind"] == "query" and query.as_json()["modality"] == "speech"
    line = cli_moderation.describe_alert(query)
    assert line.startswith("ALERT [speech] cam-1") and "score 5.50" in line and "lighthouse keeper" in line
    assert "pdq 0" in cli_moderation.describe_alert(AlertInfo.from_proto(alert_proto(
        methods=[vigil_pb2.MATCH_METHOD_PDQ], hash_distance=0)))  # fmt: skip


class FakeStub:
    """Stands in for the generated stub: records what AddBankItem was sent."""

    def __init__(self) -> None:
        self.sent: list[vigil_pb2.AddBankItemRequest] = []

    def AddBankItem(self, requests: Iterator[vigil_pb2.AddBankItemRequest], timeout: float) -> Any:  # noqa: N802
        self.sent = list(requests)
        header = self.sent[0].header
        item = vigil_pb2.BankItem(item_id="item-1", bank=header.bank, kind=header.kind, label=header.label)
        return vigil_pb2.AddBankItemResponse(item=item, archive_alerts=3)


def test_add_bank_item_streams_header_then_numbered_chunks(tmp_path: Path) -> None:
    stub = FakeStub()
    with VigilClient("127.0.0.1:1") as client:
        client._stub = stub
        data = bytes(range(256)) * 10_000  # 2.44 MiB
        video = tmp_path / "clip.mkv"
        video.write_bytes(data)
        added = client.add_bank_item(video, bank="b", label="L", external_id="x", archive_window=-1, chunk_size=1 << 20)
        header = stub.sent[0].header
        assert (header.bank, header.kind, header.format, header.label, header.external_id, header.archive_window) == (
            "b", vigil_pb2.REFERENCE_KIND_VIDEO, "matroska", "L", "x", -1.0)  # fmt: skip
        chunks = [r.chunk for r in stub.sent[1:]]
        assert [c.sequence for c in chunks] == [0, 1, 2]
        assert [len(c.data) for c in chunks] == [1 << 20, 1 << 20, len(data) - (2 << 20)]
        assert b"".join(c.data for c in chunks) == data
        assert (added.item.item_id, added.item.kind, added.archive_alerts) == ("item-1", "video", 3)

        client.add_bank_item(JPEG, bank="b")
        assert stub.sent[0].header.kind == vigil_pb2.REFERENCE_KIND_IMAGE and stub.sent[0].header.format == ""
        assert [r.chunk.data for r in stub.sent[1:]] == [JPEG]
        with pytest.raises(FileNotFoundError):
            client.add_bank_item(tmp_path / "missing.png", bank="b")


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str):
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


class FakeWatchCall:
    """Stands in for the Watch call: yields the alerts, then raises `end`, or waits to be cancelled."""

    def __init__(self, alerts: list[vigil_pb2.Alert], end: BaseException | None = None, headers: bool = True):
        self.alerts = iter(alerts)
        self.end = end
        self.headers = headers  # False: no response headers before the call ends
        self.cancelled = threading.Event()

    def __iter__(self) -> FakeWatchCall:
        return self

    def __next__(self) -> vigil_pb2.Alert:
        if (alert := next(self.alerts, None)) is not None:
            return alert
        if self.end is not None:
            raise self.end
        self.cancelled.wait(10)
        raise FakeRpcError(grpc.StatusCode.CANCELLED, "Locally cancelled by application!")

    def initial_metadata(self) -> tuple[()]:
        if not self.headers:
            self.cancelled.wait()
        return ()

    def done(self) -> bool:
        return self.cancelled.is_set()

    def cancel(self) -> None:
        self.cancelled.set()


def fake_server(monkeypatch: pytest.MonkeyPatch, call: FakeWatchCall) -> list[dict[str, list[str]]]:
    """Point the CLI's VigilClient at a fake whose watch() returns an AlertWatch over `call`."""
    requests: list[dict[str, list[str]]] = []

    class FakeClient:
        def __init__(self, target: str, *args: object, **connection: object):
            pass

        def __enter__(self) -> FakeClient:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def watch(
            self, stream_ids: list[str], banks: list[str], query_ids: list[str], *, resume_after: int | None = None
        ) -> AlertWatch:
            requests.append({"stream_ids": stream_ids, "banks": banks, "query_ids": query_ids,
                             "resume_after": resume_after})  # fmt: skip
            call.headers = False  # so the CLI's "watching" line cannot land after the test has read stderr
            return AlertWatch(call)

    monkeypatch.setattr(cli_connection, "VigilClient", FakeClient)  # what connect() builds
    return requests


def test_watch_prints_json_lines_writes_thumbnails_and_stops_after_count(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    alerts = [alert_proto(alert_id=f"a{i}", thumbnail_jpeg=JPEG if i == 0 else b"", hash_distance=i * 10,
                          methods=[vigil_pb2.MATCH_METHOD_PDQ]) for i in range(3)]  # fmt: skip
    call = FakeWatchCall(alerts)
    requests = fake_server(monkeypatch, call)
    thumbs = tmp_path / "thumbs"
    code = cli.main(["watch", "--json", "--count", "2", "--bank", "pets", "--stream", "cam-1",
                     "--thumbnails", str(thumbs)])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["alert_id"] for r in rows] == ["a0", "a1"] and [r["hash_distance"] for r in rows] == [0, 10]
    assert requests == [{"stream_ids": ["cam-1"], "banks": ["pets"], "query_ids": [], "resume_after": None}]
    assert (thumbs / "a0.jpg").read_bytes() == JPEG and not (thumbs / "a1.jpg").exists()
    assert call.cancelled.is_set()

    fake_server(monkeypatch, FakeWatchCall(alerts[:1], StopIteration()))  # then the server ends the stream
    assert cli.main(["watch"]) == 0  # without --count, a watch that ends is not a failure
    out, err = capsys.readouterr()
    assert out.startswith("ALERT [frame ] cam-1") and "pdq 0" in out and "ended the watch after 1 alerts" in err


def test_watch_reports_errors_and_ctrl_c(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake_server(monkeypatch, FakeWatchCall([], FakeRpcError(grpc.StatusCode.UNIMPLEMENTED, "Method not found!")))
    assert cli.main(["watch", "--json"]) == 1
    assert "watch failed: UNIMPLEMENTED: Method not found!" in capsys.readouterr().err

    call = FakeWatchCall([alert_proto()], KeyboardInterrupt())
    fake_server(monkeypatch, call)
    assert cli.main(["watch", "--json"]) == cli_moderation.INTERRUPTED
    assert len(capsys.readouterr().out.splitlines()) == 1 and call.cancelled.is_set()

    fake_server(monkeypatch, FakeWatchCall([], StopIteration()))  # the server ended the stream
    assert cli.main(["watch", "--count", "1"]) == 1
    assert "ended the watch after 0 alerts" in capsys.readouterr().err


def test_alert_watch_cancel_ends_iteration_quietly() -> None:
    call = FakeWatchCall([alert_proto()])
    watch = AlertWatch(call)
    assert watch.wait_connected(1.0)
    threading.Timer(0.2, watch.cancel).start()
    assert [a.alert_id for a in watch] == ["a1"]  # then cancelled: no error
    failing = AlertWatch(FakeWatchCall([], FakeRpcError(grpc.StatusCode.UNAVAILABLE, "gone")))
    with pytest.raises(VigilError) as caught:
        next(failing)
    assert caught.value.code == grpc.StatusCode.UNAVAILABLE


# -- The CLI against the real server ----------------------------------------------------------------------------


def vigil(
    server: ServerProcess | InProcessServer, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CLI, "--server", server.address, *args], input=stdin, capture_output=True, timeout=300)


def json_lines(done: subprocess.CompletedProcess[bytes]) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr.decode()
    return [json.loads(line) for line in done.stdout.decode().splitlines()]


def cat_photo(path: Path) -> Path:
    from PIL import Image

    from scripts.sample_media import skimage_photo

    Image.fromarray(skimage_photo("chelsea")).save(path, quality=90)
    return path


def test_query_add_list_remove(fast_server: InProcessServer, tmp_path: Path) -> None:
    server = fast_server
    photo = cat_photo(tmp_path / "cat.jpg")
    [query] = json_lines(vigil(server, "query", "add", "lighthouse keeper", "--example", "an orange door",
                               "--example", str(photo), "--negative", "a tour of the lighthouse",
                               "--modality", "speech", "--stream", "cli-q", "--threshold", "4.5",
                               "--label", "keeper", "--json"))  # fmt: skip
    assert query["query_id"] and query["text"] == "lighthouse keeper" and query["label"] == "keeper"
    assert (query["modalities"], query["stream_ids"], query["threshold"]) == (["speech"], ["cli-q"], 4.5)
    assert (query["example_count"], query["negative_count"]) == (2, 1)

    listed = json_lines(vigil(server, "query", "list", "--json"))
    assert query["query_id"] in {q["query_id"] for q in listed}
    human = vigil(server, "query", "list")
    assert query["query_id"].encode() in human.stdout and b"keeper" in human.stdout

    assert vigil(server, "query", "remove", query["query_id"]).returncode == 0
    assert query["query_id"] not in {q["query_id"] for q in json_lines(vigil(server, "query", "list", "--json"))}
    again = vigil(server, "query", "remove", query["query_id"])
    assert again.returncode == 1 and b"NOT_FOUND" in again.stderr

    nothing = vigil(server, "query", "add")
    assert nothing.returncode == 2 and b"--example" in nothing.stderr
    missing = vigil(server, "query", "add", "x", "--example", str(tmp_path / "missing.png"))
    assert missing.returncode == 2 and b"no such file" in missing.stderr


@pytest.mark.slow
def test_standing_query_alerts_on_the_ingest_stream(server: ServerProcess, media: Media) -> None:
    [query] = json_lines(vigil(server, "query", "add", "the lighthouse keeper painted the door",
                               "--modality", "speech", "--stream", "cli-q-ingest", "--json"))  # fmt: skip
    try:
        rows = json_lines(vigil(server, "ingest", str(media.pattern()), "--stream", "cli-q-ingest", "--json"))
        alerts = [row for row in rows if "alert_id" in row]
        assert alerts, rows
        alert = alerts[0]
        assert set(alert) >= ALERT_KEYS
        assert (alert["kind"], alert["match_id"], alert["modality"]) == ("query", query["query_id"], "speech")
        assert "lighthouse" in alert["text"].lower() and abs(alert["start"] - PHRASE_AT) <= 1.0
        assert alert["score"] >= query["threshold"] and alert["hash_distance"] is None
    finally:
        vigil(server, "query", "remove", query["query_id"])


HASHES = [hashlib.sha256(f"vigil-{i}".encode()).hexdigest() for i in range(3)]


def test_bank_import_list_export_remove(fast_server: InProcessServer, tmp_path: Path) -> None:
    server = fast_server
    hash_list = tmp_path / "hashes.txt"
    hash_list.write_text(f"# three test hashes\n{HASHES[0]},first\n\n{HASHES[1]}\tsecond\n{HASHES[2]}\n")
    done = vigil(server, "bank", "import", str(hash_list), "--bank", "cli-hashes", "--label", "unnamed")
    assert done.returncode == 0 and b"imported 3 hashes" in done.stdout, done.stderr

    items = json_lines(vigil(server, "bank", "list", "--bank", "cli-hashes", "--json"))
    assert sorted(item["label"] for item in items) == ["first", "second", "unnamed"]
    assert {item["kind"] for item in items} == {"pdq_hash"} and {item["bank"] for item in items} == {"cli-hashes"}
    assert all(item["pdq_hashes"] == 1 for item in items)

    exported = tmp_path / "export.csv"
    assert vigil(server, "bank", "export", "--bank", "cli-hashes", "-o", str(exported)).returncode == 0
    text = exported.read_text().lower()
    assert all(h in text for h in HASHES)
    to_stdout = vigil(server, "bank", "export", "--bank", "cli-hashes")
    assert to_stdout.returncode == 0 and to_stdout.stdout.decode().lower() == text

    copied = vigil(server, "bank", "import", "-", "--bank", "cli-hashes-copy", stdin=exported.read_bytes())
    assert copied.returncode == 0 and b"imported 3 hashes" in copied.stdout, copied.stderr
    copies = json_lines(vigil(server, "bank", "list", "--bank", "cli-hashes-copy", "--json"))
    assert sorted(item["label"] for item in copies) == ["first", "second", "unnamed"]

    first = next(item for item in items if item["label"] == "first")
    assert vigil(server, "bank", "remove", first["item_id"]).returncode == 0
    left = json_lines(vigil(server, "bank", "list", "--bank", "cli-hashes", "--json"))
    assert sorted(item["label"] for item in left) == ["second", "unnamed"]
    again = vigil(server, "bank", "remove", first["item_id"])
    assert again.returncode == 1 and b"NOT_FOUND" in again.stderr
    for item in left + copies:
        vigil(server, "bank", "remove", item["item_id"])


def start_watcher(server: ServerProcess, *args: str) -> tuple[subprocess.Popen[bytes], queue.Queue[bytes]]:
    """`vigil watch` in the background; returns once it is connected (it says so on stderr) or after 10 s."""
    watcher = subprocess.Popen([*CLI, "--server", server.address, "watch", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    errors: queue.Queue[bytes] = queue.Queue()

    def pump(stream: IO[bytes]) -> None:
        for line in stream:
            errors.put(line)

    assert watcher.stderr is not None
    threading.Thread(target=pump, args=(watcher.stderr,), daemon=True).start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and watcher.poll() is None:
        try:
            if b"watching" in errors.get(timeout=0.25):
                break
        except queue.Empty:
            continue
    return watcher, errors


@pytest.mark.slow
def test_bank_add_photo_then_watch_alert(server: ServerProcess, tmp_path: Path) -> None:
    from scripts.sample_media import photo_video, skimage_photo

    photo = cat_photo(tmp_path / "cat.jpg")
    [added] = json_lines(vigil(server, "bank", "add", str(photo), "--bank", "cli-watch", "--label", "the cat",
                               "--external-id", "case-7", "--archive-window", "-1", "--json"))  # fmt: skip
    assert (added["bank"], added["kind"], added["label"], added["external_id"]) == ("cli-watch", "image", "the cat",
                                                                                    "case-7")  # fmt: skip
    assert added["pdq_hashes"] >= 1 and added["archive_alerts"] == 0
    listed = json_lines(vigil(server, "bank", "list", "--bank", "cli-watch", "--json"))
    assert [item["item_id"] for item in listed] == [added["item_id"]]
    archive_item = ""
    try:
        # Coffee for 2 s, then the cat for 3 s: the alert is about the cat's frames.
        video = photo_video(tmp_path, [(skimage_photo("coffee"), 2.0), (skimage_photo("chelsea"), 3.0)], name="cat")
        thumbs = tmp_path / "thumbs"
        watcher, errors = start_watcher(server, "--json", "--count", "1", "--bank", "cli-watch",
                                        "--stream", "cli-watch-stream", "--thumbnails", str(thumbs))  # fmt: skip
        try:
            rows = json_lines(vigil(server, "ingest", str(video), "--stream", "cli-watch-stream", "--json"))
            watcher.wait(timeout=60)
            out = watcher.stdout.read() if watcher.stdout else b""
        finally:
            watcher.kill()
        assert watcher.returncode == 0, b"".join(errors.queue).decode()
        on_ingest = [row for row in rows if "alert_id" in row]
        assert on_ingest and on_ingest[0]["match_id"] == added["item_id"]

        [alert] = [json.loads(line) for line in out.decode().splitlines()]
        assert set(alert) >= ALERT_KEYS
        assert (alert["kind"], alert["stream_id"], alert["modality"]) == ("reference", "cli-watch-stream", "frame")
        assert (alert["match_id"], alert["label"], alert["bank"], alert["external_id"]) == (
            added["item_id"], "the cat", "cli-watch", "case-7")  # fmt: skip
        assert 1.5 <= alert["start"] < 5.0, alert
        distance = alert["hash_distance"]
        assert (isinstance(distance, int) and distance <= 31) or "embedding" in alert["methods"], alert
        assert alert["from_archive"] is False and alert["thumbnail_bytes"] > 0
        assert (thumbs / f"{alert['alert_id']}.jpg").read_bytes()[:3] == b"\xff\xd8\xff"

        # Now that the stream is in the archive, adding the picture to another bank finds it there.
        [again] = json_lines(vigil(server, "bank", "add", str(photo), "--bank", "cli-watch-archive",
                                   "--archive-window", "3600", "--json"))  # fmt: skip
        archive_item = again["item_id"]
        assert again["archive_alerts"] >= 1
    finally:
        vigil(server, "bank", "remove", added["item_id"])
        if archive_item:
            vigil(server, "bank", "remove", archive_item)
    unknown = vigil(server, "bank", "add", str(tmp_path / "notes.txt"), "--bank", "cli-watch")
    assert unknown.returncode == 2 and b"pass a kind" in unknown.stderr
