"""What every new segment is checked against, in memory: standing queries and reference items.

Standing query: a unit vector (the mean of its text and examples) and optional negative vectors.
A segment fires it when the query applies to the segment's modality and stream, the calibrated
score of their cosine (calibrate.py) is at least the query's threshold, and the segment is closer
to the query than to every negative.

Reference item: each signal's description of it (signals/). Live media matches an item when any
signal matches it by that signal's own threshold; the other signals then compare the item too,
so the alert shows all the evidence (a PDQ match also reports the descriptor's cosine).

The state is swapped whole on every change (copy on write), so checks read it without locks from
any thread while queries and items are added or removed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from vigil_server.calibrate import Calibration
from vigil_server.moderation.signals import Comparison, Signal, SignalIndex
from vigil_server.types import Alert, AlertKind, BankItem, Evidence, MatchMethod, Modality, Segment, StandingQuery

# The signal name standing queries report their embedding match under.
QUERY_SIGNAL = "query"


@dataclass(frozen=True)
class StoredQuery:
    query: StandingQuery
    vector: np.ndarray  # float32 [dim]
    negatives: np.ndarray  # float32 [n, dim]


@dataclass(frozen=True)
class StoredItem:
    item: BankItem
    values: Mapping[str, Any]  # signal name -> that signal's description of the item


@dataclass(frozen=True)
class _State:
    queries: tuple[StoredQuery, ...] = ()
    query_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    items: dict[str, StoredItem] = field(default_factory=dict)
    indexes: dict[str, SignalIndex[Any, Any]] = field(default_factory=dict)  # signal name -> index


def new_alert(kind: AlertKind, segment: Segment, match_id: str, label: str, **fields: Any) -> Alert:
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
        **fields,
    )


def reference_alert(item: BankItem, segment: Segment, comparisons: Sequence[Comparison], **fields: Any) -> Alert:
    """An alert for live media matching a reference item; the first comparison with a span sets the times."""
    evidence = tuple(c.evidence for c in comparisons)
    span = next((c.span for c in comparisons if c.span is not None), None)
    if span is not None:  # where the whole item plays, though only part of it may be in the window yet
        start, end = segment.start + span[0], segment.start + span[1]
        segment = Segment("", segment.stream_id, segment.modality, round(max(0.0, start), 3), round(end, 3),
                          tenant=segment.tenant)  # fmt: skip
    embedding = next((e for e in evidence if e.method is MatchMethod.EMBEDDING), None)
    cosine = embedding.value if embedding is not None else 0.0
    return new_alert(
        AlertKind.REFERENCE, segment, item.item_id, item.label, bank=item.bank, external_id=item.external_id,
        evidence=evidence, score=cosine if embedding is not None and embedding.matched else 0.0, cosine=cosine,
        **fields,
    )  # fmt: skip


class Rules:
    def __init__(self, calibration: Callable[[Modality], Calibration], signals: Sequence[Signal[Any, Any]], dim: int):
        self.calibration = calibration
        self.signals = list(signals)
        self.dim = dim
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
        vectors = [q.vector[None] for q in queries]
        return _State(
            queries=queries,
            query_matrix=np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, self.dim), np.float32),
            items=items,
            indexes={
                s.name: s.index([(item_id, i.values[s.name]) for item_id, i in items.items() if s.name in i.values])
                for s in self.signals
            },
        )

    # -- reads

    def queries(self, tenant: str) -> list[StandingQuery]:
        return [q.query for q in self._state.queries if q.query.tenant == tenant]

    def items(self, tenant: str, bank: str = "") -> list[BankItem]:
        return [
            s.item for s in self._state.items.values() if s.item.tenant == tenant and (not bank or s.item.bank == bank)
        ]

    def stored_item(self, item_id: str, tenant: str) -> StoredItem | None:
        stored = self._state.items.get(item_id)
        return stored if stored is not None and stored.item.tenant == tenant else None

    def has_items(self, signal: str) -> bool:
        index = self._state.indexes.get(signal)
        return index is not None and len(index) > 0

    # -- checks

    def match_queries(self, segment: Segment, vector: np.ndarray) -> list[Alert]:
        state = self._state
        if not state.queries:
            return []
        cosines = state.query_matrix @ vector
        calibration = self.calibration(segment.modality)
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
            evidence = (Evidence(QUERY_SIGNAL, MatchMethod.EMBEDDING, score, True),)
            alerts.append(new_alert(AlertKind.QUERY, segment, q.query_id, q.label, evidence=evidence, score=score,
                                    cosine=cosine))  # fmt: skip
        return alerts

    def match_items(self, live: Mapping[str, Any], segment: Segment) -> list[tuple[StoredItem, list[Comparison]]]:
        """Items of the segment's tenant that any signal's live value matches, with every signal's evidence.

        `live` maps signal names to their description of the live media (signals with none left out).
        """
        state = self._state
        found: dict[str, dict[str, Comparison]] = {}  # item id -> signal name -> comparison
        for signal in self.signals:
            if signal.name in live and signal.name in state.indexes:
                for item_id, comparison in state.indexes[signal.name].match(live[signal.name]):
                    found.setdefault(item_id, {})[signal.name] = comparison
        matches = []
        for item_id in sorted(found):
            stored = state.items[item_id]
            if stored.item.tenant != segment.tenant:
                continue
            comparisons = found[item_id]
            for signal in self.signals:  # the rest of the evidence, from signals that did not match
                if signal.name not in comparisons and signal.name in live and signal.name in stored.values:
                    other = signal.compare(stored.values[signal.name], live[signal.name])
                    if other is not None:
                        comparisons[signal.name] = other
            matches.append((stored, [comparisons[s.name] for s in self.signals if s.name in comparisons]))
        return matches
