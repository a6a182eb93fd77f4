"""Store stage on real Milvus Lite in a temporary directory."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from pymilvus.exceptions import MilvusException

from vigil_server.errors import StoreUnavailable
from vigil_server.store import (
    SegmentStore,
    StoreSettings,
    collection_name,
    filter_expression,
    groups_search_results,
    lite_uri,
)
from vigil_server.types import Match, Modality, SearchFilter, Segment

DIM = 8
SPACE = "test-space"
ODD_STREAM = 'cam "north" \\ gate'  # a double quote and a backslash


def unit(*values: float) -> list[float]:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(values)] = values
    return [float(x) for x in v / np.linalg.norm(v)]


QUERY = unit(1.0)  # every row below points roughly this way, so filters decide what comes back


def seg(segment_id: str, stream: str, modality: Modality, start: float, end: float, tenant: str = "default") -> Segment:
    text = f"said in {segment_id}" if modality is Modality.SPEECH else ""
    return Segment(segment_id, stream, modality, start, end, text=text, language="en" if text else "", tenant=tenant)


ROWS = [
    (seg("a-f0", "alpha", Modality.FRAME, 0.0, 2.0), unit(1.0, 0.1)),
    (seg("a-f1", "alpha", Modality.FRAME, 2.0, 4.0), unit(1.0, 0.2)),
    (seg("a-f2", "alpha", Modality.FRAME, 4.0, 6.0), unit(1.0, 0.3)),
    (seg("a-s0", "alpha", Modality.SPEECH, 1.5, 3.5), unit(1.0, 0.0, 0.1)),
    (seg("b-f0", "beta", Modality.FRAME, 0.0, 2.0), unit(1.0, 0.4)),
    (seg("b-s0", "beta", Modality.SPEECH, 10.0, 12.0), unit(1.0, 0.0, 0.2)),
    (seg("b-snd", "beta", Modality.SOUND, 5.0, 6.0), unit(1.0, 0.0, 0.0, 0.3)),
    (seg("q-f0", ODD_STREAM, Modality.FRAME, 0.0, 1.0), unit(1.0, 0.5)),
    # Another tenant with the same stream id and the best-matching vector of all.
    (seg("x-f0", "alpha", Modality.FRAME, 0.0, 2.0, tenant="other"), unit(1.0)),
    (seg("x-s0", "gamma", Modality.SPEECH, 0.0, 2.0, tenant="other"), unit(1.0)),
]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SegmentStore]:
    s = SegmentStore(StoreSettings(lite_uri(tmp_path_factory.mktemp("milvus"))), SPACE, DIM)
    s.insert(ROWS)
    yield s
    s.close()


def ids(matches: list[Match]) -> set[str]:
    return {m.segment.segment_id for m in matches}


def search(store: SegmentStore, **filters: object) -> set[str]:
    return ids(store.search(QUERY, SearchFilter(**filters), top_k=50))  # type: ignore[arg-type]


def test_rows_come_back_whole_and_ranked(store: SegmentStore) -> None:
    matches = store.search(unit(1.0, 0.0, 0.1), SearchFilter(), top_k=3)
    assert matches[0].segment == ROWS[3][0]  # every field survives the round trip
    assert matches[0].cosine == pytest.approx(1.0, abs=1e-4)
    assert [m.cosine for m in matches] == sorted((m.cosine for m in matches), reverse=True)
    assert len(matches) == 3


def test_default_tenant_sees_only_its_rows(store: SegmentStore) -> None:
    assert search(store) == {"a-f0", "a-f1", "a-f2", "a-s0", "b-f0", "b-s0", "b-snd", "q-f0"}


def test_another_tenant_never_sees_the_default_tenant(store: SegmentStore) -> None:
    assert search(store, tenant="other") == {"x-f0", "x-s0"}
    assert search(store, tenant="other", stream_ids=("alpha",)) == {"x-f0"}
    assert search(store, tenant="nobody") == set()
    # The other tenant's rows match the query best, yet a small top_k still returns only default rows.
    assert {m.segment.tenant for m in store.search(QUERY, SearchFilter(), top_k=2)} == {"default"}


def test_filter_on_modality(store: SegmentStore) -> None:
    assert search(store, modalities=(Modality.SPEECH,)) == {"a-s0", "b-s0"}
    assert search(store, modalities=(Modality.SOUND, Modality.SPEECH)) == {"a-s0", "b-s0", "b-snd"}


def test_filter_on_stream_ids(store: SegmentStore) -> None:
    assert search(store, stream_ids=("beta",)) == {"b-f0", "b-s0", "b-snd"}
    assert search(store, stream_ids=("beta", "alpha"), modalities=(Modality.FRAME,)) == {
        "a-f0",
        "a-f1",
        "a-f2",
        "b-f0",
    }
    assert search(store, stream_ids=("nope",)) == set()


def test_stream_id_with_quote_and_backslash(store: SegmentStore) -> None:
    assert search(store, stream_ids=(ODD_STREAM,)) == {"q-f0"}
    assert store.search(QUERY, SearchFilter(stream_ids=(ODD_STREAM,)), top_k=1)[0].segment.stream_id == ODD_STREAM
    # A stream id that tries to close the string and widen the filter matches nothing.
    assert search(store, stream_ids=('x" or stream_id != "',)) == set()


def test_filter_expression_quotes_strings() -> None:
    expr = filter_expression(SearchFilter(stream_ids=(ODD_STREAM,), modalities=(Modality.FRAME,)))
    assert expr == 'tenant == "default" and modality in ["frame"] and stream_id in ["cam \\"north\\" \\\\ gate"]'


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (2.0, 4.0, {"a-f1", "a-s0"}),  # touching at 2.0 and 4.0 is not overlapping
        (1.9, 2.1, {"a-f0", "a-f1", "a-s0", "b-f0"}),
        (3.6, None, {"a-f1", "a-f2", "b-s0", "b-snd"}),
        (None, 0.5, {"a-f0", "b-f0", "q-f0"}),
        (6.0, 10.0, set()),
    ],
)
def test_time_range_keeps_overlapping_segments(
    store: SegmentStore, start: float | None, end: float | None, expected: set[str]
) -> None:
    assert search(store, start=start, end=end) == expected


def test_data_persists_after_close(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = SegmentStore(StoreSettings(lite_uri(data)), SPACE, DIM)
    first.insert(ROWS[:3])
    first.close()

    # Reopen the same path, and open a copy of the files (proves they are on disk, not in memory).
    shutil.copytree(data, tmp_path / "copy")
    for path in (data, tmp_path / "copy"):
        store = SegmentStore(StoreSettings(lite_uri(path)), SPACE, DIM)
        try:
            assert store.count() == 3
            assert search(store) == {"a-f0", "a-f1", "a-f2"}
        finally:
            store.close()


def test_spaces_and_dims_get_their_own_collections(tmp_path: Path) -> None:
    uri = lite_uri(tmp_path / "data")
    small = SegmentStore(StoreSettings(uri), "space-a", DIM)
    wide = SegmentStore(StoreSettings(uri), "space-b", 2 * DIM)
    same_space_wider = SegmentStore(StoreSettings(uri), "space-a", 2 * DIM)
    try:
        names = {small.collection, wide.collection, same_space_wider.collection}
        assert len(names) == 3
        small.insert(ROWS[:2])
        wide.insert([(seg("w0", "alpha", Modality.FRAME, 0.0, 1.0), [1.0] + [0.0] * (2 * DIM - 1))])
        assert (small.count(), wide.count(), same_space_wider.count()) == (2, 1, 0)
        assert ids(wide.search([1.0] + [0.0] * (2 * DIM - 1), SearchFilter(), top_k=10)) == {"w0"}
    finally:
        for s in (small, wide, same_space_wider):
            s.close()


def test_collection_name_is_safe_and_carries_space_and_dim() -> None:
    assert collection_name("label-minilm-lite0", 384) == "vigil_v2_segments_label_minilm_lite0_384"
    assert collection_name("clip/ViT-B.32", 512) == "vigil_v2_segments_clip_ViT_B_32_512"


def test_an_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable, match="cannot open the Milvus store") as caught:
        SegmentStore(StoreSettings("http://127.0.0.1:9", timeout_s=1.0, retries=0), SPACE, DIM)
    assert caught.value.retriable


class Flaky:
    """A Milvus call that fails with the given errors first, then answers."""

    def __init__(self, *errors: str):
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise MilvusException(message=self.errors.pop(0))
        return "ok"


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr("vigil_server.store.time.sleep", slept.append)
    return slept


def test_retriable_errors_are_retried(store: SegmentStore, no_sleep: list[float]) -> None:
    call = Flaky("server unavailable", "deadline exceeded")
    assert store._call(call) == "ok"
    assert call.calls == 3
    assert no_sleep == [0.2, 0.4]


def test_other_errors_surface_at_once(store: SegmentStore, no_sleep: list[float]) -> None:
    call = Flaky("collection not found")
    with pytest.raises(StoreUnavailable, match="Milvus store failed") as failed:
        store._call(call)
    assert call.calls == 1
    # The client's message never carries Milvus's detail (it may quote a filter with client input); the cause does.
    assert "collection not found" not in str(failed.value) and "collection not found" in str(failed.value.__cause__)


def test_retries_stop_after_the_configured_number(store: SegmentStore, no_sleep: list[float]) -> None:
    call = Flaky(*["connection refused"] * 10)
    with pytest.raises(StoreUnavailable, match="Milvus store failed") as failed:
        store._call(call)
    assert "connection refused" in str(failed.value.__cause__)
    assert call.calls == store.settings.retries + 1


@pytest.mark.parametrize("top_k", [1, 2, 5])
def test_one_grouped_search_gives_each_modalitys_top_k(store: SegmentStore, top_k: int) -> None:
    assert store._grouping  # Milvus Lite groups; the real Milvus 2.3 test server takes the other path
    grouped = store.search_per_modality(QUERY, SearchFilter(), top_k)
    one_by_one = [m for mod in Modality for m in store.search(QUERY, SearchFilter(modalities=(mod,)), top_k)]
    assert sorted((m.segment.segment_id, round(m.cosine, 5)) for m in grouped) == sorted(
        (m.segment.segment_id, round(m.cosine, 5)) for m in one_by_one
    )
    frames = [m for m in grouped if m.segment.modality is Modality.FRAME]
    assert len(frames) == min(top_k, 5)  # five default-tenant frames
    speech_only = store.search_per_modality(QUERY, SearchFilter(modalities=(Modality.SPEECH,)), top_k)
    assert {m.segment.modality for m in speech_only} == {Modality.SPEECH}


@pytest.mark.parametrize(
    ("version", "groups"),
    [("milvus_lite-3.2.2", True), ("v2.3.5-lite", False), ("v2.4.1", True), ("2.5.0", True), ("unknown", False)],
)
def test_which_milvus_versions_group_search_results(version: str, groups: bool) -> None:
    assert groups_search_results(version) is groups
