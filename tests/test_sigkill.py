"""SIGKILL mid-ingest, restart, repeated: nothing a client was told is stored is lost.

The server runs in a subprocess (fake models, tests/fakes.py; real gRPC, ffmpeg, Milvus Lite and
SQLite) so that it can be killed for real. Each cycle ingests one stream to the end and kills the
server while another stream is half sent; after each restart every segment acknowledged by a
SegmentIndexed event, the standing query, the bank item and every alert delivered to a client is
still there, and the calibration file accounts for every stored segment (app.top_up_calibration).
"""

from __future__ import annotations

import io
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from PIL import Image

from scripts.sample_media import tone_video
from tests.fakes import TONE_WORDS
from tests.server_process import DIE_WITH_PARENT, ServerProcess
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
CYCLES = 3
CHUNK = 16 << 10
TIMEOUT = 120  # per call: the machine is shared and loaded
WORD_FREQ = {word: hz for hz, word in TONE_WORDS.items()}
RED, GREEN = (220, 20, 20), (20, 200, 20)


def serve(data_dir: str) -> None:
    """The subprocess: the in-process server (fake models) on a free port, until killed."""
    from tests.inprocess import InProcessServer

    server = InProcessServer(Path(data_dir)).start(timeout=300)
    print(f"vigil-server listening on {server.address}", flush=True)
    threading.Event().wait()


class FakeServerProcess(ServerProcess):
    """`vigil-server` as a subprocess, with the fake models (serve() above) in place of the real ones."""

    def __init__(self, data_dir: Path):
        super().__init__(data_dir, data_dir)

    def command(self) -> list[str]:
        code = (
            DIE_WITH_PARENT + f"import sys; sys.path.insert(0, {str(ROOT)!r}); import tests.test_sigkill as t; "
            "t.serve(sys.argv[1])"
        )
        return [sys.executable, "-c", code, str(self.data_dir)]

    def start(self, timeout: float = 300.0) -> FakeServerProcess:
        super().start(timeout)
        return self

    def kill(self) -> None:
        self.stop(signal.SIGKILL, timeout=60)


def png(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (96, 96), color).save(out, format="PNG")
    return out.getvalue()


def requests_of(data: bytes, stream_id: str, pause_s: float = 0.0) -> Iterator[pb.IngestRequest]:
    yield pb.IngestRequest(config=pb.StreamConfig(stream_id=stream_id, format="mpegts", pacing=pb.PACING_UPLOAD))
    for n, i in enumerate(range(0, len(data), CHUNK)):
        yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + CHUNK]))
        time.sleep(pause_s)


class Acknowledged:
    """What the server told this client it stored."""

    def __init__(self) -> None:
        self.segments: dict[str, set[str]] = {}  # stream id -> segment ids (SegmentIndexed)
        self.alerts: set[str] = set()

    def record(self, stream_id: str, event: pb.IngestEvent) -> None:
        kind = event.WhichOneof("event")
        if kind == "segment":
            self.segments.setdefault(stream_id, set()).add(event.segment.segment.segment_id)
        elif kind == "alert":
            self.alerts.add(event.alert.alert_id)


def listed_segments(stub: vigil_pb2_grpc.VigilStub, stream_id: str) -> set[str]:
    ids: set[str] = set()
    token = ""
    while True:
        page = stub.ListSegments(pb.ListSegmentsRequest(stream_id=stream_id, page_token=token), timeout=TIMEOUT)
        ids |= {s.segment_id for s in page.segments}
        token = page.next_page_token
        if not token:
            return ids


def listed_alerts(stub: vigil_pb2_grpc.VigilStub) -> set[str]:
    ids: set[str] = set()
    token = ""
    while True:
        page = stub.ListAlerts(pb.ListAlertsRequest(page_token=token), timeout=TIMEOUT)
        ids |= {a.alert_id for a in page.alerts}
        token = page.next_page_token
        if not token:
            return ids


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(a short stream that raises an alert, a long one to be killed in the middle of)."""
    out = tmp_path_factory.mktemp("sigkill-media")
    short = tone_video(out, [(RED, 2.0), (GREEN, 2.0)], [(WORD_FREQ["alpha"], 0.5, 1.0)], name="short")
    tones = [(WORD_FREQ["bravo"], 1.0 + 3.0 * n, 1.0) for n in range(10)]
    long = tone_video(out, [(RED, 10.0), (GREEN, 10.0), (RED, 10.0)], tones, name="long")
    return short.read_bytes(), long.read_bytes()


def test_sigkill_mid_ingest_loses_nothing_acknowledged(tmp_path: Path, media: tuple[bytes, bytes]) -> None:
    short, long = media
    acknowledged = Acknowledged()
    query_id = item_id = ""
    for cycle in range(CYCLES):
        server = FakeServerProcess(tmp_path).start()
        try:
            with grpc.insecure_channel(server.address) as channel:
                stub = vigil_pb2_grpc.VigilStub(channel)
                grpc.channel_ready_future(channel).result(timeout=TIMEOUT)
                if cycle == 0:
                    query_id = stub.AddStandingQuery(pb.AddStandingQueryRequest(
                        keywords=["alpha"], keyword_rule=pb.KEYWORD_RULE_ONLY, label="alpha said"),
                        timeout=TIMEOUT).query_id  # fmt: skip
                    header = pb.BankItemHeader(bank="kept", kind=pb.REFERENCE_KIND_IMAGE, label="red square",
                                               archive_window=-1)  # fmt: skip
                    item_id = stub.AddBankItem(iter([pb.AddBankItemRequest(header=header), pb.AddBankItemRequest(
                        chunk=pb.MediaChunk(sequence=0, data=png(RED)))]), timeout=TIMEOUT).item.item_id  # fmt: skip
                check_everything(stub, acknowledged, query_id, item_id, tmp_path)
                done = f"done-{cycle}"
                for event in stub.Ingest(requests_of(short, done), timeout=TIMEOUT):
                    acknowledged.record(done, event)
                assert acknowledged.alerts, "the alpha query raised no alert"
                kill_mid_ingest(stub, server, long, f"killed-{cycle}", acknowledged)
        finally:
            server.kill()
    server = FakeServerProcess(tmp_path).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            check_everything(vigil_pb2_grpc.VigilStub(channel), acknowledged, query_id, item_id, tmp_path)
    finally:
        server.kill()
    killed = sum(len(acknowledged.segments.get(f"killed-{c}", ())) for c in range(CYCLES))
    print(f"\n{CYCLES} SIGKILLs: {sum(map(len, acknowledged.segments.values()))} acknowledged segments "
          f"({killed} of streams killed mid-ingest) and {len(acknowledged.alerts)} alerts all kept")  # fmt: skip


def kill_mid_ingest(
    stub: vigil_pb2_grpc.VigilStub, server: FakeServerProcess, data: bytes, stream_id: str, acknowledged: Acknowledged
) -> None:
    """Send `data` slowly; SIGKILL the server once a few of its segments are acknowledged."""
    seen = threading.Event()

    def read() -> None:
        try:
            for event in stub.Ingest(requests_of(data, stream_id, pause_s=0.05), timeout=TIMEOUT):
                acknowledged.record(stream_id, event)
                if len(acknowledged.segments.get(stream_id, ())) >= 3:
                    seen.set()
        except grpc.RpcError:
            pass  # the server was killed
        seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert seen.wait(TIMEOUT), "no segment was acknowledged"
    server.kill()
    reader.join(TIMEOUT)
    assert acknowledged.segments.get(stream_id), "the stream was killed before any segment was acknowledged"


def check_everything(
    stub: vigil_pb2_grpc.VigilStub, acknowledged: Acknowledged, query_id: str, item_id: str, data_dir: Path
) -> None:
    stored = 0
    for stream_id, segment_ids in acknowledged.segments.items():
        listed = listed_segments(stub, stream_id)
        missing = segment_ids - listed
        assert not missing, f"{len(missing)} acknowledged segments of {stream_id} lost"
        stored += len(listed)
    queries = stub.ListStandingQueries(pb.ListStandingQueriesRequest(), timeout=TIMEOUT).queries
    assert query_id in {q.query_id for q in queries}
    items = stub.ListBankItems(pb.ListBankItemsRequest(bank="kept"), timeout=TIMEOUT).items
    assert [i.item_id for i in items] == [item_id]
    missing_alerts = acknowledged.alerts - listed_alerts(stub)
    assert not missing_alerts, f"{len(missing_alerts)} delivered alerts lost"
    if stored:
        # The calibration file accounts for every stored segment, those stored after its last save included.
        [path] = data_dir.glob("calibration-*.json")
        saved = json.loads(path.read_text())
        assert sum(m["segments"] for m in saved["modalities"].values()) == stored
