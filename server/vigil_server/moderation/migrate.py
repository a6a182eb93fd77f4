"""Moderation databases written before signals were pluggable (schema 1) are moved into schema 2.

Schema 1 kept each signal in its own columns and tables: `bank_items.vectors` (copy descriptors),
`bank_hashes` (PDQ), `bank_items.fingerprint` (Chromaprint), `archive_frames` and `archive_audio`.
They are read once, re-encoded by the signals that now own them, and dropped, in one transaction:
an interrupted start leaves schema 1 whole and the next start migrates again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import numpy as np

from vigil_models.hashing import AudioFingerprint, PdqHash
from vigil_server.moderation.rules_db import RulesDb
from vigil_server.moderation.signals import Signal

log = logging.getLogger(__name__)

OLD_TABLES = ("bank_hashes", "bank_items", "archive_frames", "archive_audio")


def migrate_v1(db: RulesDb, signals: Mapping[str, Signal[Any, Any]]) -> int:
    """Move schema-1 items and archive rows to the signal tables; returns the items moved."""
    with db.transaction() as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "bank_items" not in tables:
            return 0
        descriptors, pdq, chromaprint = signals["copy_descriptor"], signals["pdq"], signals["chromaprint"]
        hashes: dict[str, list[PdqHash]] = {}
        for item_id, bits, quality in conn.execute("SELECT item_id, hash, quality FROM bank_hashes ORDER BY rowid"):
            hashes.setdefault(item_id, []).append(PdqHash(bits, quality))
        items = conn.execute("SELECT * FROM bank_items").fetchall()
        for item_id, tenant, bank, kind, label, external_id, created, vectors, fingerprint, seconds in items:
            conn.execute("INSERT INTO items VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (item_id, tenant, bank, kind, label, external_id, created))  # fmt: skip
            values: dict[Signal[Any, Any], Any] = {}
            if vectors:
                values[descriptors] = descriptors.decode(vectors)
            if item_id in hashes:
                values[pdq] = tuple(hashes[item_id])
            if fingerprint:
                values[chromaprint] = AudioFingerprint(np.frombuffer(fingerprint, dtype=np.uint32).copy(), seconds)
            conn.executemany(
                "INSERT INTO item_signals VALUES (?, ?, ?, ?)",
                [(item_id, s.name, s.encode(v), s.amount(v)) for s, v in values.items()],
            )
        archived = conn.execute(
            'SELECT segment_id, tenant, stream_id, start, "end", stored_at, hash FROM archive_frames'
        )
        conn.executemany(
            "INSERT INTO archive VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (pdq.name, t, s, seg, "frame", a, b, at, pdq.encode_live((PdqHash(h),)))
                for seg, t, s, a, b, at, h in archived
            ],
        )
        audio = conn.execute('SELECT tenant, stream_id, start, "end", stored_at, fingerprint FROM archive_audio')
        conn.executemany(
            "INSERT INTO archive VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (chromaprint.name, t, s, "", "sound", a, b, at,
                 chromaprint.encode_live(AudioFingerprint(np.frombuffer(f, dtype=np.uint32).copy(), b - a)))
                for t, s, a, b, at, f in audio
            ],
        )  # fmt: skip
        for table in OLD_TABLES:
            conn.execute(f"DROP TABLE IF EXISTS {table}")
    log.info("moved %d bank items and the archive of %s to schema 2", len(items), db.path)
    return len(items)
