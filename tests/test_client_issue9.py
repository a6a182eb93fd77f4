"""The client and the `vigil` CLI for erasure and the alert store (issue 9) against the in-process server (fake
models; real gRPC, ffmpeg, SQLite and Milvus Lite): delete_stream / delete_segments and `vigil delete`,
list_alerts and `vigil alert list` (every page, in sequence order, with reviews), watch(resume_after=) and
`vigil watch --resume-file` (a restarted watcher prints only what came after its last alert).

Alerts are published straight into the server's alert hub (tests/alert_helpers.py), each with its own
standing-query id, so flood control holds none back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scripts.sample_media import pattern_video
from tests.alert_helpers import make_alert, publish
from tests.inprocess import InProcessServer
from vigil.v1 import vigil_pb2
from vigil_client import AlertInfo, Deleted, VigilClient, cli
from vigil_server.types import Alert


@pytest.fixture(scope="module")
def client(fast_server: InProcessServer) -> Iterator[VigilClient]:
    with VigilClient(fast_server.address, timeout=60) as connected:
        yield connected


def published(server: InProcessServer, stream: str, *matches: str) -> list[Alert]:
    """One query alert per match id on `stream`, stored and delivered now (none held back)."""
    alerts = [make_alert(stream, match, start=float(i)) for i, match in enumerate(matches)]
    assert all(publish(server, *alerts))
    return alerts


def vigil(server: InProcessServer, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process: (exit status, stdout, stderr)."""
    code = cli.main(["--server", server.address, *args])
    out, err = capsys.readouterr()
    return code, out, err


def overlaps(start: float, end: float, lo: float, hi: float) -> bool:
    """Whether a segment [start, end] is in the stretch [lo, hi) as the server erases (a frame has start == end)."""
    return (end > lo or start >= lo) and start < hi


# -- No server ------------------------------------------------------------------------------------------


def test_alert_info_carries_sequence_replay_and_review() -> None:
    review = vigil_pb2.AlertReview(verdict=vigil_pb2.REVIEW_VERDICT_CONFIRMED, reviewer="ana", note="yes",
                                   reviewed_at=1.5e9)  # fmt: skip
    reviewed = AlertInfo.from_proto(vigil_pb2.Alert(alert_id="a", sequence=7, replayed=True, review=review))
    assert (reviewed.sequence, reviewed.replayed) == (7, True)
    assert (reviewed.verdict, reviewed.reviewer, reviewed.note, reviewed.reviewed_at) == ("confirmed", "ana", "yes",
                                                                                          1.5e9)  # fmt: skip
    row = reviewed.as_json()
    assert (row["sequence"], row["replayed"], row["verdict"], row["reviewer"]) == (7, True, "confirmed", "ana")
    plain = AlertInfo.from_proto(vigil_pb2.Alert(alert_id="b", sequence=8)).as_json()
    assert [plain[k] for k in ("verdict", "reviewer", "note", "reviewed_at", "replayed")] == [None] * 4 + [False]
    assert json.loads(json.dumps(plain)) == plain
    gone = Deleted.from_proto(vigil_pb2.DeleteResponse(segments_deleted=3, alerts_deleted=2,
                                                       archive_entries_deleted=1))  # fmt: skip
    assert gone == Deleted(3, 2, 1) and gone.as_json() == {"segments": 3, "alerts": 2, "archive_entries": 1}


def test_new_commands_parse_and_refuse_bad_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    p = cli.parser()
    args = p.parse_args(["delete", "cam-1", "--start", "1.5", "--end", "3", "--json"])
    assert (args.stream_id, args.start, args.end, args.json) == ("cam-1", 1.5, 3.0, True)
    args = p.parse_args(["alert", "list", "--stream", "a", "--stream", "b", "--bank", "x", "--query", "q",
                         "--review-state", "unreviewed", "--after-sequence", "9"])  # fmt: skip
    assert (args.stream, args.bank, args.query, args.review_state, args.after_sequence) == (
        ["a", "b"], ["x"], ["q"], "unreviewed", 9)  # fmt: skip
    args = p.parse_args(["watch", "--resume-after", "0", "--resume-file", "last.txt"])
    assert (args.resume_after, args.resume_file) == (0, "last.txt")
    for bad in (["watch", "--resume-after", "-1"], ["alert", "list", "--review-state", "maybe"],
                ["alert", "list", "--after-sequence", "x"], ["delete"]):  # fmt: skip
        with pytest.raises(SystemExit):
            p.parse_args(bad)
    capsys.readouterr()
    assert cli.main(["delete", "cam-1", "--start", "1"]) == 2
    assert "both --start and --end" in capsys.readouterr().err
    garbage = tmp_path / "last.txt"
    garbage.write_text("not a number\n")
    assert cli.main(["watch", "--resume-file", str(garbage)]) == 2  # before connecting to anything
    assert "holds no alert sequence number" in capsys.readouterr().err


# -- Against the server -----------------------------------------------------------------------------------


def test_delete_segments_then_the_stream(
    fast_server: InProcessServer, client: VigilClient, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stream = "issue9-erase"
    with pattern_video(tmp_path, 4.0, name="erase").open("rb") as video:
        for _ in client.ingest(iter(lambda: video.read(64 << 10), b""), stream, "mpegts", pacing="upload"):
            pass
    before = list(client.iter_segments(stream))
    assert len(before) >= 3, before
    early, late = published(fast_server, stream, "issue9-erase-q0", "issue9-erase-q1")  # at 0-1 s and 1-2 s
    deleted = client.delete_segments(stream, 0.0, 1.0)
    gone = {s.segment_id for s in before if overlaps(s.start, s.end, 0.0, 1.0)}
    assert gone and deleted.segments == len(gone) and deleted.alerts == 1
    left = list(client.iter_segments(stream))
    assert {s.segment_id for s in left} == {s.segment_id for s in before} - gone
    assert [a.alert_id for a in client.list_alerts([stream])] == [late.alert_id] and early.alert_id != late.alert_id

    code, out, err = vigil(fast_server, capsys, "delete", stream, "--json")
    assert code == 0, err
    row = json.loads(out)
    assert set(row) == {"segments", "alerts", "archive_entries"} and (row["segments"], row["alerts"]) == (len(left), 1)
    assert list(client.iter_segments(stream)) == [] and list(client.list_alerts([stream])) == []
    assert client.delete_stream(stream) == Deleted(0, 0, 0)  # nothing left: not an error
    code, out, err = vigil(fast_server, capsys, "delete", stream, "--start", "0", "--end", "5")
    assert code == 0, err
    assert out.strip() == f"deleted 0 segments, 0 alerts and 0 archive entries of {stream} (0-5 s)"
    code, _, err = vigil(fast_server, capsys, "delete", stream, "--start", "5", "--end", "1")
    assert code == 1 and "delete failed: INVALID_ARGUMENT" in err


def test_list_alerts_pages_in_sequence_order_with_reviews(
    fast_server: InProcessServer, client: VigilClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = "issue9-list"
    alerts = published(fast_server, stream, *(f"issue9-lq{i}" for i in range(5)))
    pages: list[str] = []
    list_alerts = client._stub.ListAlerts

    def recorded(request: vigil_pb2.ListAlertsRequest, timeout: float) -> Any:
        pages.append(request.page_token)
        return list_alerts(request, timeout=timeout)

    monkeypatch.setattr(client._stub, "ListAlerts", recorded)
    listed = list(client.list_alerts([stream], page_size=2))
    assert [a.alert_id for a in listed] == [a.alert_id for a in alerts]
    assert len(pages) == 3 and pages[0] == "" and all(pages[1:])  # 2 + 2 + 1
    sequences = [a.sequence for a in listed]
    assert sequences == sorted(sequences) and len(set(sequences)) == 5 and sequences[0] > 0
    assert all(a.verdict is None and not a.replayed for a in listed)

    client.review_alert(alerts[1].alert_id, "confirmed", reviewer="ana", note="right")
    (confirmed,) = client.list_alerts([stream], review_state="confirmed")
    assert (confirmed.alert_id, confirmed.verdict, confirmed.reviewer, confirmed.note) == (
        alerts[1].alert_id, "confirmed", "ana", "right")  # fmt: skip
    assert confirmed.reviewed_at and confirmed.reviewed_at > 0
    unreviewed = [a.alert_id for a in client.list_alerts([stream], review_state="unreviewed")]
    assert unreviewed == [a.alert_id for i, a in enumerate(alerts) if i != 1]
    assert [a.alert_id for a in client.list_alerts([stream], after_sequence=sequences[2])] == [
        a.alert_id for a in alerts[3:]]  # fmt: skip
    assert [a.alert_id for a in client.list_alerts(query_ids=["issue9-lq4"])] == [alerts[4].alert_id]
    with pytest.raises(ValueError, match="review_state"):
        client.list_alerts(review_state="maybe")


def test_watch_resume_after_replays_stored_alerts_then_goes_live(
    fast_server: InProcessServer, client: VigilClient
) -> None:
    stream = "issue9-watch"
    alerts = published(fast_server, stream, *(f"issue9-wq{i}" for i in range(3)))
    first = next(client.list_alerts([stream]))
    with client.watch([stream], resume_after=first.sequence) as watch:
        threading.Timer(60, watch.cancel).start()  # a hang fails the test instead of blocking it
        replayed = [next(watch), next(watch)]
        (live,) = published(fast_server, stream, "issue9-wq-live")
        after = next(watch)
    assert [a.alert_id for a in replayed] == [a.alert_id for a in alerts[1:]] and all(a.replayed for a in replayed)
    assert after.alert_id == live.alert_id and not after.replayed and after.sequence > replayed[-1].sequence


def test_cli_alert_list(fast_server: InProcessServer, client: VigilClient, capsys: pytest.CaptureFixture[str]) -> None:
    stream = "issue9-cli-list"
    alerts = published(fast_server, stream, *(f"issue9-clq{i}" for i in range(3)))
    client.review_alert(alerts[0].alert_id, "confirmed", reviewer="bo")
    code, out, err = vigil(fast_server, capsys, "alert", "list", "--stream", stream, "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["alert_id"] for r in rows] == [a.alert_id for a in alerts]
    assert [r["sequence"] for r in rows] == sorted(r["sequence"] for r in rows)
    assert [r["verdict"] for r in rows] == ["confirmed", None, None] and rows[0]["reviewer"] == "bo"

    code, out, err = vigil(fast_server, capsys, "alert", "list", "--stream", stream, "--review-state", "unreviewed",
                           "--after-sequence", str(rows[1]["sequence"]))  # fmt: skip
    assert code == 0, err
    (line,) = out.splitlines()
    assert line.startswith(f"#{rows[2]['sequence']} {alerts[2].alert_id}  ALERT [frame ] {stream}")
    assert line.endswith("unreviewed")
    code, out, _ = vigil(fast_server, capsys, "alert", "list", "--stream", stream, "--query", "issue9-clq0")
    assert out.rstrip().endswith("confirmed by bo") and len(out.splitlines()) == 1


def test_cli_watch_resume_file_misses_nothing_across_restarts(
    fast_server: InProcessServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stream = "issue9-cli-watch"
    alerts = published(fast_server, stream, *(f"issue9-cwq{i}" for i in range(3)))
    last = tmp_path / "last-alert.txt"
    watch = ["watch", "--stream", stream, "--resume-file", str(last), "--json"]

    code, out, err = vigil(fast_server, capsys, *watch, "--resume-after", "0", "--count", "2")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["alert_id"] for r in rows] == [a.alert_id for a in alerts[:2]] and all(r["replayed"] for r in rows)
    assert last.read_text().strip() == str(rows[-1]["sequence"])

    # Restarted with the same file (its --resume-after no longer matters): the third stored alert, then a live one.
    result: list[int] = []

    def restart() -> None:
        result.append(cli.main(["--server", fast_server.address, *watch, "--resume-after", "0", "--count", "2"]))

    second = threading.Thread(target=restart)
    second.start()
    (live,) = published(fast_server, stream, "issue9-cwq-live")
    second.join(60)
    assert not second.is_alive() and result == [0]
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["alert_id"] for r in rows] == [alerts[2].alert_id, live.alert_id]
    assert last.read_text().strip() == str(rows[-1]["sequence"])
