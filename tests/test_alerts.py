"""Units of the moderation stage that need no models: flood control and fan-out, watch filters,
in-memory matching, and the SQLite persistence."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vigil_models.hashing import AudioFingerprint, PdqHash
from vigil_server.alerts import AlertHub
from vigil_server.calibrate import Calibrator
from vigil_server.types import (
    Alert,
    AlertKind,
    BankItem,
    MatchMethod,
    Modality,
    ReferenceKind,
    Segment,
    StandingQuery,
    WatchFilter,
)
from vigil_server.watchlist import Thresholds, Watchlist
from vigil_server.watchlist_db import ArchivedAudio, ArchivedFrame, StoredItem, StoredQuery, WatchlistDb

DIM = 4


def alert(stream: str = "s", match: str = "q1", kind: AlertKind = AlertKind.QUERY, bank: str = "") -> Alert:
    return Alert("a", kind, stream, 0.0, 1.0, Modality.FRAME, "seg", match, "label", bank=bank)


def test_flood_control_sends_one_alert_per_window_and_counts_the_rest() -> None:
    async def run() -> list[Alert]:
        hub = AlertHub(window_s=0.3)
        received: list[Alert] = []
        hub.subscribe(WatchFilter(), received.append)
        sent = [hub.publish(replace(alert(), alert_id=str(i), start=float(i))) for i in range(5)]
        assert sent == [True, False, False, False, False]
        assert hub.publish(alert(stream="other"))  # another pair is not held back
        assert hub.publish(alert(match="q2"))
        await asyncio.sleep(0.5)  # the window ends: the latest held-back match is sent with the count
        hub.close()
        return received

    received = asyncio.run(run())
    assert [(a.stream_id, a.match_id, a.alert_id, a.suppressed) for a in received] == [
        ("s", "q1", "0", 0),
        ("other", "q1", "a", 0),
        ("s", "q2", "a", 0),
        ("s", "q1", "4", 3),  # alert 4 stands in for itself; 1, 2 and 3 were held back
    ]


def test_flood_control_window_zero_sends_everything() -> None:
    async def run() -> int:
        hub = AlertHub(window_s=0.0)
        received: list[Alert] = []
        hub.subscribe(WatchFilter(), received.append)
        for _ in range(3):
            hub.publish(alert())
        return len(received)

    assert asyncio.run(run()) == 3


def test_watch_filters() -> None:
    query, reference = alert(match="q1"), alert(match="i1", kind=AlertKind.REFERENCE, bank="b1")
    assert WatchFilter().passes(query) and WatchFilter().passes(reference)
    assert not WatchFilter(stream_ids=("x",)).passes(query)
    assert WatchFilter(banks=("b1",)).passes(reference) and not WatchFilter(banks=("b1",)).passes(query)
    assert WatchFilter(query_ids=("q1",)).passes(query) and not WatchFilter(query_ids=("q1",)).passes(reference)
    assert WatchFilter(banks=("b1",), query_ids=("q1",)).passes(query)
    assert not WatchFilter(tenant="other").passes(query)


def test_unsubscribed_and_failing_subscribers_do_not_stop_delivery() -> None:
    async def run() -> list[Alert]:
        hub = AlertHub(window_s=0.0)
        received: list[Alert] = []

        def broken(_: Alert) -> None:
            raise RuntimeError("gone")

        hub.subscribe(WatchFilter(), broken)
        unsubscribe = hub.subscribe(WatchFilter(), received.append)
        hub.publish(alert())
        unsubscribe()
        hub.publish(alert())
        return received

    assert len(asyncio.run(run())) == 1


def unit(*values: float) -> np.ndarray:
    v = np.asarray(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def standing(query_id: str, vector: np.ndarray, negatives: list[np.ndarray] | None = None, **kw: object) -> StoredQuery:
    fields: dict[str, object] = {
        "query_id": query_id, "text": query_id, "label": query_id, "modalities": (), "stream_ids": (),
        "threshold": 3.0, "example_count": 0, "negative_count": len(negatives or []), "created_at": 0.0,
    }  # fmt: skip
    fields.update(kw)
    matrix = np.stack(negatives) if negatives else np.zeros((0, DIM), np.float32)
    return StoredQuery(StandingQuery(**fields), vector, matrix)  # type: ignore[arg-type]


def segment(modality: Modality = Modality.SPEECH, stream: str = "s") -> Segment:
    return Segment("seg", stream, modality, 1.0, 2.0, text="words")


def test_queries_fire_on_calibrated_score_modality_stream_and_negatives() -> None:
    watchlist = Watchlist(Calibrator(np.eye(DIM, dtype=np.float32), None), DIM, DIM)  # prior: score = cosine / 0.25
    near = unit(1, 0.1, 0, 0)
    watchlist.load(
        [
            standing("hit", unit(1, 0, 0, 0)),
            standing("frames-only", unit(1, 0, 0, 0), modalities=(Modality.FRAME,)),
            standing("other-stream", unit(1, 0, 0, 0), stream_ids=("t",)),
            standing("too-strict", unit(1, 0, 0, 0), threshold=4.5),
            standing("negated", unit(1, 0, 0, 0), negatives=[unit(1, 0.1, 0, 0)]),
            standing("far", unit(0, 0, 1, 0)),
        ],
        [],
    )
    fired = watchlist.match_queries(segment(), near)
    assert [a.match_id for a in fired] == ["hit"]
    assert fired[0].score == pytest.approx(float(near[0]) / 0.25, rel=1e-5) and fired[0].text == "words"
    watchlist.remove_query("hit")
    assert watchlist.match_queries(segment(), near) == []


def picture_item(item_id: str, vector: np.ndarray, hashes: tuple[PdqHash, ...] = ()) -> StoredItem:
    item = BankItem(item_id, "bank", ReferenceKind.IMAGE, item_id, "ext-" + item_id, len(hashes), 0.0, 0.0)
    return StoredItem(item, vector[None], hashes, None)


def test_frames_match_items_by_embedding_or_hash() -> None:
    watchlist = Watchlist(Calibrator(np.eye(DIM, dtype=np.float32), None), DIM, DIM, Thresholds(bank_cosine=0.95))
    value = PdqHash(bytes(range(32)), 100)
    near_value = PdqHash(bytes([0xFF] * 2) + bytes(range(2, 32)), 100)  # 16 bits away (0/1 -> ff)
    watchlist.add_items(
        [picture_item("by-vector", unit(1, 0, 0, 0)), picture_item("by-hash", unit(0, 1, 0, 0), (value,))]
    )
    frame = segment(Modality.FRAME)
    alerts = {a.match_id: a for a in watchlist.match_frame(frame, unit(1, 0.05, 0, 0), near_value)}
    assert set(alerts) == {"by-vector", "by-hash"}
    assert alerts["by-vector"].methods == (MatchMethod.EMBEDDING,) and alerts["by-vector"].hash_distance is None
    assert alerts["by-hash"].methods == (MatchMethod.PDQ,) and 0 < (alerts["by-hash"].hash_distance or 0) <= 31
    assert alerts["by-vector"].external_id == "ext-by-vector"
    # A flat frame (low PDQ quality) is not hash-matched.
    flat = PdqHash(near_value.bits, 10)
    assert [a.match_id for a in watchlist.match_frame(frame, unit(0, 0, 1, 0), flat)] == []
    watchlist.remove_item("by-hash")
    assert [a.match_id for a in watchlist.match_frame(frame, unit(0, 0, 1, 0), near_value)] == []


def test_database_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite3"
    db = WatchlistDb(path, DIM, DIM)
    db.add_query(standing("q", unit(1, 2, 3, 4), [unit(4, 3, 2, 1)], modalities=(Modality.SOUND,)))
    fingerprint = AudioFingerprint(np.arange(40, dtype=np.uint32), 5.0)
    audio = BankItem("a", "bank", ReferenceKind.AUDIO, "song", "", 0, 5.0, 1.0)
    picture = picture_item("p", unit(1, 0, 0, 0), (PdqHash(bytes(32), 90),))
    db.add_items([picture, StoredItem(audio, np.zeros((0, DIM), np.float32), (), fingerprint)])
    db.archive_frame(ArchivedFrame("seg", "default", "s", 0.0, 1.0, PdqHash(bytes(32))))
    db.archive_audio(ArchivedAudio("default", "s", 0.0, 20.0, fingerprint))
    db.close()

    db = WatchlistDb(path, DIM, DIM)
    (query,) = db.queries()
    assert query.query.modalities == (Modality.SOUND,) and np.allclose(query.vector, unit(1, 2, 3, 4))
    assert np.allclose(query.negatives, [unit(4, 3, 2, 1)])
    items = {s.item.item_id: s for s in db.items()}
    assert items["p"].hashes == (PdqHash(bytes(32), 90),) and items["p"].item.pdq_hashes == 1
    assert items["a"].fingerprint is not None and np.array_equal(items["a"].fingerprint.items, fingerprint.items)
    assert [f.segment_id for f in db.archived_frames("default", 0.0)] == ["seg"]
    assert len(db.archived_audio("default", 0.0)) == 1 and db.archived_audio("other", 0.0) == []
    assert db.remove_item("p", "default") and not db.remove_item("p", "default")
    assert db.remove_query("q", "default") and db.queries() == []
    assert db.prune_archive(before=1e12) == 2


@pytest.mark.parametrize("window", [0.0, 3600.0])
def test_the_archive_is_kept_only_with_a_window(tmp_path: Path, window: float) -> None:
    from typing import cast

    from vigil_server.moderation import Moderation, ModerationSettings
    from vigil_server.pipeline import Pipeline

    db = WatchlistDb(tmp_path / "w.sqlite3", DIM, DIM)
    watchlist = Watchlist(Calibrator(np.eye(DIM, dtype=np.float32), None), DIM, DIM)
    # The pipeline is only used to embed and decode new items; archiving needs none of it.
    moderation = Moderation(cast(Pipeline, None), db, watchlist, ModerationSettings(archive_window_s=window))
    moderation.archive(ArchivedFrame("seg", "default", "s", 0.0, 1.0, PdqHash(bytes(32))))
    moderation.archive(ArchivedAudio("default", "s", 0.0, 20.0, AudioFingerprint(np.arange(8, dtype=np.uint32), 1.0)))
    kept = len(db.archived_frames("default", 0.0)) + len(db.archived_audio("default", 0.0))
    assert kept == (2 if window else 0)
    moderation.close()
