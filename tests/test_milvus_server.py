"""The --milvus-uri path against a real Milvus standalone server.

PyPI `milvus` ships the Milvus 2.3 standalone binary with an embedded etcd; the fixture runs it
in a temporary directory. It binds all interfaces, so everything here connects over 127.0.0.1.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from milvus import MilvusServer
from pymilvus import MilvusClient

from tests.conftest import PHRASE, PHRASE_AT, Media
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2
from vigil.v1.vigil_pb2_grpc import VigilStub
from vigil_client import VigilClient, read_chunks

STREAM_ID = "milvus-server-pattern"


@pytest.fixture(scope="module")
def milvus_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus standalone server on free ports (about 7 s to start); stopped after the module."""
    base = tmp_path_factory.mktemp("milvus-server")
    server = MilvusServer()
    server.set_base_dir(str(base))
    try:
        server.start()  # returns once its /healthz answers OK; logs go to base/logs
        yield f"http://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()
        for bulky in ("bin", "data"):  # the unpacked binary and etcd/rocksmq files: 0.5 GB
            shutil.rmtree(base / bulky, ignore_errors=True)


@pytest.fixture(scope="module")
def vigil_on_milvus(
    milvus_uri: str, tmp_path_factory: pytest.TempPathFactory, model_cache: Path
) -> Iterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("vigil-on-milvus")
    proc = ServerProcess(data_dir, model_cache, ["--milvus-uri", milvus_uri]).start().wait_serving()
    yield proc
    proc.stop()


@pytest.mark.slow
def test_spoken_phrase_is_found_through_a_milvus_server(
    vigil_on_milvus: ServerProcess, milvus_uri: str, media: Media
) -> None:
    with VigilClient(vigil_on_milvus.address, timeout=300) as client:
        with media.pattern().open("rb") as f:
            events = list(client.ingest(read_chunks(f, 64 << 10), STREAM_ID, "mpegts", pacing="upload"))
        summary = events[-1].summary
        assert events[-1].WhichOneof("event") == "summary"
        assert summary.speech_segments_indexed >= 1
        assert summary.frames_indexed >= 9
        indexed = {e.segment.segment.segment_id for e in events if e.WhichOneof("event") == "segment"}

        # Searched straight after the summary: what was reported indexed must be searchable.
        matches = client.search(PHRASE, top_k=5)
        # Keyword search reads the store back through a query iterator on its first use.
        words = client.search(keywords=["lighthouse", "door"], top_k=5)

    assert words and words[0].segment.segment_id in indexed and words[0].keyword_hits
    assert matches, "the search found nothing"
    best = matches[0].segment
    assert best.modality == "speech"
    assert best.stream_id == STREAM_ID
    assert best.segment_id in indexed
    assert best.start <= PHRASE_AT + 1.0 < best.end
    assert "lighthouse" in best.text.lower() or "door" in best.text.lower()

    # The rows are in the Milvus server, not in a Milvus Lite store inside the data dir.
    assert not (vigil_on_milvus.data_dir / "milvus.db").exists()
    milvus = MilvusClient(uri=milvus_uri, timeout=30)
    try:
        [collection] = [c for c in milvus.list_collections() if c.startswith("vigil_") and "_segments_" in c]
        # Frames' copy descriptors (for reference banks) live beside them in the same server.
        [copies] = [c for c in milvus.list_collections() if c.startswith("vigil_") and "_copies_" in c]
        assert milvus.query(copies, filter=f'stream_id == "{STREAM_ID}"', output_fields=["start"], limit=100)
        # On a server each collection is partitioned by tenant (identity.py: one tenant's calls touch its own).
        for name in (collection, copies):
            [tenant] = [f for f in milvus.describe_collection(name)["fields"] if f["name"] == "tenant"]
            assert tenant.get("is_partition_key"), (name, tenant)
        rows = milvus.query(
            collection,
            filter=f'stream_id == "{STREAM_ID}"',
            output_fields=["count(*)"],
            consistency_level="Strong",
            timeout=30,
        )
    finally:
        milvus.close()
    stored = summary.frames_indexed + summary.speech_segments_indexed + summary.sound_segments_indexed
    assert rows[0]["count(*)"] == stored + summary.on_screen_text_segments_indexed

    # Erasure on a server: the stream's rows leave both collections.
    with grpc.insecure_channel(vigil_on_milvus.address) as channel:
        erased = VigilStub(channel).DeleteStream(vigil_pb2.DeleteStreamRequest(stream_id=STREAM_ID), timeout=300)
    assert erased.segments_deleted == rows[0]["count(*)"]
    milvus = MilvusClient(uri=milvus_uri, timeout=30)
    try:
        for name in (collection, copies):
            left = milvus.query(name, filter=f'stream_id == "{STREAM_ID}"', output_fields=["count(*)"],
                                consistency_level="Strong", timeout=30)  # fmt: skip
            assert left[0]["count(*)"] == 0, name
    finally:
        milvus.close()
