"""Tenant isolation and per-tenant limits on the in-process server (fake models; real gRPC, ffmpeg,
Milvus Lite, PDQ hashes), with API keys for two tenants.

The matrix: tenant beta stores a stream, a standing query, bank items, imported hashes, alerts and
bank settings; tenant alpha's admin (the strongest role, so any refusal comes from tenant scoping,
not from the role) then tries every RPC against them. Each cell holds what beta (the owner) sees,
which shows the data is there, and what alpha gets: refused or empty, and beta's data unchanged
afterwards. The test writes the matrix as a Markdown table to $VIGIL_MATRIX_OUT when set.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from scripts.sample_media import skimage_photo, tone_video
from tests.api_keys import NOT_IMPLEMENTED, KeySpec, write_key_file
from tests.inprocess import InProcessServer
from tests.moderation_media import CHUNK, add_item, full_frame, jpeg
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_client.connection import Connection, open_channel
from vigil_models.hashing import pdq_hash
from vigil_server.identity import Role

Stub = vigil_pb2_grpc.VigilStub
PHOTOS = ("coffee", "rocket")
TONES = [(440.0, 0.5, 1.0), (550.0, 3.5, 1.0)]  # the fake transcriber hears "alpha", then "bravo"
WORD = "bravo"
POLICIES = {
    "gamma": {"max_streams": 1},
    "delta": {"max_ingest_bytes_per_s": 1000},
    "epsilon": {"max_ingest_bytes_per_s": 200_000},
    "zeta": {"max_stored_segments": 3},
}
KEYS = [KeySpec(f"{t}-{r.value}", t, r) for t in ("alpha", "beta") for r in Role] + [
    KeySpec(f"{t}-admin", t, Role.ADMIN) for t in POLICIES
]


@dataclass
class Tenants:
    server: InProcessServer
    stubs: dict[str, Stub]  # key name -> a stub that sends that key
    video: Path


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    root = tmp_path_factory.mktemp("tenants")
    slides = [(full_frame(skimage_photo(name)), 3.0) for name in PHOTOS]
    video = tone_video(root, slides, TONES, size="640x360", name="photos")
    tokens = write_key_file(root / "keys.json", KEYS, POLICIES)
    args = ["--api-keys", str(root / "keys.json"), "--alert-window", "600", "--bank-min-cosine", "1.0"]
    server = InProcessServer(root / "data", args).start()
    channels = {name: open_channel(server.address, Connection(token=token)) for name, token in tokens.items()}
    yield Tenants(server, {name: Stub(ch) for name, ch in channels.items()}, video)
    for ch in channels.values():
        ch.close()
    server.stop()


def ingest(stub: Stub, video: Path, stream_id: str, chunk: int = CHUNK) -> list[pb.IngestEvent]:
    data = video.read_bytes()

    def requests() -> Iterator[pb.IngestRequest]:
        yield pb.IngestRequest(config=pb.StreamConfig(stream_id=stream_id, format="mpegts", pacing=pb.PACING_UPLOAD))
        for n, i in enumerate(range(0, len(data), chunk)):
            yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + chunk]))

    return list(stub.Ingest(requests(), timeout=300))


def code_of(call: object, *args: object, **kwargs: object) -> grpc.StatusCode:
    try:
        call(*args, timeout=60, **kwargs)  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def hashes_in(hash_list: str) -> list[str]:
    """The hashes of an exported list (its first line is the CSV header)."""
    return [line for line in hash_list.splitlines()[1:] if line.strip()]


def segments(stub: Stub, stream_id: str) -> list[pb.Segment]:
    return list(stub.ListSegments(pb.ListSegmentsRequest(stream_id=stream_id, page_size=1000), timeout=60).segments)


class Collector:
    """A server stream read on a thread until cancelled (Watch, WatchCaptions)."""

    def __init__(self, call: grpc.Future):
        self.call = call
        self.items: list[object] = []
        self.code: grpc.StatusCode | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.call:  # type: ignore[attr-defined]
                self.items.append(item)
        except grpc.RpcError as exc:
            self.code = exc.code()

    def connected(self) -> bool:
        self.call.initial_metadata()  # type: ignore[attr-defined]
        return not self.call.done()

    def stop(self) -> list[object]:
        self.call.cancel()
        self.thread.join(30)
        return self.items


@dataclass(frozen=True)
class Cell:
    rpc: str
    attempt: str
    owner_sees: str  # what beta gets: the data is there
    other_gets: str  # what alpha gets
    isolated: bool


def test_tenant_isolation_matrix(tenants: Tenants) -> None:
    beta, alpha, beta_reader = tenants.stubs["beta-admin"], tenants.stubs["alpha-admin"], tenants.stubs["beta-reader"]
    coffee = full_frame(skimage_photo("coffee"))
    cells: list[Cell] = []

    def cell(rpc: str, attempt: str, owner: str, other: str, isolated: bool) -> None:
        cells.append(Cell(rpc, attempt, owner, other, isolated))

    # -- beta's data: a bank item (PDQ of the coffee photo), imported hashes, a standing query, bank settings
    item = add_item(beta, jpeg(coffee), "beta-bank", "beta's coffee").item
    imported = pb.ImportHashesRequest(
        bank="beta-hashes", hash_list=pdq_hash(skimage_photo("rocket")).to_hex(), archive_window=-1, label="beta rocket"
    )
    assert beta.ImportHashes(imported, timeout=60).imported == 1
    query = beta.AddStandingQuery(pb.AddStandingQueryRequest(keywords=[WORD], label="beta word"), timeout=60)
    beta.SetBankSettings(pb.SetBankSettingsRequest(bank="beta-bank", allow_list=False, enabled=True), timeout=60)
    # alpha's own standing query on beta's word and bank item on beta's photo: they must never fire on beta's stream
    alpha_query = alpha.AddStandingQuery(pb.AddStandingQueryRequest(keywords=[WORD], label="alpha word"), timeout=60)
    # alpha watches everything it may see, and beta's stream's captions, while beta ingests
    alpha_watch = Collector(alpha.Watch(pb.WatchRequest()))
    alpha_captions = Collector(alpha.WatchCaptions(pb.WatchCaptionsRequest(stream_id="beta-cam")))
    beta_watch = Collector(beta.Watch(pb.WatchRequest()))
    assert alpha_watch.connected() and beta_watch.connected()
    alpha_captions.connected()
    events = ingest(tenants.stubs["beta-producer"], tenants.video, "beta-cam")
    beta_stream_alerts = [e.alert for e in events if e.WhichOneof("event") == "alert"]
    time.sleep(1.0)  # alerts and captions fan out after the store; give them a moment to reach any watcher
    alpha_alerts, alpha_caption_events, beta_alerts = alpha_watch.stop(), alpha_captions.stop(), beta_watch.stop()

    beta_segments = segments(beta_reader, "beta-cam")
    assert beta_segments, "beta's stream stored nothing: the matrix would prove nothing"
    assert {a.match_id for a in beta_stream_alerts} >= {item.item_id, query.query_id}
    assert all(a.match_id != alpha_query.query_id for a in beta_stream_alerts)
    cell(
        "Ingest",
        "alpha's standing query (beta's word) on beta's stream",
        f"{len(beta_stream_alerts)} alerts",
        "no alert from alpha's query",
        all(a.match_id != alpha_query.query_id for a in beta_stream_alerts),
    )
    cell(
        "Watch",
        "alpha watches every alert while beta's stream alerts",
        f"{len(beta_alerts)} alerts",
        f"{len(alpha_alerts)} alerts",
        bool(beta_alerts) and not alpha_alerts,
    )
    cell(
        "WatchCaptions",
        "alpha watches beta's stream id while it is captioned",
        "captions (beta's own watch: n/a)",
        f"{len(alpha_caption_events)} events",
        not any(isinstance(e, pb.CaptionEvent) and e.WhichOneof("event") == "caption" for e in alpha_caption_events),
    )
    replay = Collector(alpha.Watch(pb.WatchRequest(resume_after=0)))
    replay.connected()
    time.sleep(1.0)
    replayed = replay.stop()
    cell(
        "Watch",
        "alpha resumes after alert 0 (replay of everything stored)",
        f"{len(beta_alerts)} stored",
        f"{len(replayed)} replayed",
        not replayed,
    )

    # -- reads, searches and lookups
    def search(stub: Stub, **fields: object) -> list[str]:
        request = pb.SearchRequest(top_k=50, **fields)  # type: ignore[arg-type]
        return [m.segment.stream_id for m in stub.Search(request, timeout=60).matches]

    owner, other = (
        search(beta, keywords=[WORD], keyword_mode=pb.KEYWORD_MODE_ONLY),
        search(alpha, keywords=[WORD], keyword_mode=pb.KEYWORD_MODE_ONLY),
    )
    cell(
        "Search",
        "keyword search for beta's word",
        f"{len(owner)} matches",
        f"{len(other)} matches",
        bool(owner) and not other,
    )
    owner, other = search(beta, text="coffee"), search(alpha, text="coffee", stream_ids=["beta-cam"])
    cell(
        "Search",
        "text search, filtered to beta's stream id",
        f"{len(owner)} matches",
        f"{len(other)} matches",
        bool(owner) and not other,
    )
    owner, other = search(beta, image=jpeg(coffee)), search(alpha, image=jpeg(coffee))
    cell(
        "Search",
        "search by beta's picture",
        f"{len(owner)} matches",
        f"{len(other)} matches",
        bool(owner) and not other,
    )
    segment_id = beta_segments[0].segment_id
    code = code_of(alpha.Search, pb.SearchRequest(segment_id=segment_id, top_k=5))
    cell(
        "Search",
        "search by one of beta's segment ids",
        f"{len(search(beta, segment_id=segment_id))} matches",
        code.name,
        code == grpc.StatusCode.NOT_FOUND,
    )
    other_segments = segments(alpha, "beta-cam")
    cell(
        "ListSegments",
        "list beta's stream",
        f"{len(beta_segments)} segments",
        f"{len(other_segments)} segments",
        not other_segments,
    )
    beta_queries = [q.query_id for q in beta.ListStandingQueries(pb.ListStandingQueriesRequest(), timeout=60).queries]
    alpha_queries = [q.query_id for q in alpha.ListStandingQueries(pb.ListStandingQueriesRequest(), timeout=60).queries]
    cell(
        "ListStandingQueries",
        "list standing queries",
        f"{len(beta_queries)} (its own)",
        f"{len(alpha_queries)} (its own)",
        query.query_id in beta_queries and query.query_id not in alpha_queries,
    )
    beta_items = beta.ListBankItems(pb.ListBankItemsRequest(bank="beta-bank"), timeout=60).items
    alpha_items = alpha.ListBankItems(pb.ListBankItemsRequest(bank="beta-bank"), timeout=60).items
    every_alpha_item = alpha.ListBankItems(pb.ListBankItemsRequest(), timeout=60).items
    cell(
        "ListBankItems",
        "list beta's bank, and every bank",
        f"{len(beta_items)} items",
        f"{len(alpha_items)} / {len(every_alpha_item)} items",
        bool(beta_items) and not alpha_items and not every_alpha_item,
    )
    owner_list = beta.ExportHashes(pb.ExportHashesRequest(bank="beta-hashes"), timeout=60).hash_list
    other_list = alpha.ExportHashes(pb.ExportHashesRequest(bank="beta-hashes"), timeout=60).hash_list
    cell(
        "ExportHashes",
        "export beta's hash list",
        f"{len(hashes_in(owner_list))} hashes",
        f"{len(hashes_in(other_list))} hashes",
        bool(hashes_in(owner_list)) and not hashes_in(other_list),
    )
    vpdq = pb.ExportHashesRequest(format=pb.HASH_LIST_FORMAT_VPDQ, item_id=item.item_id)
    code = code_of(alpha.ExportHashes, vpdq)
    cell(
        "ExportHashes",
        "export beta's item by id (vPDQ form)",
        "its own item",
        code.name,
        code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT),
    )
    banks_of = {s: {b.bank for b in s.ListBanks(pb.ListBanksRequest(), timeout=60).banks} for s in (alpha, beta)}
    cell(
        "ListBanks",
        "list banks",
        ", ".join(sorted(banks_of[beta])),
        ", ".join(sorted(banks_of[alpha])) or "none",
        "beta-bank" in banks_of[beta] and not banks_of[alpha] & {"beta-bank", "beta-hashes"},
    )

    def match_file(stub: Stub) -> list[pb.LookupMatch]:
        data = jpeg(coffee)

        def requests() -> Iterator[pb.MatchFileRequest]:
            yield pb.MatchFileRequest(header=pb.MatchFileHeader(kind=pb.REFERENCE_KIND_IMAGE))
            yield pb.MatchFileRequest(chunk=pb.MediaChunk(sequence=0, data=data))

        return list(stub.MatchFile(requests(), timeout=120).matches)

    owner_m, other_m = match_file(beta), match_file(alpha)
    cell(
        "MatchFile",
        "match beta's picture",
        f"{len(owner_m)} matches",
        f"{len(other_m)} matches",
        bool(owner_m) and not other_m,
    )
    hashes = pb.MatchHashesRequest(hashes=[pb.HashQuery(signal_type="pdq", value=imported.hash_list)])
    owner_h, other_h = beta.MatchHashes(hashes, timeout=60).matches, alpha.MatchHashes(hashes, timeout=60).matches
    cell(
        "MatchHashes",
        "match beta's imported hash",
        f"{len(owner_h)} matches",
        f"{len(other_h)} matches",
        bool(owner_h) and not other_h,
    )
    if "ListAlerts" not in NOT_IMPLEMENTED:
        every = pb.ListAlertsRequest(page_size=1000)
        owner_a, other_a = beta.ListAlerts(every, timeout=60).alerts, alpha.ListAlerts(every, timeout=60).alerts
        by_stream = alpha.ListAlerts(pb.ListAlertsRequest(stream_ids=["beta-cam"], page_size=1000), timeout=60).alerts
        cell(
            "ListAlerts",
            "list every alert, and beta's stream's",
            f"{len(owner_a)} alerts",
            f"{len(other_a)} / {len(by_stream)} alerts",
            bool(owner_a) and not other_a and not by_stream,
        )

    # -- changes: each must leave beta's data as it was
    alert_id = beta_stream_alerts[0].alert_id
    code = code_of(alpha.ReviewAlert, pb.ReviewAlertRequest(alert_id=alert_id, verdict=pb.REVIEW_VERDICT_DISMISSED))
    cell("ReviewAlert", "dismiss one of beta's alerts", "its alert", code.name, code == grpc.StatusCode.NOT_FOUND)
    code = code_of(alpha.RemoveStandingQuery, pb.RemoveStandingQueryRequest(query_id=query.query_id))
    still = query.query_id in [q.query_id for q in beta.ListStandingQueries(pb.ListStandingQueriesRequest()).queries]
    cell(
        "RemoveStandingQuery",
        "remove beta's standing query",
        "still there" if still else "GONE",
        code.name,
        code == grpc.StatusCode.NOT_FOUND and still,
    )
    code = code_of(alpha.RemoveBankItem, pb.RemoveBankItemRequest(item_id=item.item_id))
    still = item.item_id in [i.item_id for i in beta.ListBankItems(pb.ListBankItemsRequest(bank="beta-bank")).items]
    cell(
        "RemoveBankItem",
        "remove beta's bank item",
        "still there" if still else "GONE",
        code.name,
        code == grpc.StatusCode.NOT_FOUND and still,
    )
    alpha.SetBankSettings(pb.SetBankSettingsRequest(bank="beta-bank", enabled=False, allow_list=True), timeout=60)
    beta_bank = next(b for b in beta.ListBanks(pb.ListBanksRequest(), timeout=60).banks if b.bank == "beta-bank")
    cell(
        "SetBankSettings",
        "disable beta's bank (by its name)",
        f"enabled={beta_bank.enabled}",
        "changed alpha's own bank of that name",
        beta_bank.enabled and not beta_bank.allow_list,
    )
    alpha.ImportHashes(
        pb.ImportHashesRequest(bank="beta-hashes", hash_list=pdq_hash(coffee).to_hex(), archive_window=-1), timeout=60
    )
    after = beta.ExportHashes(pb.ExportHashesRequest(bank="beta-hashes"), timeout=60).hash_list
    cell(
        "ImportHashes",
        "import into beta's hash list (by its name)",
        f"{len(hashes_in(after))} hashes (unchanged)",
        "went to alpha's own list",
        after == owner_list,
    )
    added = add_item(alpha, jpeg(coffee), "beta-bank", "alpha's coffee", archive_window=86400.0)
    cell(
        "AddBankItem",
        "add beta's picture, searching the archive",
        f"{len(beta_stream_alerts)} alerts on its stream",
        f"{added.archive_alerts} archive alerts",
        added.archive_alerts == 0,
    )
    standing = alpha.AddStandingQuery(pb.AddStandingQueryRequest(text="coffee", stream_ids=["beta-cam"]), timeout=60)
    cell(
        "AddStandingQuery",
        "a query on beta's stream id",
        "its stream",
        "accepted; scoped to alpha's streams",
        bool(standing.query_id),
    )
    if "DeleteStream" not in NOT_IMPLEMENTED:
        response = alpha.DeleteStream(pb.DeleteStreamRequest(stream_id="beta-cam"), timeout=120)
        left = len(segments(beta_reader, "beta-cam"))
        cell(
            "DeleteStream",
            "delete beta's stream",
            f"{left} segments left",
            f"{response.segments_deleted} deleted",
            response.segments_deleted == 0 and left == len(beta_segments),
        )
    if "DeleteSegments" not in NOT_IMPLEMENTED:
        request = pb.DeleteSegmentsRequest(stream_id="beta-cam", time_range=pb.TimeRange(start=0.0, end=3600.0))
        response = alpha.DeleteSegments(request, timeout=120)
        left = len(segments(beta_reader, "beta-cam"))
        cell(
            "DeleteSegments",
            "delete beta's stream's first hour",
            f"{left} segments left",
            f"{response.segments_deleted} deleted",
            response.segments_deleted == 0 and left == len(beta_segments),
        )
    # alpha ingests a stream of the same id: its own namespace; beta's stream is untouched
    ingest(tenants.stubs["alpha-producer"], tenants.video, "beta-cam")
    alpha_own, beta_own = segments(alpha, "beta-cam"), segments(beta_reader, "beta-cam")
    cell(
        "Ingest",
        "ingest a stream with beta's stream id",
        f"{len(beta_own)} segments (unchanged)",
        f"{len(alpha_own)} segments of its own",
        len(beta_own) == len(beta_segments)
        and {s.segment_id for s in alpha_own}.isdisjoint(s.segment_id for s in beta_own),
    )
    after_alerts = beta.ListAlerts(pb.ListAlertsRequest(page_size=1000), timeout=60).alerts
    cell(
        "ReviewAlert",
        "(beta's alert after alpha's attempts)",
        "review state unchanged",
        "-",
        all(a.review.verdict != pb.REVIEW_VERDICT_DISMISSED for a in after_alerts),
    )

    table = render(cells)
    out = os.environ.get("VIGIL_MATRIX_OUT")
    if out:
        Path(out).write_text(table)
    print("\n" + table)
    failing = [c for c in cells if not c.isolated]
    assert not failing, "cross-tenant leaks:\n" + render(failing)
    covered = {c.rpc for c in cells}
    expected = {m.name for m in pb.DESCRIPTOR.services_by_name["Vigil"].methods} - set(NOT_IMPLEMENTED)
    assert covered == expected, f"RPCs without a cell: {sorted(expected - covered)}"


def render(cells: list[Cell]) -> str:
    rows = [
        "| RPC | alpha (admin) tries, on beta's data | beta, the owner, sees | alpha gets | isolated |",
        "|---|---|---|---|---|",
    ]
    rows += [
        f"| {c.rpc} | {c.attempt} | {c.owner_sees} | {c.other_gets} | {'yes' if c.isolated else 'NO'} |" for c in cells
    ]
    return "\n".join(rows) + "\n"


# -- per-tenant limits ----------------------------------------------------------------------------------------


def test_max_streams_per_tenant(tenants: Tenants) -> None:
    gamma = tenants.stubs["gamma-admin"]
    release = threading.Event()
    first_ack = threading.Event()
    data = tenants.video.read_bytes()

    def held() -> Iterator[pb.IngestRequest]:
        yield pb.IngestRequest(config=pb.StreamConfig(stream_id="g1", format="mpegts"))
        yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=0, data=data[:CHUNK]))
        release.wait(120)

    call = gamma.Ingest(held(), timeout=300)

    def read() -> None:
        with contextlib.suppress(grpc.RpcError):  # CANCELLED, when the test lets go of the stream
            for _ in call:
                first_ack.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert first_ack.wait(60), "the first stream was not acknowledged"
        with pytest.raises(grpc.RpcError) as refused:
            ingest(gamma, tenants.video, "g2")
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_streams" in (refused.value.details() or "")
        assert ingest(tenants.stubs["alpha-producer"], tenants.video, "alpha-while-gamma-is-full")  # others go on
    finally:
        release.set()
        call.cancel()
        reader.join(30)
    deadline = time.monotonic() + 60
    while True:  # the slot frees once the server has seen the cancel
        try:
            assert ingest(gamma, tenants.video, "g3")
            break
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_ingest_bytes_per_second_refuses_what_it_cannot_pace(tenants: Tenants) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        ingest(tenants.stubs["delta-admin"], tenants.video, "d1")  # 64 KiB chunks at 1000 bytes/s
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_ingest_bytes_per_s" in (refused.value.details() or "")


def test_ingest_bytes_per_second_slows_the_producer_down(tenants: Tenants) -> None:
    size = tenants.video.stat().st_size
    rate = POLICIES["epsilon"]["max_ingest_bytes_per_s"]
    began = time.monotonic()
    events = ingest(tenants.stubs["epsilon-admin"], tenants.video, "e1", chunk=16 << 10)
    took = time.monotonic() - began
    assert events[-1].WhichOneof("event") == "summary"
    # The bucket starts with one second of bytes; the rest cannot come faster than the rate (a lower bound only).
    assert took >= (size - rate) / rate * 0.9, f"{size} bytes in {took:.1f} s at {rate} bytes/s"


def test_max_stored_segments_per_tenant(tenants: Tenants) -> None:
    zeta = tenants.stubs["zeta-admin"]
    with pytest.raises(grpc.RpcError) as ended:
        ingest(zeta, tenants.video, "z1")
    assert ended.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_stored_segments" in (ended.value.details() or "")
    stored = len(segments(zeta, "z1"))
    assert stored >= 3
    with pytest.raises(grpc.RpcError) as refused:  # at the limit: refused at the start
        ingest(zeta, tenants.video, "z2")
    assert "max_stored_segments" in (refused.value.details() or "")
    assert segments(zeta, "z2") == []
    if "DeleteStream" not in NOT_IMPLEMENTED:  # erasing makes room again
        zeta.DeleteStream(pb.DeleteStreamRequest(stream_id="z1"), timeout=120)
        with pytest.raises(grpc.RpcError) as again:
            ingest(zeta, tenants.video, "z3")  # admitted, and ends at the limit again
        assert "max_stored_segments" in (again.value.details() or "")
        assert len(segments(zeta, "z3")) >= 3
