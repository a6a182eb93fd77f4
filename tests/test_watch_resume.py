"""Watch with resume_after through the in-process server: a watcher that reconnects with the last
sequence it saw gets exactly the alerts it missed (replayed), then live ones, with no gap and no
repeat, also across a server restart; flood-control holds survive a restart."""

from __future__ import annotations

import time
from pathlib import Path

import grpc

from tests.alert_helpers import make_alert, publish
from tests.inprocess import InProcessServer
from tests.moderation_media import Watcher
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc


def watch(stub: vigil_pb2_grpc.VigilStub, stream: str, resume_after: int | None = None) -> Watcher:
    request = pb.WatchRequest(stream_ids=[stream])
    if resume_after is not None:
        request.resume_after = resume_after
    return Watcher(stub, request)


def seen(watcher: Watcher, count: int) -> list[tuple[str, bool]]:
    alerts = watcher.wait_for(count, timeout=60)
    assert watcher.error is None, watcher.error
    return [(a.alert_id, a.replayed) for a in alerts]


def test_a_reconnecting_watcher_gets_what_it_missed_then_live_alerts(tmp_path: Path) -> None:
    server = InProcessServer(tmp_path / "data", ["--alert-window", "0"]).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = vigil_pb2_grpc.VigilStub(channel)
            first = watch(stub, "w1")
            before = [make_alert("w1", f"q{i}") for i in range(2)]
            publish(server, *before)
            assert seen(first, 2) == [(a.alert_id, False) for a in before]
            last = first.alerts[-1].sequence
            first.close()
            missed = [make_alert("w1", f"q{i}") for i in range(3)]
            publish(server, *missed, make_alert("elsewhere", "q0"))
            again = watch(stub, "w1", resume_after=last)
            assert seen(again, 3) == [(a.alert_id, True) for a in missed]
            live = [make_alert("w1", f"q{i}") for i in range(2)]
            publish(server, *live)
            got = seen(again, 5)
            assert got == [*((a.alert_id, True) for a in missed), *((a.alert_id, False) for a in live)]
            time.sleep(0.5)
            assert len(again.alerts) == 5  # nothing twice
            sequences = [a.sequence for a in again.alerts]
            assert sequences == sorted(sequences) and sequences[0] > last
            # resume_after=0 replays everything stored for the filter; unset replays nothing.
            everything = watch(stub, "w1", resume_after=0)
            assert [i for i, _ in seen(everything, 7)] == [a.alert_id for a in (*before, *missed, *live)]
            plain = watch(stub, "w1")
            time.sleep(0.5)
            assert plain.alerts == []
            for w in (again, everything, plain):
                w.close()
    finally:
        server.stop()


def test_a_watcher_misses_nothing_across_a_server_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = InProcessServer(data, ["--alert-window", "0"]).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            watcher = watch(vigil_pb2_grpc.VigilStub(channel), "r1")
            seen_first = make_alert("r1", "q1")
            publish(server, seen_first)
            assert seen(watcher, 1) == [(seen_first.alert_id, False)]
            last = watcher.alerts[0].sequence
            watcher.close()
        missed = [make_alert("r1", f"q{i}") for i in range(3)]
        publish(server, *missed)
    finally:
        server.stop()
    server = InProcessServer(data, ["--alert-window", "0"]).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            watcher = watch(vigil_pb2_grpc.VigilStub(channel), "r1", resume_after=last)
            assert seen(watcher, 3) == [(a.alert_id, True) for a in missed]
            after = make_alert("r1", "q9")
            publish(server, after)
            assert seen(watcher, 4)[-1] == (after.alert_id, False)
            assert watcher.alerts[-1].sequence > watcher.alerts[-2].sequence  # never reused after a restart
            restored = watcher.alerts[0]
            assert restored.thumbnail_jpeg == missed[0].thumbnail_jpeg and restored.evidence[0].signal == "pdq"
            watcher.close()
    finally:
        server.stop()


def test_held_alerts_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    window = 2.0
    server = InProcessServer(data, ["--alert-window", str(window)]).start()
    try:
        sent, *held = [make_alert("h1", "q1", start=float(i)) for i in range(3)]
        assert publish(server, sent, *held) == [True, False, False]
        assert server.service is not None
        assert server.service.alerts.held == 2
        last = server.service.moderation.alert_log.last_sequence()
    finally:
        server.stop()  # the window has not ended: the hold is only in the store now
    time.sleep(window + 0.5)
    server = InProcessServer(data, ["--alert-window", str(window)]).start()
    try:
        # On start the hold whose window ended was stored and sent: the latest held alert, counting the other.
        with grpc.insecure_channel(server.address) as channel:
            watcher = watch(vigil_pb2_grpc.VigilStub(channel), "h1", resume_after=last)
            (released,) = watcher.wait_for(1, timeout=60)
            assert released.alert_id == held[-1].alert_id and released.suppressed == 1 and released.replayed
            assert released.start == 2.0
            watcher.close()
    finally:
        server.stop()
    # Released once: a later start finds no hold left.
    server = InProcessServer(data, ["--alert-window", str(window)]).start()
    try:
        assert server.service is not None
        assert server.service.moderation.alert_log.holds() == []
        assert server.service.alerts.delivered == 0
    finally:
        server.stop()


def test_a_hold_whose_window_is_still_open_is_sent_when_it_ends(tmp_path: Path) -> None:
    data = tmp_path / "data"
    window = 20.0
    server = InProcessServer(data, ["--alert-window", str(window)]).start()
    try:
        sent, held = make_alert("o1", "q1"), make_alert("o1", "q1", start=3.0)
        assert publish(server, sent, held) == [True, False]
    finally:
        server.stop()
    server = InProcessServer(data, ["--alert-window", str(window)]).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            watcher = watch(vigil_pb2_grpc.VigilStub(channel), "o1")
            (live,) = watcher.wait_for(1, timeout=90)
            assert live.alert_id == held.alert_id and not live.replayed and live.suppressed == 0
            watcher.close()
    finally:
        server.stop()
