"""The alert store and reviews: every alert is kept, so it can be listed, replayed and reviewed.

Two tables in the moderation database:

- `alerts`: every alert moderation raised (the gate records it before flood control sees it), kept
  minimally so a reviewer can confirm or dismiss it by id. A review sets the verdict, who, when and
  a note (a later review of the same alert replaces it). A (stream, query or item) pair whose most
  recent review dismissed it raises no more alerts: the reviewer said that item does not occur on
  that stream. Per item (match id), the confirmed and dismissed alerts are counted for listings, so
  a team sees which shared hashes misfire.
- `alert_store`: every alert as it is sent (after flood control, with its `suppressed` count),
  whole (evidence, thumbnail), stored before it is delivered: `store` gives it its sequence, an
  INTEGER PRIMARY KEY AUTOINCREMENT, which increases with every stored alert and is never reused,
  even after erasure. ListAlerts pages through this table and Watch replays it (`page`).
- `alert_holds`: flood control's holds (alerts.py): per pair, the latest alert held back, how many
  were, and when the window ends, so a restart does not drop them. `release` turns a hold into a
  stored alert, in one transaction; a hold erased meanwhile is not released.

`erase` deletes a stream's rows from all three. Blocking API, safe to call from several threads.
Writes are single small transactions (WAL, synchronous=NORMAL): the alert hub stores on the event
loop, as the order of sequences must be the order of delivery.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from vigil_server.errors import NotFound
from vigil_server.moderation.rules_db import RulesDb
from vigil_server.types import (
    Alert,
    AlertFilter,
    AlertKind,
    AlertRecord,
    Evidence,
    MatchMethod,
    Modality,
    Review,
    ReviewState,
    Verdict,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, match_id TEXT NOT NULL,
    bank TEXT NOT NULL, stream_id TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    raised_at REAL NOT NULL, verdict TEXT, reviewer TEXT, note TEXT, reviewed_at REAL
);
CREATE INDEX IF NOT EXISTS alerts_match ON alerts(tenant, match_id);
CREATE INDEX IF NOT EXISTS alerts_stream ON alerts(tenant, stream_id);
CREATE TABLE IF NOT EXISTS alert_store (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, tenant TEXT NOT NULL,
    kind TEXT NOT NULL, match_id TEXT NOT NULL, bank TEXT NOT NULL, stream_id TEXT NOT NULL,
    start REAL NOT NULL, "end" REAL NOT NULL, raised_at REAL NOT NULL, body TEXT NOT NULL,
    thumbnail BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS alert_store_tenant ON alert_store(tenant, sequence);
CREATE INDEX IF NOT EXISTS alert_store_stream ON alert_store(tenant, stream_id);
CREATE TABLE IF NOT EXISTS alert_holds (
    tenant TEXT NOT NULL, stream_id TEXT NOT NULL, match_id TEXT NOT NULL, window_ends REAL NOT NULL,
    held INTEGER NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL, body TEXT NOT NULL,
    thumbnail BLOB NOT NULL, PRIMARY KEY (tenant, stream_id, match_id)
);
"""
_COLUMNS = 'alert_id, tenant, kind, match_id, bank, stream_id, start, "end", raised_at, verdict, reviewer, note, ' \
    "reviewed_at"  # fmt: skip
_STORE_COLUMNS = "s.sequence, s.body, s.thumbnail, a.verdict, a.reviewer, a.note, a.reviewed_at"
_REVIEW_STATE_SQL = {
    ReviewState.ANY: "",
    ReviewState.UNREVIEWED: "a.verdict IS NULL",
    ReviewState.CONFIRMED: f"a.verdict = '{Verdict.CONFIRMED.value}'",
    ReviewState.DISMISSED: f"a.verdict = '{Verdict.DISMISSED.value}'",
}

Pair = tuple[str, str, str]  # tenant, stream, query or item id


class AlertLog:
    def __init__(self, db: RulesDb):
        self.db = db
        self._lock = threading.Lock()
        with db.transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        self._counts: dict[tuple[str, str], dict[Verdict, int]] = {}
        self._dismissed: set[Pair] = set()
        self._load_reviews()

    def _load_reviews(self) -> None:
        reviewed = self.db.read(
            "SELECT tenant, stream_id, match_id, verdict FROM alerts WHERE verdict IS NOT NULL "
            "ORDER BY reviewed_at, rowid"
        )
        self._counts = {}
        self._dismissed = set()
        for tenant, stream_id, match_id, verdict in reviewed:
            self._apply((tenant, stream_id, match_id), None, Verdict(verdict))

    def record(self, alerts: Iterable[Alert]) -> None:
        """Keep the alerts for reviews (before flood control and delivery)."""
        rows = [_record_row(a) for a in alerts]
        if rows:
            with self.db.transaction() as conn:
                conn.executemany(_INSERT_RECORD, rows)

    # -- the store: alerts as sent, with their sequence

    def store(self, alert: Alert) -> Alert:
        """Store the alert as it is about to be sent; returns it with its sequence."""
        with self.db.transaction() as conn:
            return self._store(conn, alert)

    def _store(self, conn: Any, alert: Alert) -> Alert:
        conn.execute(_INSERT_RECORD, _record_row(alert))  # reviewable even when moderation did not record it
        cursor = conn.execute(
            'INSERT INTO alert_store (alert_id, tenant, kind, match_id, bank, stream_id, start, "end", raised_at, '
            "body, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_record_row(alert), _body(alert), alert.thumbnail_jpeg),
        )
        return _with(alert, sequence=int(cursor.lastrowid or 0), replayed=False, review=None)

    def page(self, f: AlertFilter, limit: int) -> list[Alert]:
        """Stored alerts passing `f` with a sequence above `f.after_sequence`, oldest first, at most `limit`."""
        w = f.watch
        where = ["s.tenant = ?", "s.sequence > ?"]
        parameters: list[object] = [w.tenant, f.after_sequence]
        if w.stream_ids:
            where.append(f"s.stream_id IN ({', '.join('?' * len(w.stream_ids))})")
            parameters += w.stream_ids
        if w.banks or w.query_ids:  # as WatchFilter.passes
            where.append(
                f"((s.kind = 'query' AND s.match_id IN ({', '.join('?' * len(w.query_ids))})) OR "
                f"(s.kind = 'reference' AND s.bank IN ({', '.join('?' * len(w.banks))})))"
            )
            parameters += [*w.query_ids, *w.banks]
        if f.raised_after is not None:
            where.append("s.raised_at >= ?")
            parameters.append(f.raised_after)
        if f.raised_before is not None:
            where.append("s.raised_at < ?")
            parameters.append(f.raised_before)
        if _REVIEW_STATE_SQL[f.review]:
            where.append(_REVIEW_STATE_SQL[f.review])
        sql = (f"SELECT {_STORE_COLUMNS} FROM alert_store s LEFT JOIN alerts a ON a.alert_id = s.alert_id "
               f"WHERE {' AND '.join(where)} ORDER BY s.sequence LIMIT ?")  # fmt: skip
        rows = self.db.read(sql, (*parameters, limit))
        return [_stored_alert(row) for row in rows]

    def last_sequence(self) -> int:
        """The largest sequence ever given (erased alerts included); 0 before any."""
        rows = self.db.read("SELECT seq FROM sqlite_sequence WHERE name = 'alert_store'")
        return int(rows[0][0]) if rows else 0

    # -- flood control's holds

    def hold(self, alert: Alert, window_ends: float, held: int) -> None:
        """Keep the latest alert a pair holds back, how many it held, and when its window ends (unix seconds)."""
        with self.db.transaction() as conn:
            conn.execute(
                'INSERT OR REPLACE INTO alert_holds (tenant, stream_id, match_id, window_ends, held, start, "end", '
                "body, thumbnail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (alert.tenant, alert.stream_id, alert.match_id, window_ends, held, alert.start, alert.end,
                 _body(alert), alert.thumbnail_jpeg),
            )  # fmt: skip

    def release(self, alert: Alert) -> Alert | None:
        """Store the alert that ends its pair's hold, and drop the hold; None when the hold is gone (erased)."""
        with self.db.transaction() as conn:
            gone = conn.execute(
                "DELETE FROM alert_holds WHERE tenant = ? AND stream_id = ? AND match_id = ?",
                (alert.tenant, alert.stream_id, alert.match_id),
            ).rowcount
            return self._store(conn, alert) if gone else None

    def holds(self) -> list[tuple[Alert, float, int]]:
        """Every persisted hold: (latest alert held back, window end in unix seconds, alerts held)."""
        rows = self.db.read("SELECT body, thumbnail, window_ends, held FROM alert_holds ORDER BY window_ends")
        return [(_alert(json.loads(body), thumbnail), window_ends, held) for body, thumbnail, window_ends, held in rows]

    # -- reviews

    def get(self, alert_id: str, tenant: str) -> AlertRecord | None:
        with self._lock:
            row = self.db.read(f"SELECT {_COLUMNS} FROM alerts WHERE alert_id = ? AND tenant = ?", (alert_id, tenant))
        return _record(row[0]) if row else None

    def review(self, alert_id: str, tenant: str, verdict: Verdict, reviewer: str, note: str) -> AlertRecord:
        """Set an alert's review; NotFound for an id this server never raised (for the tenant)."""
        with self._lock:
            with self.db.transaction() as conn:
                row = conn.execute(f"SELECT {_COLUMNS} FROM alerts WHERE alert_id = ? AND tenant = ?",
                                   (alert_id, tenant)).fetchone()  # fmt: skip
                if row is None:
                    raise NotFound(f"no alert with id {alert_id!r}", field="alert_id")
                before = _record(row)
                now = time.time()
                conn.execute(
                    "UPDATE alerts SET verdict = ?, reviewer = ?, note = ?, reviewed_at = ? WHERE alert_id = ?",
                    (verdict.value, reviewer, note, now, alert_id),
                )
            pair = (tenant, before.stream_id, before.match_id)
            self._apply(pair, before.review.verdict if before.review else None, verdict)
        return AlertRecord(before.alert_id, before.kind, before.match_id, before.bank, before.stream_id, before.start,
                           before.end, before.raised_at, Review(verdict, reviewer, note, now), tenant)  # fmt: skip

    def _apply(self, pair: Pair, old: Verdict | None, new: Verdict) -> None:
        counts = self._counts.setdefault((pair[0], pair[2]), {})
        if old is not None:
            counts[old] = counts.get(old, 0) - 1
        counts[new] = counts.get(new, 0) + 1
        if new is Verdict.DISMISSED:
            self._dismissed.add(pair)
        else:
            self._dismissed.discard(pair)

    def dismissed(self, tenant: str, stream_id: str, match_id: str) -> bool:
        """Whether a reviewer's latest word on this (stream, query or item) was a dismissal."""
        return (tenant, stream_id, match_id) in self._dismissed

    def counts(self, tenant: str, match_id: str) -> tuple[int, int]:
        """(confirmed, dismissed) alerts of a query or item."""
        counts = self._counts.get((tenant, match_id), {})
        return counts.get(Verdict.CONFIRMED, 0), counts.get(Verdict.DISMISSED, 0)

    def erase(self, tenant: str, stream_id: str, start: float | None = None, end: float | None = None) -> int:
        """Delete the stored alerts about the stream (those overlapping [start, end) when given), with their
        reviews and flood-control holds; returns how many stored alerts (what ListAlerts shows) went.

        An alert of no length overlaps when its start lies in the range. The review counts and
        dismissals are rebuilt from what is left. Sequences are never given again.
        """
        where = "tenant = ? AND stream_id = ?"
        parameters: list[object] = [tenant, stream_id]
        if end is not None:
            where += " AND start < ?"
            parameters.append(end)
        if start is not None:
            where += ' AND ("end" > ? OR start >= ?)'
            parameters += [start, start]
        with self._lock:
            with self.db.transaction() as conn:
                recorded = conn.execute(f"DELETE FROM alerts WHERE {where}", tuple(parameters)).rowcount
                stored = conn.execute(f"DELETE FROM alert_store WHERE {where}", tuple(parameters)).rowcount
                conn.execute(f"DELETE FROM alert_holds WHERE {where}", tuple(parameters))
            if recorded:
                self._load_reviews()
        return int(stored)

    def count(self, tenant: str) -> int:
        """Alerts recorded for the tenant."""
        rows = self.db.read("SELECT COUNT(*) FROM alerts WHERE tenant = ?", (tenant,))
        return int(rows[0][0])


def _record(row: tuple[Any, ...]) -> AlertRecord:
    alert_id, tenant, kind, match_id, bank, stream_id, start, end, raised_at, verdict, reviewer, note, at = row
    review = Review(Verdict(verdict), reviewer or "", note or "", at or 0.0) if verdict is not None else None
    return AlertRecord(alert_id, AlertKind(kind), match_id, bank, stream_id, start, end, raised_at, review, tenant)


_INSERT_RECORD = (
    'INSERT OR IGNORE INTO alerts (alert_id, tenant, kind, match_id, bank, stream_id, start, "end", raised_at) '
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _record_row(a: Alert) -> tuple[object, ...]:
    return (a.alert_id, a.tenant, a.kind.value, a.match_id, a.bank, a.stream_id, a.start, a.end, a.raised_at)


def _body(a: Alert) -> str:
    """Every field of the alert but its thumbnail (a column of its own) and what the store itself gives."""
    return json.dumps(
        {
            "alert_id": a.alert_id, "kind": a.kind.value, "stream_id": a.stream_id, "start": a.start, "end": a.end,
            "modality": a.modality.value, "segment_id": a.segment_id, "match_id": a.match_id, "label": a.label,
            "bank": a.bank, "external_id": a.external_id, "score": a.score, "cosine": a.cosine, "text": a.text,
            "suppressed": a.suppressed, "from_archive": a.from_archive, "raised_at": a.raised_at, "tenant": a.tenant,
            "evidence": [[e.signal, e.method.value if e.method else None, e.value, e.matched] for e in a.evidence],
        },
        separators=(",", ":"),
    )  # fmt: skip


def _alert(d: dict[str, Any], thumbnail: bytes) -> Alert:
    evidence = tuple(Evidence(signal, MatchMethod(method) if method else None, value, matched)
                     for signal, method, value, matched in d["evidence"])  # fmt: skip
    return Alert(
        alert_id=d["alert_id"], kind=AlertKind(d["kind"]), stream_id=d["stream_id"], start=d["start"], end=d["end"],
        modality=Modality(d["modality"]), segment_id=d["segment_id"], match_id=d["match_id"], label=d["label"],
        bank=d["bank"], external_id=d["external_id"], evidence=evidence, score=d["score"], cosine=d["cosine"],
        text=d["text"], thumbnail_jpeg=bytes(thumbnail), suppressed=d["suppressed"], from_archive=d["from_archive"],
        raised_at=d["raised_at"], tenant=d["tenant"],
    )  # fmt: skip


def _stored_alert(row: tuple[Any, ...]) -> Alert:
    sequence, body, thumbnail, verdict, reviewer, note, at = row
    review = Review(Verdict(verdict), reviewer or "", note or "", at or 0.0) if verdict is not None else None
    return _with(_alert(json.loads(body), thumbnail), sequence=sequence, review=review)


def _with(alert: Alert, **changes: Any) -> Alert:
    return replace(alert, **changes)
