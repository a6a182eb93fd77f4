"""Retention: data stored longer ago than its tenant's retention period is erased, on a schedule.

The period is `--retention-days` server-wide (0: kept forever), or a tenant's own `retention_days`
from the key file (identity.TenantPolicy; 0 there too means forever, None: the server's). Every
`--retention-check-every` seconds a pass erases, per period, what was stored before now minus the
period: archive rows, segments (by the store's `created_at`, the column SearchFilter.stored_after_ms
reads) with their words and copy descriptors, and the alerts and kept captions about the stretches
those covered (erasure.py). Live streams are included: a stream ingested for months keeps only
its last period. The first pass runs at start.

The clock is injectable (`clock`, unix seconds), so tests move time instead of waiting days.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from vigil_server.erasure import Erased, Eraser, ErasureStopped, Halt
from vigil_server.erasure_scope import ErasureScope
from vigil_server.identity import TenantPolicies
from vigil_server.settings import RetentionSettings

log = logging.getLogger(__name__)

DAY_S = 86400.0
STOP_WAIT_S = 60.0  # how long stopping waits for a retention batch in progress


class Retention:
    def __init__(
        self,
        eraser: Eraser,
        settings: RetentionSettings,
        policies: TenantPolicies | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.eraser = eraser
        self.settings = settings
        self.policies = policies  # None: no tenant has a period of its own
        self.clock = clock
        self._halt = Halt()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._passes = 0

    @property
    def passes(self) -> int:
        """Retention passes finished (for tests and logs)."""
        return self._passes

    def scopes(self, now: float) -> list[ErasureScope]:
        """What a pass at `now` erases: one scope per retention period in force."""
        own: dict[str, float] = {}
        if self.policies is not None:
            for tenant in self.policies.tenants():
                days = self.policies.policy(tenant).retention_days
                if days is not None:
                    own[tenant] = days
        scopes = []
        if self.settings.retention_days > 0:
            cutoff = now - self.settings.retention_days * DAY_S
            scopes.append(ErasureScope(None, except_tenants=tuple(sorted(own)), stored_before=cutoff))
        for tenant, days in sorted(own.items()):
            if days > 0:
                scopes.append(ErasureScope(tenant, stored_before=now - days * DAY_S))
        return scopes

    async def run_once(self) -> Erased:
        """One pass: erase everything past its retention period now."""
        total = Erased()
        for scope in self.scopes(self.clock()):
            total += await self.eraser.erase_stored_before(scope, self._halt)
        self._passes += 1
        if total != Erased():
            log.info("retention erased %d segments, %d alerts, %d archive entries",
                     total.segments, total.alerts, total.archive_entries)  # fmt: skip
        return total

    def start(self) -> None:
        """Run passes every `check_every_s` in the background; call from the event loop. No-op without periods."""
        if self.settings.retention_days <= 0 and self.policies is None:
            return
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run(), name="retention")

    async def _run(self) -> None:
        while not self._halt.halted:
            try:
                await self.run_once()
            except ErasureStopped:
                return
            except Exception:  # a failed pass (the store down) is retried at the next one
                log.exception("retention pass failed; retrying in %.0f s", self.settings.check_every_s)
            await asyncio.sleep(self.settings.check_every_s)

    def stop(self) -> None:
        """End the schedule (from any thread); returns once a pass in progress has stopped at its next batch."""
        task, loop = self._task, self._loop
        if task is not None and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: the task went with it
                loop.call_soon_threadsafe(task.cancel)
        if not self._halt.halt(STOP_WAIT_S):
            log.warning("a retention batch was still being erased after %.0f s; stopping anyway", STOP_WAIT_S)
