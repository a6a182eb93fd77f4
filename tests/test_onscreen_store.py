"""On-screen text boxes and shot flags in Milvus Lite: stored and read back, and old collections still work."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pymilvus import DataType, MilvusClient

from vigil_server.store import SHOT_FIELDS, SegmentStore, StoreSettings, collection_name, lite_uri
from vigil_server.types import Box, Modality, SearchFilter, Segment

SPACE, DIM = "shots-test", 4


def vector(*values: float) -> list[float]:
    v = np.asarray(values, np.float32)
    return list(v / np.linalg.norm(v))


TEXT = Segment("t1", "cam", Modality.ON_SCREEN_TEXT, 3.0, 4.0, "FREE CRYPTO\nGIVEAWAY",
               text_boxes=(Box(0.1, 0.7, 0.5, 0.08), Box(0.2, 0.8, 0.3, 0.08)))  # fmt: skip
FRAME = Segment("f1", "cam", Modality.FRAME, 3.0, 4.0, shot_start=True, scene_score=0.8125)


def test_boxes_and_shot_flags_round_trip(tmp_path: Path) -> None:
    store = SegmentStore(StoreSettings(lite_uri(tmp_path)), SPACE, DIM)
    try:
        assert set(SHOT_FIELDS) <= set(store.fields)
        store.insert([(TEXT, vector(1, 0, 0, 0)), (FRAME, vector(0, 1, 0, 0))])
        found = store.search(vector(1, 0, 0, 0), SearchFilter(modalities=(Modality.ON_SCREEN_TEXT,)), 5)
        assert [m.segment for m in found] == [TEXT]
        got = store.get("f1", "default")
        assert got is not None and got[0] == FRAME
        listed = store.segments(SearchFilter(stream_ids=("cam",)), (0.0, None), 10)
        assert sorted(listed, key=lambda s: s.segment_id) == [FRAME, TEXT]
    finally:
        store.close()


def test_a_collection_made_before_the_shot_fields_is_still_read_and_written(tmp_path: Path) -> None:
    uri = lite_uri(tmp_path)
    client = MilvusClient(uri=uri)
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("segment_id", DataType.VARCHAR, max_length=64, is_primary=True)
    for name in ("tenant", "stream_id", "modality", "text", "language", "translation"):
        schema.add_field(name, DataType.VARCHAR, max_length=1024)
    for name in ("start", "end"):
        schema.add_field(name, DataType.DOUBLE)
    schema.add_field("created_at", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
    index = client.prepare_index_params()
    index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
    client.create_collection(collection_name(SPACE, DIM), schema=schema, index_params=index)
    client.close()

    store = SegmentStore(StoreSettings(uri), SPACE, DIM)
    try:
        assert not set(SHOT_FIELDS) & set(store.fields)
        store.insert([(TEXT, vector(1, 0, 0, 0)), (FRAME, vector(0, 1, 0, 0))])
        found = store.search(vector(1, 0, 0, 0), SearchFilter(), 2)
        # Text and times are kept; boxes and shot flags read back as their defaults.
        assert [(m.segment.segment_id, m.segment.text, m.segment.text_boxes) for m in found] == [
            ("t1", TEXT.text, ()),
            ("f1", "", ()),
        ]
        assert not found[1].segment.shot_start
    finally:
        store.close()
