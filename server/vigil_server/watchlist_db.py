"""Persistence for moderation: standing queries, bank items, their hashes, and the hash archive.

One SQLite file in the data directory per embedding space (vectors from one space mean nothing
in another), beside the calibration file. It holds:

- standing queries with their query vector and negative vectors;
- bank items with their vectors (one per picture or distinct video frame), PDQ hashes and audio
  fingerprint;
- the archive: the PDQ hash of every frame and the Chromaprint fingerprint of every audio window
  of the streams ingested, kept for the archive window, so an item added later can be matched
  against what was already streamed (embedding matches come from the segment store itself).

Blocking API, safe to call from several threads; callers keep it off the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vigil_models.hashing import AudioFingerprint, PdqHash
from vigil_server.types import BankItem, Modality, ReferenceKind, StandingQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS queries (
    query_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, text TEXT NOT NULL, label TEXT NOT NULL,
    modalities TEXT NOT NULL, stream_ids TEXT NOT NULL, threshold REAL NOT NULL,
    example_count INTEGER NOT NULL, negative_count INTEGER NOT NULL, created_at REAL NOT NULL,
    vector BLOB NOT NULL, negatives BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS bank_items (
    item_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, bank TEXT NOT NULL, kind TEXT NOT NULL,
    label TEXT NOT NULL, external_id TEXT NOT NULL, created_at REAL NOT NULL,
    vectors BLOB NOT NULL, fingerprint BLOB NOT NULL, fingerprint_seconds REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS bank_hashes (
    item_id TEXT NOT NULL REFERENCES bank_items(item_id) ON DELETE CASCADE,
    hash BLOB NOT NULL, quality INTEGER
);
CREATE INDEX IF NOT EXISTS bank_hashes_item ON bank_hashes(item_id);
CREATE TABLE IF NOT EXISTS archive_frames (
    segment_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, stream_id TEXT NOT NULL,
    start REAL NOT NULL, "end" REAL NOT NULL, stored_at REAL NOT NULL, hash BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_frames_time ON archive_frames(stored_at);
CREATE TABLE IF NOT EXISTS archive_audio (
    tenant TEXT NOT NULL, stream_id TEXT NOT NULL, start REAL NOT NULL, "end" REAL NOT NULL,
    stored_at REAL NOT NULL, fingerprint BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS archive_audio_time ON archive_audio(stored_at);
"""


@dataclass(frozen=True)
class StoredQuery:
    query: StandingQuery
    vector: np.ndarray  # float32 [dim]
    negatives: np.ndarray  # float32 [n, dim]


@dataclass(frozen=True)
class StoredItem:
    item: BankItem
    vectors: np.ndarray  # float32 [n, descriptor_dim]: copy descriptors of the item's pictures (none for audio)
    hashes: tuple[PdqHash, ...]
    fingerprint: AudioFingerprint | None


@dataclass(frozen=True)
class ArchivedFrame:
    segment_id: str
    tenant: str
    stream_id: str
    start: float
    end: float
    hash: PdqHash


@dataclass(frozen=True)
class ArchivedAudio:
    tenant: str
    stream_id: str
    start: float
    end: float
    fingerprint: AudioFingerprint


def _matrix(blob: bytes, dim: int) -> np.ndarray:
    return np.frombuffer(blob, dtype=np.float32).reshape(-1, dim).copy()


def _fingerprint(blob: bytes, seconds: float) -> AudioFingerprint | None:
    if not blob:
        return None
    return AudioFingerprint(np.frombuffer(blob, dtype=np.uint32).copy(), seconds)


class WatchlistDb:
    def __init__(self, path: Path, dim: int, descriptor_dim: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.dim = dim  # standing query vectors: the shared space
        self.descriptor_dim = descriptor_dim  # bank pictures: copy descriptors
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
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

    # -- standing queries

    def add_query(self, stored: StoredQuery) -> None:
        q = stored.query
        with self._transaction() as db:
            db.execute(
                "INSERT INTO queries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    q.query_id, q.tenant, q.text, q.label, json.dumps([m.value for m in q.modalities]),
                    json.dumps(list(q.stream_ids)), q.threshold, q.example_count, q.negative_count,
                    q.created_at, stored.vector.astype(np.float32).tobytes(),
                    stored.negatives.astype(np.float32).tobytes(),
                ),
            )  # fmt: skip

    def remove_query(self, query_id: str, tenant: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM queries WHERE query_id = ? AND tenant = ?", (query_id, tenant))
            return cursor.rowcount > 0

    def queries(self) -> list[StoredQuery]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM queries ORDER BY created_at, query_id").fetchall()
        result = []
        for row in rows:
            (query_id, tenant, text, label, modalities, stream_ids, threshold, examples, negatives_n, created,
             vector, negatives) = row  # fmt: skip
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
            )
            result.append(StoredQuery(query, _matrix(vector, self.dim)[0], _matrix(negatives, self.dim)))
        return result

    # -- bank items

    def add_items(self, items: list[StoredItem]) -> None:
        """Add items (all or none)."""
        with self._transaction() as db:
            for stored in items:
                i = stored.item
                fingerprint = stored.fingerprint.items.astype(np.uint32).tobytes() if stored.fingerprint else b""
                db.execute(
                    "INSERT INTO bank_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        i.item_id, i.tenant, i.bank, i.kind.value, i.label, i.external_id, i.created_at,
                        stored.vectors.astype(np.float32).tobytes(), fingerprint, i.fingerprint_seconds,
                    ),
                )  # fmt: skip
                db.executemany(
                    "INSERT INTO bank_hashes VALUES (?, ?, ?)", [(i.item_id, h.bits, h.quality) for h in stored.hashes]
                )

    def remove_item(self, item_id: str, tenant: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM bank_items WHERE item_id = ? AND tenant = ?", (item_id, tenant))
            return cursor.rowcount > 0

    def items(self) -> list[StoredItem]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM bank_items ORDER BY created_at, item_id").fetchall()
            hash_rows = self._db.execute("SELECT item_id, hash, quality FROM bank_hashes ORDER BY rowid").fetchall()
        hashes: dict[str, list[PdqHash]] = {}
        for item_id, bits, quality in hash_rows:
            hashes.setdefault(item_id, []).append(PdqHash(bits, quality))
        result = []
        for item_id, tenant, bank, kind, label, external_id, created, vectors, fingerprint, seconds in rows:
            item_hashes = tuple(hashes.get(item_id, ()))
            item = BankItem(
                item_id=item_id,
                bank=bank,
                kind=ReferenceKind(kind),
                label=label,
                external_id=external_id,
                pdq_hashes=len(item_hashes),
                fingerprint_seconds=seconds,
                created_at=created,
                tenant=tenant,
            )
            matrix = _matrix(vectors, self.descriptor_dim)
            result.append(StoredItem(item, matrix, item_hashes, _fingerprint(fingerprint, seconds)))
        return result

    # -- archive

    def archive_frame(self, frame: ArchivedFrame) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO archive_frames VALUES (?, ?, ?, ?, ?, ?, ?)",
                (frame.segment_id, frame.tenant, frame.stream_id, frame.start, frame.end, time.time(), frame.hash.bits),
            )

    def archive_audio(self, audio: ArchivedAudio) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO archive_audio VALUES (?, ?, ?, ?, ?, ?)",
                (
                    audio.tenant, audio.stream_id, audio.start, audio.end, time.time(),
                    audio.fingerprint.items.astype(np.uint32).tobytes(),
                ),
            )  # fmt: skip

    def archived_frames(self, tenant: str, since: float) -> list[ArchivedFrame]:
        """Frame hashes stored at or after `since` (unix seconds)."""
        with self._lock:
            rows = self._db.execute(
                'SELECT segment_id, tenant, stream_id, start, "end", hash FROM archive_frames '
                "WHERE tenant = ? AND stored_at >= ? ORDER BY stored_at",
                (tenant, since),
            ).fetchall()
        return [ArchivedFrame(r[0], r[1], r[2], r[3], r[4], PdqHash(r[5])) for r in rows]

    def archived_audio(self, tenant: str, since: float) -> list[ArchivedAudio]:
        with self._lock:
            rows = self._db.execute(
                'SELECT tenant, stream_id, start, "end", fingerprint FROM archive_audio '
                "WHERE tenant = ? AND stored_at >= ? ORDER BY stored_at",
                (tenant, since),
            ).fetchall()
        return [
            ArchivedAudio(r[0], r[1], r[2], r[3], AudioFingerprint(np.frombuffer(r[4], dtype=np.uint32), r[3] - r[2]))
            for r in rows
        ]

    def prune_archive(self, before: float) -> int:
        """Forget archive rows stored before `before` (unix seconds); returns how many."""
        with self._transaction() as db:
            frames = db.execute("DELETE FROM archive_frames WHERE stored_at < ?", (before,)).rowcount
            audio = db.execute("DELETE FROM archive_audio WHERE stored_at < ?", (before,)).rowcount
        return frames + audio
