"""Erasure: a stream's data, a stretch of it, or a tenant's data stored before its retention cutoff,
removed from everywhere the server keeps it.

For DeleteStream and DeleteSegments (one tenant's stream, optionally a time range), in this order:

1. the stored alerts about it (moderation/review.py `AlertLog.erase`: the alert log, the stored
   alerts with their thumbnails and evidence, flood-control holds, and the reviews of those alerts);
2. the archive: what the signals kept of it for archive searches (PDQ and vPDQ hashes, audio
   fingerprints, file digests: moderation/rules_db.py), so a bank item added later cannot match it;
3. its segments in Milvus, a batch at a time, each batch's words leaving the keyword index
   (word_index.py) first, then the frames' copy descriptors (store.py);
4. the captions the stream's feed keeps in memory for late joiners (captions.py).

Each step is idempotent, so a call that failed part-way is finished by a retry, and an unknown
stream erases nothing. The stream may not be ingested meanwhile (admission.py: deleting a stream
being ingested is refused, FAILED_PRECONDITION, and so is an Ingest call for a stream being
erased). Nothing erased comes back after a restart: Milvus and SQLite deletes are durable when
the call returns, and the keyword index is rebuilt from Milvus.

Retention (retention.py) erases by stored time instead, across a tenant's streams, live ones too:
archive rows and segments stored before the cutoff, and the alerts and kept captions about the
stretches of stream time those covered (each batch's alerts before the batch itself).

Not touched: the calibration statistics (calibrate.py), which are aggregates over probe texts and
hold no segment, and standing queries and bank items, which are the tenant's own rules.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass
from typing import Protocol

from vigil_server.admission import Admission
from vigil_server.captions import CaptionHub
from vigil_server.erasure_scope import ErasureScope, Spans, StoredSpan
from vigil_server.index import SegmentIndex

log = logging.getLogger(__name__)


class AlertEraser(Protocol):
    """The alert store's erasure (moderation/review.py AlertLog)."""

    def erase(self, tenant: str, stream_id: str, start: float | None = None, end: float | None = None) -> int: ...


class ArchiveEraser(Protocol):
    """The signals' archive's erasure (moderation/rules_db.py RulesDb)."""

    def erase_archive(self, scope: ErasureScope, spans: Spans | None = None) -> int: ...


@dataclass(frozen=True)
class Erased:
    """What one erasure removed."""

    segments: int = 0  # every modality
    alerts: int = 0
    archive_entries: int = 0  # archived hashes and fingerprints

    def __add__(self, other: Erased) -> Erased:
        return Erased(
            self.segments + other.segments, self.alerts + other.alerts, self.archive_entries + other.archive_entries
        )


class ErasureStopped(Exception):
    """The server is stopping: a retention pass ends between batches (the next one picks up the rest)."""


class Halt:
    """Stops retention erasures from another thread (at their next batch), and waits until they have."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._busy = threading.Lock()  # held by the thread erasing

    def check(self) -> None:
        if self._stop.is_set():
            raise ErasureStopped

    @property
    def halted(self) -> bool:
        return self._stop.is_set()

    def halt(self, timeout_s: float) -> bool:
        """Stop erasing; True once no erasure runs (False: one still did after `timeout_s`)."""
        self._stop.set()
        if not self._busy.acquire(timeout=timeout_s):
            return False
        self._busy.release()
        return True


class Eraser:
    def __init__(
        self,
        index: SegmentIndex,
        archive: ArchiveEraser,
        alerts: AlertEraser,
        captions: CaptionHub,
        admission: Admission,
    ):
        self.index = index
        self.archive = archive
        self.alerts = alerts
        self.captions = captions
        self.admission = admission

    async def delete_stream(self, tenant: str, stream_id: str) -> Erased:
        """Erase everything of one of the tenant's streams; Unsupported while it is being ingested."""
        return await self._delete(ErasureScope(tenant, stream_id=stream_id))

    async def delete_segments(self, tenant: str, stream_id: str, start: float, end: float) -> Erased:
        """Erase a stream's segments overlapping [start, end) and what is about that stretch."""
        return await self._delete(ErasureScope(tenant, stream_id=stream_id, start=start, end=end))

    async def _delete(self, scope: ErasureScope) -> Erased:
        assert scope.tenant is not None and scope.stream_id is not None
        with self.admission.erasing(scope.tenant, scope.stream_id):
            erased = await asyncio.to_thread(self._erase_stretch, scope)
            self.captions.forget(scope.tenant, scope.stream_id, scope.start, scope.end)
        log.info(
            "erased stream %s of tenant %s%s: %d segments, %d alerts, %d archive entries",
            scope.stream_id,
            scope.tenant,
            "" if scope.start is None else f" [{scope.start:g}, {scope.end:g})",
            erased.segments,
            erased.alerts,
            erased.archive_entries,
        )
        return erased

    def _erase_stretch(self, scope: ErasureScope) -> Erased:
        assert scope.tenant is not None and scope.stream_id is not None
        alerts = self.alerts.erase(scope.tenant, scope.stream_id, scope.start, scope.end)
        archive = self.archive.erase_archive(scope)
        segments = self.index.erase(scope)
        return Erased(segments, alerts, archive)

    async def erase_stored_before(self, scope: ErasureScope, halt: Halt | None = None) -> Erased:
        """Erase what the scope holds that was stored before `scope.stored_before` (retention).

        `halt`: once halted, the erasure ends between batches (ErasureStopped); what it erased stays erased.
        """
        assert scope.stored_before is not None
        erased, spans = await asyncio.to_thread(self._erase_old, scope, halt or Halt())
        for tenant, stream_id, start, end in spans:
            self.captions.forget(tenant, stream_id, start, end)
        return erased

    def _erase_old(self, scope: ErasureScope, halt: Halt) -> tuple[Erased, Spans]:
        with halt._busy:
            halt.check()
            return self._erase_old_now(scope, halt)

    def _erase_old_now(self, scope: ErasureScope, halt: Halt) -> tuple[Erased, Spans]:
        everything = Spans()
        archived = Spans()
        archive = self.archive.erase_archive(scope, archived)
        alerts = self._erase_alerts(archived, everything)

        def before(batch: list[StoredSpan]) -> None:
            nonlocal alerts
            halt.check()
            spans = Spans()
            for s in batch:
                spans.add(s.tenant, s.stream_id, s.start, s.end)
            alerts += self._erase_alerts(spans, everything)

        segments = self.index.erase(scope, before)
        return Erased(segments, alerts, archive), everything

    def _erase_alerts(self, spans: Spans, into: Spans) -> int:
        """Erase the alerts about each stretch; the stretches join `into`."""
        erased = 0
        for tenant, stream_id, start, end in spans:
            erased += self.alerts.erase(tenant, stream_id, start, end)
            into.add(tenant, stream_id, start, end)
        return erased
