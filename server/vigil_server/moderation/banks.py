"""Bank settings: enabled or not, allow-list or block list, threshold overrides; and allow-list counters.

A bank exists while it holds items or has settings. Settings live in the moderation database
beside the items (table `banks`), one row per bank that was ever configured; a bank without a row
has the defaults (enabled, a block list, the server's thresholds). `suppressed` counts the alerts
of other banks that the bank's allow-list matches kept back; it is written as it happens.

Blocking API, safe to call from several threads; callers keep it off the event loop.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping

from vigil_server.moderation.rules_db import RulesDb
from vigil_server.types import DEFAULT_TENANT, BankSettings

SCHEMA = """
CREATE TABLE IF NOT EXISTS banks (
    tenant TEXT NOT NULL, bank TEXT NOT NULL, enabled INTEGER NOT NULL, allow_list INTEGER NOT NULL,
    thresholds TEXT NOT NULL, suppressed INTEGER NOT NULL DEFAULT 0, updated_at REAL NOT NULL,
    PRIMARY KEY (tenant, bank)
);
"""


class BankBook:
    def __init__(self, db: RulesDb):
        self.db = db
        with db.transaction() as conn:
            conn.execute(SCHEMA)
            rows = conn.execute("SELECT tenant, bank, enabled, allow_list, thresholds, suppressed, updated_at "
                                "FROM banks").fetchall()  # fmt: skip
        self._lock = threading.Lock()
        self._suppressed: dict[tuple[str, str], int] = {}
        self._settings: dict[tuple[str, str], BankSettings] = {}
        for tenant, bank, enabled, allow_list, thresholds, suppressed, updated_at in rows:
            pairs = tuple(sorted((str(k), float(v)) for k, v in json.loads(thresholds).items()))
            self._settings[(tenant, bank)] = BankSettings(bank, bool(enabled), bool(allow_list), pairs, tenant,
                                                          updated_at)  # fmt: skip
            self._suppressed[(tenant, bank)] = suppressed

    def all(self) -> list[BankSettings]:
        return list(self._settings.values())

    def suppressed(self, tenant: str, bank: str) -> int:
        return self._suppressed.get((tenant, bank), 0)

    def save(self, settings: BankSettings) -> BankSettings:
        """Store a bank's settings (its counter stays); returns them with the time they were set."""
        settings = _stamped(settings)
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO banks (tenant, bank, enabled, allow_list, thresholds, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, bank) DO UPDATE SET enabled = excluded.enabled, "
                "allow_list = excluded.allow_list, thresholds = excluded.thresholds, updated_at = excluded.updated_at",
                (settings.tenant, settings.bank, int(settings.enabled), int(settings.allow_list),
                 json.dumps(dict(settings.thresholds)), settings.updated_at),
            )  # fmt: skip
        with self._lock:
            self._settings[(settings.tenant, settings.bank)] = settings
        return settings

    def count_suppressed(self, counts: Mapping[tuple[str, str], int]) -> None:
        """Add to allow-list banks' counters: (tenant, bank) -> alerts kept back."""
        if not counts:
            return
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE banks SET suppressed = suppressed + ? WHERE tenant = ? AND bank = ?",
                [(n, tenant, bank) for (tenant, bank), n in counts.items()],
            )
        with self._lock:
            for key, n in counts.items():
                self._suppressed[key] = self._suppressed.get(key, 0) + n


def _stamped(settings: BankSettings) -> BankSettings:
    return BankSettings(settings.bank, settings.enabled, settings.allow_list, tuple(sorted(settings.thresholds)),
                        settings.tenant or DEFAULT_TENANT, time.time())  # fmt: skip
