"""Alert records and reviews: every raised alert is kept (minimally) so a reviewer can confirm or dismiss it.

Moderation records each alert it raises in the moderation database (table `alerts`) before it is
handed on for delivery, so an id a client received can always be reviewed. A review sets the
verdict, who, when and a note (a later review of the same alert replaces it). A (stream, query or
item) pair whose most recent review dismissed it raises no more alerts: the reviewer said that
item does not occur on that stream. Per item (match id), the confirmed and dismissed alerts are
counted for listings, so a team sees which shared hashes misfire.

The table is the seed of a full alert log: alert ids are the server's uuids, records are never
pruned here. Blocking API, safe to call from several threads; callers keep it off the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from vigil_server.errors import NotFound
from vigil_server.moderation.rules_db import RulesDb
from vigil_server.types import Alert, AlertKind, AlertRecord, Review, Verdict

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    alert_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, match_id TEXT NOT NULL,
    bank TEXT NOT NULL, stream_id TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    raised_at REAL NOT NULL, verdict TEXT, reviewer TEXT, note TEXT, reviewed_at REAL
);
CREATE INDEX IF NOT EXISTS alerts_match ON alerts(tenant, match_id);
"""
_COLUMNS = 'alert_id, tenant, kind, match_id, bank, stream_id, start, "end", raised_at, verdict, reviewer, note, ' \
    "reviewed_at"  # fmt: skip

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
        """Keep the alerts (before they are delivered)."""
        rows = [(a.alert_id, a.tenant, a.kind.value, a.match_id, a.bank, a.stream_id, a.start, a.end, a.raised_at)
                for a in alerts]  # fmt: skip
        if rows:
            with self.db.transaction() as conn:
                conn.executemany(
                    'INSERT OR IGNORE INTO alerts (alert_id, tenant, kind, match_id, bank, stream_id, start, "end", '
                    "raised_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )

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
        """Delete the stored alerts about the stream (those overlapping [start, end) when given); how many went.

        An alert of no length overlaps when its start lies in the range. Reviews go with their alerts, so
        the review counts and dismissals are rebuilt from what is left.
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
                erased = conn.execute(f"DELETE FROM alerts WHERE {where}", tuple(parameters)).rowcount
            if erased:
                self._load_reviews()
        return int(erased)

    def count(self, tenant: str) -> int:
        """Alerts recorded for the tenant."""
        rows = self.db.read("SELECT COUNT(*) FROM alerts WHERE tenant = ?", (tenant,))
        return int(rows[0][0])


def _record(row: tuple[Any, ...]) -> AlertRecord:
    alert_id, tenant, kind, match_id, bank, stream_id, start, end, raised_at, verdict, reviewer, note, at = row
    review = Review(Verdict(verdict), reviewer or "", note or "", at or 0.0) if verdict is not None else None
    return AlertRecord(alert_id, AlertKind(kind), match_id, bank, stream_id, start, end, raised_at, review, tenant)
