"""Units of the moderation stage that need no models: flood control and fan-out, watch filters,
in-memory matching, and the SQLite persistence."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import skimage_photo
from vigil_models.hashing import AudioFingerprint, PdqHash
from vigil_server.alerts import AlertHub
from vigil_server.calibrate import Calibrator
from vigil_server.clips import squash
from vigil_server.clock import AudioWindow
from vigil_server.decode import DecodeSettings
from vigil_server.moderation import ItemMediaLoader, ItemRecord, Moderation, Rules, RulesDb, StoredItem, StoredQuery
from vigil_server.moderation.rules import reference_alert
from vigil_server.moderation.signals import ChromaprintSignal, CopyDescriptorSignal, PdqSignal
from vigil_server.settings import ModerationSettings
from vigil_server.types import (
    Alert,
    AlertKind,
    BankItem,
    MatchMethod,
    Modality,
    QueryItem,
    ReferenceKind,
    Segment,
    SignalAmount,
    StandingQuery,
    WatchFilter,
)

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


def rules_with(*signals: object) -> Rules:
    return Rules(Calibrator(np.eye(DIM, dtype=np.float32), None).calibration, signals, DIM)  # type: ignore[arg-type]


async def no_descriptors(frames: list[np.ndarray]) -> np.ndarray:
    raise AssertionError("not used")


def signals(min_cosine: float = 0.75) -> tuple[PdqSignal, CopyDescriptorSignal, ChromaprintSignal]:
    copies = CopyDescriptorSignal(no_descriptors, lambda *_: [], DIM, min_cosine)
    return PdqSignal(31, 50), copies, ChromaprintSignal(0.5)


def test_queries_fire_on_calibrated_score_modality_stream_and_negatives() -> None:
    watchlist = rules_with()  # prior: score = cosine / 0.25
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
    amounts = (SignalAmount("pdq", MatchMethod.PDQ, len(hashes)),) if hashes else ()
    item = BankItem(item_id, "bank", ReferenceKind.IMAGE, item_id, "ext-" + item_id, amounts, 0.0)
    return StoredItem(item, {"copy_descriptor": vector[None], **({"pdq": hashes} if hashes else {})})


class FrameRules:
    """Rules over the frame signals, matched as moderation matches a stored frame."""

    def __init__(self, min_cosine: float):
        pdq, copies, _ = signals(min_cosine)
        self.rules = rules_with(pdq, copies)

    def add_items(self, items: list[StoredItem]) -> None:
        self.rules.add_items(items)

    def remove_item(self, item_id: str) -> None:
        self.rules.remove_item(item_id)

    def match_frame(self, frame: Segment, descriptor: np.ndarray, pdq: PdqHash) -> list[Alert]:
        live = {"copy_descriptor": descriptor, "pdq": pdq}
        return [reference_alert(s.item, frame, c) for s, c in self.rules.match_items(live, frame)]


def test_frames_match_items_by_embedding_or_hash() -> None:
    watchlist = FrameRules(min_cosine=0.95)
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
    pdq, copies, chromaprint = signals()
    path = tmp_path / "w.sqlite3"
    db = RulesDb(path, DIM)
    db.add_query(standing("q", unit(1, 2, 3, 4), [unit(4, 3, 2, 1)], modalities=(Modality.SOUND,)))
    fingerprint = AudioFingerprint(np.arange(40, dtype=np.uint32), 5.0)
    audio = BankItem("a", "bank", ReferenceKind.AUDIO, "song", "", (), 1.0)
    picture = BankItem("p", "bank", ReferenceKind.IMAGE, "p", "", (), 0.0)
    hashes = (PdqHash(bytes(32), 90),)
    db.add_items([
        ItemRecord(picture, {"copy_descriptor": (copies.encode(unit(1, 0, 0, 0)[None]), 1.0),
                             "pdq": (pdq.encode(hashes), 1.0)}),
        ItemRecord(audio, {"chromaprint": (chromaprint.encode(fingerprint), 5.0)}),
    ])  # fmt: skip
    frame = Segment("seg", "s", Modality.FRAME, 0.0, 1.0)
    db.keep("pdq", frame, pdq.encode_live(PdqHash(bytes(32))))
    db.keep("chromaprint", Segment("", "s", Modality.SOUND, 0.0, 20.0), chromaprint.encode_live(fingerprint))
    db.close()

    db = RulesDb(path, DIM)
    (query,) = db.queries()
    assert query.query.modalities == (Modality.SOUND,) and np.allclose(query.vector, unit(1, 2, 3, 4))
    assert np.allclose(query.negatives, [unit(4, 3, 2, 1)])
    items = {r.item.item_id: r for r in db.items()}
    assert pdq.decode(items["p"].values["pdq"][0]) == (PdqHash(bytes(32), 90),) and items["p"].values["pdq"][1] == 1
    restored = chromaprint.decode(items["a"].values["chromaprint"][0])
    assert np.array_equal(restored.items, fingerprint.items) and restored.duration == 5.0
    assert [s.segment_id for s, _ in db.since("pdq", "default", 0.0)] == ["seg"]
    assert len(db.since("chromaprint", "default", 0.0)) == 1 and db.since("chromaprint", "other", 0.0) == []
    assert db.remove_item("p", "default") and not db.remove_item("p", "default")
    assert db.remove_query("q", "default") and db.queries() == []
    assert db.prune_archive(before=1e12) == 2


@pytest.mark.parametrize("window", [0.0, 3600.0])
def test_the_archive_is_kept_only_with_a_window(tmp_path: Path, window: float) -> None:
    async def no_queries(item: QueryItem, tenant: str) -> np.ndarray:
        raise AssertionError("not used")

    async def run() -> int:
        db = RulesDb(tmp_path / "w.sqlite3", DIM)
        settings = ModerationSettings(archive_window_s=window)
        media = ItemMediaLoader(DecodeSettings(), list)  # only used to add items
        moderation = Moderation(db, signals(), rules_with().calibration, no_queries, media, settings)
        photo = squash(skimage_photo("chelsea"), 224)  # detailed enough for PDQ
        frame = Segment("seg", "s", Modality.FRAME, 0.0, 1.0)
        assert await moderation.check_frame(frame, unit(1, 0, 0, 0), unit(0, 1, 0, 0), photo, 1.0) == []
        noise = np.random.default_rng(0).normal(0, 0.1, 16_000 * 20).astype(np.float32)
        assert await moderation.audio_scanner("default", "s", 0.0).scan(AudioWindow(0, noise)) == []
        kept = len(db.since("pdq", "default", 0.0)) + len(db.since("chromaprint", "default", 0.0))
        moderation.close()
        return kept

    assert asyncio.run(run()) == (2 if window else 0)
