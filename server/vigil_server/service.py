"""The one facade the servicer talks to: every operation of the wire contract, on domain types.

It owns the long-lived parts that app.py built and wires them per call: admission and an
IngestSession for Ingest; the query embedder and the segment index for Search; moderation and
alert delivery for the moderation calls. It starts and stops the workers in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from typing import cast

from vigil_server.admission import Admission
from vigil_server.alerts import AlertHub, Subscription
from vigil_server.captions import CaptionHub, CaptionWatch
from vigil_server.erasure import Erased, Eraser
from vigil_server.errors import Unsupported
from vigil_server.hybrid import HybridSearch
from vigil_server.identity import NO_POLICY, TenantPolicy
from vigil_server.index import SegmentIndex
from vigil_server.ingest import IngestParts, IngestSession
from vigil_server.listing import Cursor, SegmentPage
from vigil_server.moderation import Lookup, Moderation
from vigil_server.query import QueryEmbedder
from vigil_server.retention import Retention
from vigil_server.types import (
    Alert,
    AlertFilter,
    AlertPage,
    AlertRecord,
    BankInfo,
    BankItem,
    BankItemSpec,
    BankSettingsChange,
    Chunk,
    HashListForm,
    HashQuery,
    IngestEvent,
    LookupMatch,
    Match,
    ReferenceKind,
    SearchFilter,
    SearchQuery,
    SegmentStored,
    StandingQuery,
    StandingQuerySpec,
    StreamConfig,
    Verdict,
    WatchFilter,
)
from vigil_server.workers import ModelWorkers


class VigilService:
    def __init__(
        self,
        parts: IngestParts,
        query: QueryEmbedder,
        admission: Admission,
        lookup: Lookup,
        eraser: Eraser,
        retention: Retention,
    ):
        self.parts = parts
        self.query = query
        self.admission = admission
        self.lookup = lookup
        self.eraser = eraser
        self.retention = retention

    @property
    def workers(self) -> ModelWorkers:
        return self.parts.workers

    @property
    def index(self) -> SegmentIndex:
        return self.parts.index

    @property
    def moderation(self) -> Moderation:
        return self.parts.moderation

    @property
    def alerts(self) -> AlertHub:
        return self.parts.alerts

    @property
    def captions(self) -> CaptionHub:
        return self.parts.captions

    def start(self) -> None:
        """Start the worker threads; call from the event loop that serves."""
        self.workers.start()
        self.index.start()
        self.alerts.start()  # flood-control holds kept across a restart
        self.retention.start()  # erases data past its retention period, on a schedule

    def stop(self) -> None:
        """Stop the workers, then close what they wrote to (blocking)."""
        self.retention.stop()
        self.workers.stop()
        self.alerts.close()
        self.index.stop()
        self.moderation.close()

    # -- streams and search

    async def ingest(
        self, config: StreamConfig, chunks: AsyncIterator[Chunk], policy: TenantPolicy = NO_POLICY
    ) -> AsyncIterator[IngestEvent]:
        """Run one Ingest call within the tenant's limits (admission.py): streams, bytes per second, segments."""
        stored = None
        if policy.max_stored_segments is not None:
            stored = await asyncio.to_thread(self.index.store.count_of_tenant, config.tenant)
        with self.admission.stream(config.tenant, config.stream_id, policy, stored) as quota:
            body = self.admission.metered(config.tenant, chunks, policy)
            session = cast(AsyncGenerator[IngestEvent, None], IngestSession(self.parts, config).run(body))
            async with contextlib.aclosing(session) as events:
                async for event in events:
                    yield event
                    if isinstance(event, SegmentStored):
                        quota.stored()  # ends the call once the tenant is at its max_stored_segments

    async def search(self, query: SearchQuery) -> list[Match]:
        """Search each modality (and passages' sentences, and keywords: hybrid.py), best first."""
        return await HybridSearch(self.query, self.index).search(query)

    async def list_segments(self, search_filter: SearchFilter, page_size: int, after: Cursor | None) -> SegmentPage:
        """A stream's stored segments in time order, a page at a time."""
        return await self.index.list_segments(search_filter, page_size, after)

    # -- erasure

    async def delete_stream(self, tenant: str, stream_id: str) -> Erased:
        """Erase one of the tenant's streams everywhere (erasure.py); nothing for an unknown stream."""
        return await self.eraser.delete_stream(tenant, stream_id)

    async def delete_segments(self, tenant: str, stream_id: str, start: float, end: float) -> Erased:
        """Erase a stream's segments overlapping [start, end) and what is about that stretch."""
        return await self.eraser.delete_segments(tenant, stream_id, start, end)

    # -- captions

    def watch_captions(
        self, tenant: str, stream_id: str, interims: bool, descriptions: bool, replay: int | None
    ) -> CaptionWatch:
        """A stream's captions: its state, a replay of up to `replay` finals (None: all kept), then live ones."""
        if descriptions and not self.workers.describes_frames:
            raise Unsupported(
                "frame descriptions need a model that names what frames show; this server's space cannot "
                "(descriptions work with the packaged label-space model)",
                field="descriptions",
            )
        kept = self.captions.settings.replay
        return self.captions.watch(tenant, stream_id, interims, descriptions, kept if replay is None else replay)

    # -- moderation

    async def add_query(self, spec: StandingQuerySpec) -> StandingQuery:
        return await self.moderation.add_query(spec)

    def list_queries(self, tenant: str) -> list[StandingQuery]:
        return self.moderation.queries(tenant)

    async def remove_query(self, query_id: str, tenant: str) -> None:
        await self.moderation.remove_query(query_id, tenant)

    async def add_item(self, spec: BankItemSpec) -> tuple[BankItem, int]:
        """Add a reference item; returns it and how many archive alerts it raised (they are delivered)."""
        item, alerts = await self.moderation.add_item(spec)
        return item, self._deliver(alerts)

    def list_items(self, tenant: str, bank: str) -> list[BankItem]:
        return self.moderation.items(tenant, bank)

    async def remove_item(self, item_id: str, tenant: str) -> None:
        await self.moderation.remove_item(item_id, tenant)

    async def import_hashes(
        self,
        bank: str,
        text: str,
        label: str,
        archive_window_s: float | None,
        tenant: str,
        signal_type: str = "",
        external_id: str = "",
    ) -> tuple[dict[str, int], int]:
        """Import a hash list; returns (items imported per signal, archive alerts raised)."""
        imported, alerts = await self.moderation.import_hashes(
            bank, text, label, archive_window_s, tenant, signal_type, external_id
        )
        return imported, self._deliver(alerts)

    def export_hashes(self, bank: str, tenant: str, form: HashListForm = HashListForm.PDQ, item_id: str = "") -> str:
        """A bank's (or an item's) hashes as a list: PDQ-only, typed, or one item's vPDQ file."""
        if form is HashListForm.TYPED:
            return self.moderation.export_typed(bank, tenant, item_id)
        if form is HashListForm.VPDQ:
            return self.moderation.export_file("vpdq", item_id, tenant)
        return self.moderation.export_hashes(bank, tenant)

    # -- lookups, bank settings, reviews

    async def match_file(self, kind: ReferenceKind, data: bytes, fmt: str, tenant: str) -> list[LookupMatch]:
        """The bank items an uploaded file matches; nothing is stored or alerted."""
        return await self.lookup.match_file(kind, data, fmt, tenant)

    async def match_hashes(self, queries: Sequence[HashQuery], tenant: str) -> list[LookupMatch]:
        """The bank items some hashes match; nothing is stored or alerted."""
        return await self.lookup.match_hashes(queries, tenant)

    async def set_bank(self, change: BankSettingsChange) -> BankInfo:
        return await self.moderation.set_bank(change)

    def list_banks(self, tenant: str) -> list[BankInfo]:
        return self.moderation.banks_of(tenant)

    def default_thresholds(self) -> dict[str, float]:
        return self.moderation.default_thresholds()

    async def review_alert(self, alert_id: str, tenant: str, verdict: Verdict, reviewer: str, note: str) -> AlertRecord:
        return await self.moderation.review(alert_id, tenant, verdict, reviewer, note)

    def watch(self, watch: WatchFilter, resume_after: int | None = None) -> Subscription:
        """Alerts that pass the filter, from this call on; with `resume_after`, the stored ones after it first."""
        return self.alerts.watch(watch, resume_after)

    async def list_alerts(self, alert_filter: AlertFilter, page_size: int) -> AlertPage:
        """Stored alerts, oldest first, with their reviews: a page, and whether more may follow."""
        alerts = await asyncio.to_thread(self.moderation.alert_log.page, alert_filter, page_size + 1)
        return AlertPage(alerts[:page_size], len(alerts) > page_size)

    def _deliver(self, alerts: list[Alert]) -> int:
        for alert in alerts:
            self.alerts.publish(alert)
        return len(alerts)
