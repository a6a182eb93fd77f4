"""The alert store through the in-process server (fake models, real gRPC, SQLite and ffmpeg): every
alert is stored, whole, before it is delivered, with a sequence that only grows; ListAlerts filters
and pages it, by review state too, within the caller's tenant; bad requests are INVALID_ARGUMENT."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from scripts.sample_media import skimage_photo
from tests.alert_helpers import make_alert, on_loop, publish
from tests.inprocess import InProcessServer
from tests.moderation_media import add_item, alerts_of, full_frame, ingest, jpeg, slideshow
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_client import error_details
from vigil_server.types import Alert, AlertFilter, AlertKind, WatchFilter


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    running = InProcessServer(tmp_path_factory.mktemp("alert-store-data"), ["--alert-window", "0"]).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stub(server: InProcessServer) -> Iterator[vigil_pb2_grpc.VigilStub]:
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


def list_all(stub: vigil_pb2_grpc.VigilStub, request: pb.ListAlertsRequest) -> list[pb.Alert]:
    """Every page of a listing."""
    alerts: list[pb.Alert] = []
    while True:
        response = stub.ListAlerts(request, timeout=60)
        alerts += response.alerts
        if not response.next_page_token:
            return alerts
        request.page_token = response.next_page_token  # the same filters, the next page


def pages(stub: vigil_pb2_grpc.VigilStub, request: pb.ListAlertsRequest) -> list[list[str]]:
    """The alert ids of each page of a listing."""
    result = []
    while True:
        response = stub.ListAlerts(request, timeout=60)
        result.append([a.alert_id for a in response.alerts])
        if not response.next_page_token:
            return result
        request.page_token = response.next_page_token


def test_real_alerts_are_stored_whole_before_they_are_delivered(
    server: InProcessServer, stub: vigil_pb2_grpc.VigilStub, tmp_path: Path
) -> None:
    assert server.service is not None
    log = server.service.moderation.alert_log
    seen_in_store: list[tuple[str, int, bool]] = []

    def check(alert: Alert) -> None:  # a subscriber: runs as the alert is delivered
        stored = log.page(AlertFilter(WatchFilter(tenant=alert.tenant), after_sequence=alert.sequence - 1), 1)
        seen_in_store.append((alert.alert_id, alert.sequence, bool(stored) and stored[0].alert_id == alert.alert_id))

    unsubscribe = on_loop(server, lambda: server.service.alerts.subscribe(WatchFilter(stream_ids=("rockets",)), check))  # type: ignore[union-attr]
    try:
        rocket = skimage_photo("rocket")
        item = add_item(stub, jpeg(rocket), "store-photos", "flagged rocket", archive_window=-1).item
        video = slideshow(tmp_path, "s", [full_frame(skimage_photo("coffee")), full_frame(rocket)])
        delivered = [a for a in alerts_of(ingest(stub, video, "rockets")) if a.match_id == item.item_id]
    finally:
        on_loop(server, unsubscribe)
    assert len(delivered) >= 2, delivered  # window 0: every matching frame alerts
    assert seen_in_store and all(found for _, _, found in seen_in_store), seen_in_store
    sequences = [a.sequence for a in delivered]
    assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences) and sequences[0] > 0
    listed = {a.alert_id: a for a in list_all(stub, pb.ListAlertsRequest(stream_ids=["rockets"]))}
    for alert in delivered:
        stored = listed[alert.alert_id]
        assert not alert.replayed and not stored.replayed
        assert stored.thumbnail_jpeg == alert.thumbnail_jpeg and alert.thumbnail_jpeg.startswith(b"\xff\xd8")
        assert list(stored.evidence) == list(alert.evidence) and list(stored.methods) == list(alert.methods)
        assert pb.MATCH_METHOD_PDQ in stored.methods
        assert (stored.sequence, stored.hash_distance, stored.label, stored.start) == (
            alert.sequence, alert.hash_distance, alert.label, alert.start)  # fmt: skip


def test_list_alerts_filters_and_pages(server: InProcessServer, stub: vigil_pb2_grpc.VigilStub) -> None:
    query_alerts = [make_alert("f-a", "fq1", raised_at=100.0 + i) for i in range(5)]
    bank_alerts = [make_alert("f-b", "fi1", AlertKind.REFERENCE, bank="fbank", raised_at=200.0 + i) for i in range(4)]
    other = make_alert("f-c", "fq2", raised_at=300.0)
    assert all(publish(server, *query_alerts, *bank_alerts, other))  # window 0: none held
    mine = ["f-a", "f-b", "f-c"]
    everything = list_all(stub, pb.ListAlertsRequest(stream_ids=mine))
    assert [a.alert_id for a in everything] == [a.alert_id for a in (*query_alerts, *bank_alerts, other)]
    assert [a.sequence for a in everything] == sorted(a.sequence for a in everything)
    # Pages of 3: 10 alerts in 4 pages, in order, each once.
    paged = pages(stub, pb.ListAlertsRequest(stream_ids=mine, page_size=3))
    assert [len(p) for p in paged] == [3, 3, 3, 1] and [i for p in paged for i in p] == [a.alert_id for a in everything]

    def ids(**filters: object) -> list[str]:
        request = pb.ListAlertsRequest(**{"stream_ids": mine, **filters})  # type: ignore[arg-type]
        return [a.alert_id for a in list_all(stub, request)]

    assert ids(stream_ids=["f-b"]) == [a.alert_id for a in bank_alerts]
    assert ids(banks=["fbank"]) == [a.alert_id for a in bank_alerts]
    assert ids(query_ids=["fq2"]) == [other.alert_id]
    assert ids(banks=["fbank"], query_ids=["fq2"]) == [*(a.alert_id for a in bank_alerts), other.alert_id]
    assert ids(raised_after=101.0, raised_before=103.0) == [a.alert_id for a in query_alerts[1:3]]
    assert ids(raised_after=250.0) == [other.alert_id]
    assert ids(after_sequence=everything[7].sequence) == [a.alert_id for a in everything[8:]]
    # A page token is bound to its filters.
    first = stub.ListAlerts(pb.ListAlertsRequest(stream_ids=mine, page_size=2))
    with pytest.raises(grpc.RpcError) as info:
        stub.ListAlerts(pb.ListAlertsRequest(stream_ids=["f-a"], page_size=2, page_token=first.next_page_token))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in (info.value.details() or "")


def test_list_alerts_by_review_state(server: InProcessServer, stub: vigil_pb2_grpc.VigilStub) -> None:
    confirmed, dismissed, untouched = (make_alert("r-s", f"rq{i}") for i in range(3))
    publish(server, confirmed, dismissed, untouched)
    stub.ReviewAlert(pb.ReviewAlertRequest(alert_id=confirmed.alert_id, verdict=pb.REVIEW_VERDICT_CONFIRMED,
                                           reviewer="ana", note="right"))  # fmt: skip
    stub.ReviewAlert(pb.ReviewAlertRequest(alert_id=dismissed.alert_id, verdict=pb.REVIEW_VERDICT_DISMISSED,
                                           reviewer="bo"))  # fmt: skip

    def listed(state: int) -> list[pb.Alert]:
        return list_all(stub, pb.ListAlertsRequest(stream_ids=["r-s"], review_state=state))  # type: ignore[arg-type]

    assert [a.alert_id for a in listed(pb.REVIEW_STATE_CONFIRMED)] == [confirmed.alert_id]
    assert [a.alert_id for a in listed(pb.REVIEW_STATE_DISMISSED)] == [dismissed.alert_id]
    assert [a.alert_id for a in listed(pb.REVIEW_STATE_UNREVIEWED)] == [untouched.alert_id]
    every = listed(pb.REVIEW_STATE_UNSPECIFIED)
    assert len(every) == 3
    review = next(a for a in every if a.alert_id == confirmed.alert_id).review
    assert review.verdict == pb.REVIEW_VERDICT_CONFIRMED and review.reviewer == "ana" and review.note == "right"
    assert not next(a for a in every if a.alert_id == untouched.alert_id).HasField("review")


def test_alerts_are_listed_within_their_tenant_only(server: InProcessServer, stub: vigil_pb2_grpc.VigilStub) -> None:
    theirs = make_alert("t-shared", "tq", tenant="tenant-b")
    ours = make_alert("t-shared", "tq")
    publish(server, theirs, ours)
    assert [a.alert_id for a in list_all(stub, pb.ListAlertsRequest(stream_ids=["t-shared"]))] == [ours.alert_id]
    assert theirs.alert_id not in {a.alert_id for a in list_all(stub, pb.ListAlertsRequest())}
    assert server.service is not None
    log = server.service.moderation.alert_log
    stored = log.page(AlertFilter(WatchFilter(tenant="tenant-b")), 10)
    assert [a.alert_id for a in stored] == [theirs.alert_id]
    # Erasing one tenant's stream leaves the other's alone.
    assert log.erase("tenant-b", "t-shared") == 1
    assert log.page(AlertFilter(WatchFilter(tenant="tenant-b")), 10) == []
    assert [a.alert_id for a in list_all(stub, pb.ListAlertsRequest(stream_ids=["t-shared"]))] == [ours.alert_id]


def test_sequences_are_never_given_again_after_erasure(server: InProcessServer) -> None:
    assert server.service is not None
    log = server.service.moderation.alert_log
    first = make_alert("e-s", "eq", start=5.0)
    publish(server, first)
    (stored,) = log.page(AlertFilter(WatchFilter(stream_ids=("e-s",))), 10)
    assert log.erase("default", "e-s", 0.0, 4.0) == 0  # [0, 4) does not reach [5, 6)
    assert log.erase("default", "e-s", 5.5, None) == 1
    second = make_alert("e-s", "eq")
    publish(server, second)
    (again,) = log.page(AlertFilter(WatchFilter(stream_ids=("e-s",))), 10)
    assert again.alert_id == second.alert_id and again.sequence > stored.sequence
    assert log.last_sequence() >= again.sequence


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"page_size": 1001}, "page_size"),
        ({"stream_ids": [f"s{i}" for i in range(101)]}, "stream_ids"),
        ({"stream_ids": ["bad id!"]}, "stream_ids"),
        ({"banks": ["bad bank!"]}, "banks"),
        ({"banks": [f"b{i}" for i in range(101)]}, "banks"),
        ({"query_ids": ["x" * 65]}, "query_ids"),
        ({"query_ids": [f"q{i}" for i in range(101)]}, "query_ids"),
        ({"raised_after": math.nan}, "raised_after"),
        ({"raised_before": math.inf}, "raised_before"),
        ({"raised_after": -1.0}, "raised_after"),
        ({"raised_after": 10.0, "raised_before": 5.0}, "raised_before"),
        ({"review_state": 99}, "review_state"),
        ({"page_token": "not-a-token"}, "page_token"),
        ({"page_token": "x" * 100_000}, "page_token"),
    ],
)
def test_bad_list_requests_are_invalid_argument_naming_the_field(
    stub: vigil_pb2_grpc.VigilStub, request_fields: dict[str, object], field: str
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.ListAlerts(pb.ListAlertsRequest(**request_fields), timeout=60)  # type: ignore[arg-type]
    error = info.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert [f for f, _ in error_details(error).field_violations] == [field]
    assert len(error.details() or "") < 400  # client input is not echoed whole


def test_bad_watch_requests_are_invalid_argument(stub: vigil_pb2_grpc.VigilStub) -> None:
    for request, field in [
        (pb.WatchRequest(query_ids=["q"] * 101), "query_ids"),
        (pb.WatchRequest(banks=["b"] * 101), "banks"),
        (pb.WatchRequest(query_ids=["bad\nid"]), "query_ids"),
    ]:
        with pytest.raises(grpc.RpcError) as info:
            next(iter(stub.Watch(request, timeout=60)))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in error_details(info.value).field_violations] == [field]
