"""What every new segment is checked against, in memory: standing queries and reference items.

Standing query: a unit vector (the mean of its text and examples) and optional negative vectors.
A segment fires it when the query applies to the segment's modality and stream, the calibrated
score of their cosine (calibrate.py) is at least the query's threshold, and the segment is closer
to the query than to every negative. A query with keywords or a regex (keywords.py) needs them in
the text of a speech or on-screen text segment as well, or only them (KeywordRule.ONLY: the
embedding is not checked).

Reference item: each signal's description of it (signals/). Live media matches an item when any
signal matches it by that signal's own threshold; the other signals then compare the item too,
so the alert shows all the evidence (a PDQ match also reports the descriptor's cosine). A bank's
settings (BankSettings) take part here: a disabled bank's items are left out of every index, and
a bank's threshold overrides are applied by indexing its items with the signal `adjusted` to them
(one index per signal and distinct override). Signals that match over time get their stream's
memory (Signal.stream_state) through `memories`.

The state is swapped whole on every change (copy on write), so checks read it without locks from
any thread while queries and items are added or removed.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from vigil_server.calibrate import Calibration
from vigil_server.errors import InvalidRequest
from vigil_server.keywords import KEYWORD_MODALITIES, KeywordMatcher, segment_text
from vigil_server.moderation.signals import Comparison, Signal, SignalIndex
from vigil_server.types import (
    Alert,
    AlertKind,
    BankItem,
    BankSettings,
    Evidence,
    KeywordRule,
    MatchMethod,
    Modality,
    Segment,
    StandingQuery,
    StandingQuerySpec,
)

BankKey = tuple[str, str]  # tenant, bank

# The signal name standing queries report their embedding match under.
QUERY_SIGNAL = "query"
# ... and their keywords or regex under (the value: how many times they occur in the text).
KEYWORD_SIGNAL = "keyword"
# ... and a frame's explicit score under, for queries with min_explicit_score (the value: the score).
EXPLICIT_SIGNAL = "explicit"


@dataclass(frozen=True)
class StoredQuery:
    query: StandingQuery
    vector: np.ndarray  # float32 [dim]; zeros for a query of keywords only
    negatives: np.ndarray  # float32 [n, dim]

    @cached_property
    def matcher(self) -> KeywordMatcher:
        """The query's keywords and regex, compiled (empty: none)."""
        return KeywordMatcher.build(self.query.keywords, self.query.regex)


@dataclass(frozen=True, slots=True)
class StoredItem:
    item: BankItem
    values: Mapping[str, Any]  # signal name -> that signal's description of the item


@dataclass(frozen=True)
class _State:
    queries: tuple[StoredQuery, ...] = ()
    query_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    items: dict[str, StoredItem] = field(default_factory=dict)
    banks: Mapping[BankKey, BankSettings] = field(default_factory=dict)  # banks whose settings were set
    # (signal as the items' banks adjusted it, its index of those items), in signal order
    indexes: tuple[tuple[Signal[Any, Any], SignalIndex[Any, Any]], ...] = ()
    variants: Mapping[tuple[BankKey, str], Signal[Any, Any]] = field(default_factory=dict)  # adjusted signals


def keyword_rule(spec: StandingQuerySpec, embedded: bool) -> KeywordRule:
    """The rule a new query follows; InvalidRequest when the spec has nothing to match by it.

    `embedded`: whether the query has text or examples (a vector).
    """
    words = bool(spec.keywords or spec.regex)
    if not words and not embedded:
        raise InvalidRequest("a standing query needs text, at least one example, keywords or a regex")
    rule = spec.keyword_rule or (KeywordRule.AND_EMBEDDING if embedded else KeywordRule.ONLY)
    if rule is KeywordRule.AND_EMBEDDING and not embedded:
        raise InvalidRequest("keyword_rule AND_EMBEDDING needs text or an example to embed", field="keyword_rule")
    if rule is KeywordRule.ONLY and not words:
        raise InvalidRequest("keyword_rule ONLY needs keywords or a regex", field="keyword_rule")
    KeywordMatcher.build(spec.keywords, spec.regex)  # raises on a bad keyword or regex
    return rule


def query_label(spec: StandingQuerySpec) -> str:
    """A label for a query given without text or a label."""
    if spec.examples:
        return f"query with {len(spec.examples)} example(s)"
    return ", ".join(spec.keywords) or f"/{spec.regex}/"


def explicit_label(spec: StandingQuerySpec) -> str:
    """A label for a query of the explicit score alone; empty for any other."""
    alone = spec.min_explicit_score and not (spec.text or spec.examples or spec.keywords or spec.regex)
    return f"explicit score at least {spec.min_explicit_score:g}" if alone else ""


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

    def load(
        self, queries: Iterable[StoredQuery], items: Iterable[StoredItem], banks: Iterable[BankSettings] = ()
    ) -> None:
        with self._lock:
            settings = {(b.tenant, b.bank): b for b in banks}
            self._state = self._build(tuple(queries), {s.item.item_id: s for s in items}, settings)

    def add_query(self, stored: StoredQuery) -> None:
        with self._lock:
            state = self._state
            self._state = replace(self._queries((*state.queries, stored)), items=state.items, banks=state.banks,
                                  indexes=state.indexes, variants=state.variants)  # fmt: skip

    def remove_query(self, query_id: str) -> None:
        with self._lock:
            state = self._state
            queries = tuple(q for q in state.queries if q.query.query_id != query_id)
            self._state = replace(self._queries(queries), items=state.items, banks=state.banks,
                                  indexes=state.indexes, variants=state.variants)  # fmt: skip

    def add_items(self, items: Iterable[StoredItem]) -> None:
        with self._lock:
            merged = dict(self._state.items)
            merged.update({s.item.item_id: s for s in items})
            self._state = self._build(self._state.queries, merged, self._state.banks)

    def remove_item(self, item_id: str) -> None:
        with self._lock:
            items = {k: v for k, v in self._state.items.items() if k != item_id}
            self._state = self._build(self._state.queries, items, self._state.banks)

    def set_bank(self, settings: BankSettings) -> None:
        with self._lock:
            banks = {**self._state.banks, (settings.tenant, settings.bank): settings}
            self._state = self._build(self._state.queries, self._state.items, banks)

    def _queries(self, queries: tuple[StoredQuery, ...]) -> _State:
        vectors = [q.vector[None] for q in queries]
        matrix = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, self.dim), np.float32)
        return _State(queries=queries, query_matrix=matrix)

    def _build(
        self, queries: tuple[StoredQuery, ...], items: dict[str, StoredItem], banks: Mapping[BankKey, BankSettings]
    ) -> _State:
        variants: dict[tuple[BankKey, str], Signal[Any, Any]] = {}
        indexes = []
        for signal in self.signals:
            groups: dict[Signal[Any, Any], list[tuple[str, Any]]] = {}
            for item_id, stored in items.items():
                if signal.name not in stored.values:
                    continue
                key = (stored.item.tenant, stored.item.bank)
                settings = banks.get(key)
                if settings is not None and not settings.enabled:
                    continue
                variant = self._variant(signal, settings, variants, key)
                groups.setdefault(variant, []).append((item_id, stored.values[signal.name]))
            indexes += [(variant, variant.index(rows)) for variant, rows in groups.items()]
        return replace(self._queries(queries), items=items, banks=banks, indexes=tuple(indexes), variants=variants)

    @staticmethod
    def _variant(
        signal: Signal[Any, Any],
        settings: BankSettings | None,
        variants: dict[tuple[BankKey, str], Signal[Any, Any]],
        key: BankKey,
    ) -> Signal[Any, Any]:
        """The signal as the bank's settings adjust it (the signal itself when they do not)."""
        threshold = settings.threshold(signal.name) if settings is not None else None
        if threshold is None:
            return signal
        if (key, signal.name) not in variants:
            variants[(key, signal.name)] = signal.adjusted(threshold)
        return variants[(key, signal.name)]

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
        return any(s.name == signal and len(index) > 0 for s, index in self._state.indexes)

    def bank(self, tenant: str, bank: str) -> BankSettings:
        """A bank's settings; the defaults for a bank nobody configured."""
        return self._state.banks.get((tenant, bank)) or BankSettings(bank, tenant=tenant)

    def banks(self, tenant: str) -> dict[str, int]:
        """Bank name -> items in it, for every bank that holds items or has settings."""
        counts = {bank: 0 for (t, bank) in self._state.banks if t == tenant}
        for stored in self._state.items.values():
            if stored.item.tenant == tenant:
                counts[stored.item.bank] = counts.get(stored.item.bank, 0) + 1
        return counts

    def signal_for(self, item: BankItem, signal: Signal[Any, Any]) -> Signal[Any, Any]:
        """The signal as the item's bank adjusted it."""
        return self._state.variants.get(((item.tenant, item.bank), signal.name), signal)

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
            explicit: tuple[Evidence, ...] = ()
            if q.min_explicit_score > 0:  # frames scoring at least that; with no vector, the score is the query
                if segment.explicit_score is None or segment.explicit_score < q.min_explicit_score:
                    continue
                explicit = (Evidence(EXPLICIT_SIGNAL, None, segment.explicit_score, True),)
                if not stored.vector.any():
                    alerts.append(new_alert(AlertKind.QUERY, segment, q.query_id, q.label, evidence=explicit,
                                            score=segment.explicit_score))  # fmt: skip
                    continue
            words: tuple[Evidence, ...] = ()
            if stored.matcher:
                if segment.modality not in KEYWORD_MODALITIES:
                    continue
                _, count = stored.matcher.hits(segment_text(segment.text, segment.translation))
                if not count:
                    continue
                words = (Evidence(KEYWORD_SIGNAL, None, float(count), True),)
                if q.keyword_rule is KeywordRule.ONLY:
                    alerts.append(new_alert(AlertKind.QUERY, segment, q.query_id, q.label, evidence=words))
                    continue
            score = calibration.score(cosine)
            if score < q.threshold:
                continue
            if len(stored.negatives) and float(np.max(stored.negatives @ vector)) >= cosine:
                continue
            evidence = (Evidence(QUERY_SIGNAL, MatchMethod.EMBEDDING, score, True), *words, *explicit)
            alerts.append(new_alert(AlertKind.QUERY, segment, q.query_id, q.label, evidence=evidence, score=score,
                                    cosine=cosine))  # fmt: skip
        return alerts

    def match_items(
        self, live: Mapping[str, Any], segment: Segment, memories: Mapping[str, Any] | None = None
    ) -> list[tuple[StoredItem, list[Comparison]]]:
        """Items of the segment's tenant that any signal's live value matches, with every signal's evidence.

        `live` maps signal names to their description of the live media (signals with none left out);
        `memories` maps signal names to the stream's memory of them (Signal.stream_state).
        """
        state = self._state
        found: dict[str, dict[str, Comparison]] = {}  # item id -> signal name -> comparison
        for signal, index in state.indexes:
            if signal.name in live:
                memory = memories.get(signal.name) if memories is not None else None
                for item_id, comparison in index.match(live[signal.name], memory):
                    found.setdefault(item_id, {})[signal.name] = comparison
        matches = []
        for item_id in sorted(found):
            stored = state.items[item_id]
            if stored.item.tenant != segment.tenant:
                continue
            comparisons = found[item_id]
            for signal in self.signals:  # the rest of the evidence, from signals that did not match
                if signal.name not in comparisons and signal.name in live and signal.name in stored.values:
                    variant = state.variants.get(((stored.item.tenant, stored.item.bank), signal.name), signal)
                    other = variant.compare(stored.values[signal.name], live[signal.name])
                    if other is not None:
                        comparisons[signal.name] = other
            matches.append((stored, [comparisons[s.name] for s in self.signals if s.name in comparisons]))
        return matches
