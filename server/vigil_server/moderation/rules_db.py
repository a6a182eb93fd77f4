"""Persistence for moderation: standing queries, reference items and their signals, and the archive.

One SQLite file in the data directory per embedding space (vectors from one space mean nothing
in another), beside the calibration file. It holds:

- standing queries with their query vector and negative vectors, keywords, regex and keyword rule
  (columns added to databases written before keywords existed when they are opened: `KEYWORD_COLUMNS`);
- reference items, and each signal's description of each item as that signal encodes it;
- the archive: what each signal saw of the streams (a frame's PDQ hash, an audio window's
  fingerprint), kept for the archive window, so an item added later can be matched against what
  was already streamed;
- bank settings (banks.py) and alert records with their reviews (review.py), whose modules own
  their tables and reach the file through `transaction` and `read`.

The database knows signals only by name and stores their bytes as given. Blocking API, safe to
call from several threads; callers keep it off the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vigil_server.erasure_scope import ErasureScope, Spans
from vigil_server.moderation.rules import StoredQuery
from vigil_server.types import BankItem, KeywordRule, Modality, ReferenceKind, Segment, StandingQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    query_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, text TEXT NOT NULL, label TEXT NOT NULL,
    modalities TEXT NOT NULL, stream_ids TEXT NOT NULL, threshold REAL NOT NULL,
    example_count INTEGER NOT NULL, negative_count INTEGER NOT NULL, created_at REAL NOT NULL,
    vector BLOB NOT NULL, negatives BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    item_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, bank TEXT NOT NULL, kind TEXT NOT NULL,
    label TEXT NOT NULL, external_id TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS item_signals (
    item_id TEXT NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
    signal TEXT NOT NULL, value BLOB NOT NULL, amount REAL NOT NULL,
    PRIMARY KEY (item_id, signal)
);
CREATE TABLE IF NOT EXISTS archive (
    signal TEXT NOT NULL, tenant TEXT NOT NULL, stream_id TEXT NOT NULL, segment_id TEXT NOT NULL,
    modality TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL, stored_at REAL NOT NULL,
    value BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_time ON archive(signal, tenant, stored_at);
"""

# Standing queries' keyword columns, added by ALTER TABLE so that a database written before them
# opens as it is: its queries get no keywords (and the rule, which then does not matter).
KEYWORD_COLUMNS = (
    ("keywords", "TEXT NOT NULL DEFAULT '[]'"),  # a JSON list of strings
    ("regex", "TEXT NOT NULL DEFAULT ''"),
    ("keyword_rule", "TEXT NOT NULL DEFAULT 'and_embedding'"),  # a KeywordRule value
    ("min_explicit_score", "REAL NOT NULL DEFAULT 0"),  # frames scoring at least this; 0: no such condition
)
QUERY_COLUMNS = (
    "query_id, tenant, text, label, modalities, stream_ids, threshold, example_count, negative_count, "
    "created_at, vector, negatives, keywords, regex, keyword_rule, min_explicit_score"
)


@dataclass(frozen=True)
class ItemRecord:
    item: BankItem  # its `signals` amounts are filled in by whoever knows the signals
    values: dict[str, tuple[bytes, float]]  # signal name -> (encoded description, amount)


def _readable(text: str, most: int = 256) -> str:
    """A stored label as listed: at most `most` characters, on one line."""
    if len(text) <= most and "\n" not in text and "\r" not in text:
        return text
    return " ".join(text[:most].splitlines())


def _matrix(blob: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32).reshape(-1, dim).copy()


class RulesDb:
    def __init__(self, path: Path, dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dim = dim  # standing query vectors: the shared space
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        self._add_columns("queries", KEYWORD_COLUMNS)

    def _add_columns(self, table: str, columns: tuple[tuple[str, str], ...]) -> None:
        """Add the columns a table lacks (a database from an older version), in one transaction."""
        with self.transaction() as db:
            present = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
            for name, declaration in columns:
                if name not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def read(self, sql: str, parameters: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of one query (for the other tables' keepers: banks.py, review.py)."""
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    # -- standing queries

    def add_query(self, stored: StoredQuery) -> None:
        q = stored.query
        with self.transaction() as db:
            db.execute(
                f"INSERT INTO queries ({QUERY_COLUMNS}) VALUES ({', '.join('?' * 16)})",
                (
                    q.query_id, q.tenant, q.text, q.label, json.dumps([m.value for m in q.modalities]),
                    json.dumps(list(q.stream_ids)), q.threshold, q.example_count, q.negative_count,
                    q.created_at, stored.vector.astype(np.float32).tobytes(),
                    stored.negatives.astype(np.float32).tobytes(), json.dumps(list(q.keywords)), q.regex,
                    q.keyword_rule.value, q.min_explicit_score,
                ),
            )  # fmt: skip

    def remove_query(self, query_id: str, tenant: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM queries WHERE query_id = ? AND tenant = ?", (query_id, tenant))
            return cursor.rowcount > 0

    def queries(self) -> list[StoredQuery]:
        with self._lock:
            rows = self._db.execute(f"SELECT {QUERY_COLUMNS} FROM queries ORDER BY created_at, query_id").fetchall()
        result = []
        for row in rows:
            (query_id, tenant, text, label, modalities, stream_ids, threshold, examples, negatives_n, created,
             vector, negatives, keywords, regex, keyword_rule, min_explicit_score) = row  # fmt: skip
            query = StandingQuery(
                query_id=query_id,
                text=text,
                label=label,
                modalities=tuple(Modality(m) for m in json.loads(modalities)),
                stream_ids=tuple(json.loads(stream_ids)),
                threshold=threshold,
                example_count=examples,
                negative_count=negatives_n,
                created_at=created,
                tenant=tenant,
                keywords=tuple(json.loads(keywords)),
                regex=regex,
                keyword_rule=KeywordRule(keyword_rule),
                min_explicit_score=min_explicit_score,
            )
            result.append(StoredQuery(query, _matrix(vector, self.dim)[0], _matrix(negatives, self.dim)))
        return result

    # -- reference items

    def add_items(self, records: list[ItemRecord]) -> None:
        """Add items (all or none)."""
        with self.transaction() as db:
            for record in records:
                i = record.item
                db.execute(
                    "INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (i.item_id, i.tenant, i.bank, i.kind.value, i.label, i.external_id, i.created_at),
                )
                db.executemany(
                    "INSERT INTO item_signals VALUES (?, ?, ?, ?)",
                    [(i.item_id, name, value, amount) for name, (value, amount) in record.values.items()],
                )

    def remove_item(self, item_id: str, tenant: str) -> bool:
        with self.transaction() as db:
            cursor = db.execute("DELETE FROM items WHERE item_id = ? AND tenant = ?", (item_id, tenant))
            return cursor.rowcount > 0

    def items(self) -> list[ItemRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM items ORDER BY created_at, item_id").fetchall()
            signal_rows = self._db.execute("SELECT item_id, signal, value, amount FROM item_signals").fetchall()
        values: dict[str, dict[str, tuple[bytes, float]]] = {}
        for item_id, signal, value, amount in signal_rows:
            values.setdefault(item_id, {})[signal] = (value, amount)
        records = []
        for item_id, tenant, bank, kind, label, external_id, created in rows:
            # Interned: a bank of a million items shares one copy of its tenant, bank and empty ids.
            # Labels stored before they were bounded: cut on read, so that every listing and export still works.
            label, external_id = _readable(label), _readable(external_id)
            item = BankItem(item_id, sys.intern(bank), ReferenceKind(kind), label, sys.intern(external_id), (),
                            created, sys.intern(tenant))  # fmt: skip
            records.append(ItemRecord(item, values.get(item_id, {})))
        return records

    # -- the archive (signals.SignalArchive)

    def keep(self, signal: str, segment: Segment, value: bytes) -> None:
        s = segment
        with self._lock:
            self._db.execute(
                "INSERT INTO archive VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (signal, s.tenant, s.stream_id, s.segment_id, s.modality.value, s.start, s.end, time.time(), value),
            )

    def since(self, signal: str, tenant: str, since: float) -> list[tuple[Segment, bytes]]:
        """What `signal` kept for the tenant at or after `since` (unix seconds), oldest first."""
        with self._lock:
            rows = self._db.execute(
                'SELECT segment_id, stream_id, modality, start, "end", value FROM archive '
                "WHERE signal = ? AND tenant = ? AND stored_at >= ? ORDER BY stored_at, rowid",
                (signal, tenant, since),
            ).fetchall()
        return [(Segment(r[0], r[1], Modality(r[2]), r[3], r[4], tenant=tenant), r[5]) for r in rows]

    def erase_archive(self, scope: ErasureScope, spans: Spans | None = None) -> int:
        """Forget the archive rows in scope (adding the stretches they covered to `spans`); returns how many."""
        where, parameters = _archive_where(scope)
        with self.transaction() as db:
            rows = db.execute(f'DELETE FROM archive WHERE {where} RETURNING tenant, stream_id, start, "end"',
                              parameters).fetchall()  # fmt: skip
        if spans is not None:
            for tenant, stream_id, start, end in rows:
                spans.add(tenant, stream_id, start, end)
        return len(rows)

    def prune_archive(self, before: float) -> int:
        """Forget archive rows stored before `before` (unix seconds); returns how many."""
        with self.transaction() as db:
            return db.execute("DELETE FROM archive WHERE stored_at < ?", (before,)).rowcount


def _archive_where(scope: ErasureScope) -> tuple[str, tuple[object, ...]]:
    """SQL for the archive rows an erasure removes (the rule of store.erasure_expression)."""
    terms: list[str] = []
    parameters: list[object] = []
    if scope.tenant is not None:
        terms.append("tenant = ?")
        parameters.append(scope.tenant)
    elif scope.except_tenants:
        terms.append(f"tenant NOT IN ({', '.join('?' * len(scope.except_tenants))})")
        parameters += scope.except_tenants
    if scope.stream_id is not None:
        terms.append("stream_id = ?")
        parameters.append(scope.stream_id)
    if scope.start is not None:
        terms.append('("end" > ? OR start >= ?)')
        parameters += [scope.start, scope.start]
    if scope.end is not None:
        terms.append("start < ?")
        parameters.append(scope.end)
    if scope.stored_before is not None:
        terms.append("stored_at < ?")
        parameters.append(scope.stored_before)
    return " AND ".join(terms) or "1", tuple(parameters)
