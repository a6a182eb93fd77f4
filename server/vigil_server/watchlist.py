"""What every new segment is checked against, in memory: standing queries and reference banks.

Standing query: a unit vector (the mean of its text and examples) and optional negative vectors.
A segment fires it when the query applies to the segment's modality and stream, the calibrated
score of their cosine (calibrate.py) is at least the query's threshold, and the segment is closer
to the query than to every negative.

Reference item, matched against frames:
- by embedding: the cosine between the frame and one of the item's pictures is at least
  `Thresholds.bank_cosine` (chosen on real photos, see README "Moderation");
- by PDQ: the frame's hash is within `Thresholds.pdq_distance` bits of one of the item's hashes
  (for pictures, those of its 8 rotations and flips), when the frame has enough detail to hash.
Against audio, by Chromaprint: see `match_audio`.

The state is swapped whole on every change (copy on write), so checks read it without locks from
any thread while queries and items are added or removed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from vigil_models.hashing import (
    FINGERPRINT_MATCH_SCORE,
    PDQ_MATCH_DISTANCE,
    PDQ_MIN_QUALITY,
    AudioFingerprint,
    PdqHash,
    PdqIndex,
    fingerprint_match,
)
from vigil_server.calibrate import Calibrator
from vigil_server.types import Alert, AlertKind, BankItem, MatchMethod, Segment, StandingQuery
from vigil_server.watchlist_db import StoredItem, StoredQuery

# Default calibrated score a standing query needs to fire.
DEFAULT_QUERY_THRESHOLD = 3.5
# Default cosine of copy descriptors at which a frame matches a reference picture. Measured on
# 274 real photos vs H.264 frames of altered copies (docs/moderation.md): at ffmpeg's default
# quality, 50 % resize + 5 % crop matched 90 %, 10 % crop 98 %, mirrored 100 %; 1.7e-5 of
# unrelated pairs matched.
BANK_MIN_COSINE = 0.75


@dataclass(frozen=True)
class Thresholds:
    query_score: float = DEFAULT_QUERY_THRESHOLD  # default for queries that do not set one
    bank_cosine: float = BANK_MIN_COSINE  # frame vs reference picture, copy descriptors
    pdq_distance: int = PDQ_MATCH_DISTANCE
    fingerprint_score: float = FINGERPRINT_MATCH_SCORE


@dataclass(frozen=True)
class _State:
    queries: tuple[StoredQuery, ...] = ()
    query_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    items: dict[str, StoredItem] = field(default_factory=dict)
    picture_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    picture_items: tuple[str, ...] = ()  # item id of each picture_matrix row
    hashes: PdqIndex = field(default_factory=PdqIndex)
    audio: tuple[tuple[str, AudioFingerprint], ...] = ()


def new_alert(kind: AlertKind, segment: Segment, match_id: str, label: str, **fields: object) -> Alert:
    return Alert(
        alert_id=uuid.uuid4().hex,
        kind=kind,
        stream_id=segment.stream_id,
        start=segment.start,
        end=segment.end,
        modality=segment.modality,
        segment_id=segment.segment_id,
        match_id=match_id,
        label=label,
        text=segment.text,
        raised_at=time.time(),
        tenant=segment.tenant,
        **fields,  # type: ignore[arg-type]
    )


def reference_alert(
    item: BankItem, segment: Segment, cosine: float, distance: int | None, embedded: bool, **fields: object
) -> Alert:
    """An alert for a frame matching a reference picture by descriptor (`embedded`) and/or PDQ (`distance`)."""
    methods = []
    if distance is not None and distance <= PDQ_MATCH_DISTANCE:
        methods.append(MatchMethod.PDQ)
    if embedded:
        methods.append(MatchMethod.EMBEDDING)
    return new_alert(
        AlertKind.REFERENCE,
        segment,
        item.item_id,
        item.label,
        bank=item.bank,
        external_id=item.external_id,
        methods=tuple(methods),
        score=cosine if MatchMethod.EMBEDDING in methods else 0.0,
        cosine=cosine,
        hash_distance=distance,
        **fields,
    )


class Watchlist:
    def __init__(self, calibrator: Calibrator, dim: int, descriptor_dim: int, thresholds: Thresholds = Thresholds()):
        self.calibrator = calibrator
        self.dim = dim
        self.descriptor_dim = descriptor_dim
        self.thresholds = thresholds
        self._state = _State()
        self._lock = threading.Lock()  # serialises writers; readers take self._state as is

    # -- changes

    def load(self, queries: Iterable[StoredQuery], items: Iterable[StoredItem]) -> None:
        with self._lock:
            self._state = self._build(tuple(queries), {s.item.item_id: s for s in items})

    def add_query(self, stored: StoredQuery) -> None:
        with self._lock:
            self._state = self._build((*self._state.queries, stored), self._state.items)

    def remove_query(self, query_id: str) -> None:
        with self._lock:
            queries = tuple(q for q in self._state.queries if q.query.query_id != query_id)
            self._state = self._build(queries, self._state.items)

    def add_items(self, items: Iterable[StoredItem]) -> None:
        with self._lock:
            merged = dict(self._state.items)
            merged.update({s.item.item_id: s for s in items})
            self._state = self._build(self._state.queries, merged)

    def remove_item(self, item_id: str) -> None:
        with self._lock:
            items = {k: v for k, v in self._state.items.items() if k != item_id}
            self._state = self._build(self._state.queries, items)

    def _build(self, queries: tuple[StoredQuery, ...], items: dict[str, StoredItem]) -> _State:
        pictures = [(item_id, s.vectors) for item_id, s in items.items() if len(s.vectors)]
        return _State(
            queries=queries,
            query_matrix=_stack([q.vector[None] for q in queries], self.dim),
            items=items,
            picture_matrix=_stack([v for _, v in pictures], self.descriptor_dim),
            picture_items=tuple(item_id for item_id, v in pictures for _ in range(len(v))),
            hashes=PdqIndex((item_id, h) for item_id, s in items.items() for h in s.hashes),
            audio=tuple((item_id, s.fingerprint) for item_id, s in items.items() if s.fingerprint is not None),
        )

    # -- reads

    def queries(self, tenant: str) -> list[StandingQuery]:
        return [q.query for q in self._state.queries if q.query.tenant == tenant]

    def query(self, query_id: str, tenant: str) -> StandingQuery | None:
        return next((q for q in self.queries(tenant) if q.query_id == query_id), None)

    def items(self, tenant: str, bank: str = "") -> list[BankItem]:
        return [
            s.item for s in self._state.items.values() if s.item.tenant == tenant and (not bank or s.item.bank == bank)
        ]

    def stored_item(self, item_id: str, tenant: str) -> StoredItem | None:
        stored = self._state.items.get(item_id)
        return stored if stored is not None and stored.item.tenant == tenant else None

    @property
    def has_audio_items(self) -> bool:
        return bool(self._state.audio)

    # -- checks

    def match_queries(self, segment: Segment, vector: np.ndarray) -> list[Alert]:
        state = self._state
        if not state.queries:
            return []
        cosines = state.query_matrix @ vector
        calibration = self.calibrator.calibration(segment.modality)
        alerts = []
        for stored, cosine in zip(state.queries, cosines.tolist(), strict=True):
            q = stored.query
            if q.tenant != segment.tenant or (q.modalities and segment.modality not in q.modalities):
                continue
            if q.stream_ids and segment.stream_id not in q.stream_ids:
                continue
            score = calibration.score(cosine)
            if score < q.threshold:
                continue
            if len(stored.negatives) and float(np.max(stored.negatives @ vector)) >= cosine:
                continue
            fields = {"methods": (MatchMethod.EMBEDDING,), "score": score, "cosine": cosine}
            alerts.append(new_alert(AlertKind.QUERY, segment, q.query_id, q.label, **fields))
        return alerts

    def match_frame(self, segment: Segment, descriptor: np.ndarray, pdq: PdqHash | None) -> list[Alert]:
        """Reference items this frame matches, by copy descriptor and/or PDQ hash."""
        state = self._state
        best_cosine: dict[str, float] = {}
        if len(state.picture_items):
            cosines = (state.picture_matrix @ descriptor).tolist()
            for item_id, cosine in zip(state.picture_items, cosines, strict=True):
                best_cosine[item_id] = max(cosine, best_cosine.get(item_id, -1.0))
        distances: dict[str, int] = {}
        if pdq is not None and (pdq.quality is None or pdq.quality >= PDQ_MIN_QUALITY) and len(state.hashes):
            for item_id, distance in state.hashes.match(pdq, self.thresholds.pdq_distance):
                distances.setdefault(item_id, distance)  # nearest first
        embedded_ids = {i for i, c in best_cosine.items() if c >= self.thresholds.bank_cosine}
        alerts = []
        for item_id in sorted(embedded_ids | set(distances)):
            stored = state.items[item_id]
            if stored.item.tenant != segment.tenant:
                continue
            cosine = best_cosine.get(item_id, 0.0)
            embedded = item_id in embedded_ids
            alerts.append(reference_alert(stored.item, segment, cosine, distances.get(item_id), embedded))
        return alerts

    def match_audio(self, fingerprint: AudioFingerprint) -> list[tuple[BankItem, float, float]]:
        """(item, fingerprint score, offset of the item's start in the window) for each audio item that plays."""
        hits = []
        for item_id, reference in self._state.audio:
            match = fingerprint_match(reference, fingerprint)
            if match.score >= self.thresholds.fingerprint_score:
                hits.append((self._state.items[item_id].item, match.score, match.offset_seconds))
        return hits


def _stack(blocks: list[np.ndarray], dim: int) -> np.ndarray:
    if not blocks:
        return np.zeros((0, dim), np.float32)
    return np.ascontiguousarray(np.concatenate(blocks).astype(np.float32))
