"""What a client saw acknowledged survives a restart, even a kill -9; health tracks model loading."""

from __future__ import annotations

import signal
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from tests.conftest import Media
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import VigilClient, read_chunks


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM])
def test_acknowledged_segments_survive_restart(
    tmp_path: Path, model_cache: Path, media: Media, stop_signal: signal.Signals
) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir, model_cache).start()
    # Listening, models not loaded yet: NOT_SERVING, and calls are refused as retriable.
    assert first.health() == health_pb2.HealthCheckResponse.NOT_SERVING
    with grpc.insecure_channel(first.address) as channel, pytest.raises(grpc.RpcError) as caught:
        vigil_pb2_grpc.VigilStub(channel).Search(vigil_pb2.SearchRequest(text="x"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "loading" in (caught.value.details() or "")
    first.wait_serving()
    try:
        with VigilClient(first.address) as client, open(media.pattern(), "rb") as f:
            events = list(client.ingest(read_chunks(f, 16 << 10), "before-restart", "mpegts"))
        acknowledged = {e.segment.segment.segment_id for e in events if e.WhichOneof("event") == "segment"}
        assert len(acknowledged) >= 11  # 10 frames and the phrase
    finally:
        first.stop(stop_signal)

    second = ServerProcess(data_dir, model_cache).start().wait_serving()
    try:
        with VigilClient(second.address) as client:
            found = client.search("test pattern", stream_ids=["before-restart"], top_k=100)
            assert {m.segment.segment_id for m in found} == acknowledged
            top = client.search("lighthouse keeper", stream_ids=["before-restart"], top_k=1)[0].segment
            assert top.modality == "speech"
    finally:
        assert second.stop() == 0, "graceful shutdown exits 0"
