"""The one facade the servicer talks to: every operation of the wire contract, on domain types.

It owns the long-lived parts that app.py built and wires them per call: admission and an
IngestSession for Ingest; the query embedder and the segment index for Search; moderation and
alert delivery for the moderation calls. It starts and stops the workers in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

from vigil_server.admission import Admission
from vigil_server.alerts import AlertHub, Subscription
from vigil_server.index import SegmentIndex
from vigil_server.ingest import IngestParts, IngestSession
from vigil_server.moderation import Moderation
from vigil_server.query import QueryEmbedder
from vigil_server.types import (
    Alert,
    BankItem,
    BankItemSpec,
    Chunk,
    IngestEvent,
    Match,
    SearchQuery,
    SegmentRef,
    StandingQuery,
    StandingQuerySpec,
    StreamConfig,
    WatchFilter,
)
from vigil_server.workers import ModelWorkers


class VigilService:
    def __init__(
        self,
        parts: IngestParts,
        query: QueryEmbedder,
        admission: Admission,
    ):
        self.parts = parts
        self.query = query
        self.admission = admission

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

    def start(self) -> None:
        """Start the worker threads; call from the event loop that serves."""
        self.workers.start()
        self.index.start()

    def stop(self) -> None:
        """Stop the workers, then close what they wrote to (blocking)."""
        self.workers.stop()
        self.alerts.close()
        self.index.stop()
        self.moderation.close()

    # -- streams and search

    async def ingest(self, config: StreamConfig, chunks: AsyncIterator[Chunk]) -> AsyncIterator[IngestEvent]:
        with self.admission.stream(config.tenant, config.stream_id):
            async for event in IngestSession(self.parts, config).run(chunks):
                yield event

    async def search(self, query: SearchQuery) -> list[Match]:
        """Search each modality, calibrate the scores, and merge into one list, best first."""
        vector = await self.query.embed(query.item, query.filter.tenant)
        search_filter = query.filter
        if isinstance(query.item, SegmentRef):
            search_filter = replace(search_filter, exclude_ids=(query.item.segment_id,))
        return await self.index.search(vector, search_filter, query.top_k)

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
        self, bank: str, text: str, label: str, archive_window_s: float | None, tenant: str
    ) -> tuple[int, int]:
        """Import a PDQ hash list; returns (items imported, archive alerts raised)."""
        imported, alerts = await self.moderation.import_hashes(bank, text, label, archive_window_s, tenant)
        return imported, self._deliver(alerts)

    def export_hashes(self, bank: str, tenant: str) -> str:
        return self.moderation.export_hashes(bank, tenant)

    def watch(self, watch: WatchFilter) -> Subscription:
        """Alerts that pass the filter, from this call on."""
        return self.alerts.watch(watch)

    def _deliver(self, alerts: list[Alert]) -> int:
        for alert in alerts:
            self.alerts.publish(alert)
        return len(alerts)
