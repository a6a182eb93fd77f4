"""Moderation stage: standing queries, reference banks and the archive; returns alerts.

Ingest calls in as each segment is stored (`check_segment`, `check_frame`) and as each stream's
audio arrives (a per-stream `AudioScanner`). Each returns the alerts it raised; delivering them
(flood control, Watch calls) is alerts.py's job, not this module's.

Every check loops over the signals (signals/) that read that kind of live media; none is named
here. Adding a bank item describes it with every signal and, unless disabled, searches each
signal's archive of the last `archive_window_s`, so a re-upload that streamed before the item
was flagged is still caught.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vigil_models.hashing import export_pdq_list, import_pdq_list
from vigil_server.calibrate import Calibration
from vigil_server.clock import AudioWindow, stream_time
from vigil_server.errors import InvalidMedia, InvalidRequest, NotFound
from vigil_server.moderation.items import ItemMediaLoader
from vigil_server.moderation.rules import Rules, StoredItem, StoredQuery, reference_alert
from vigil_server.moderation.rules_db import ItemRecord, RulesDb
from vigil_server.moderation.signals import Comparison, LiveAudio, LiveFrame, LiveInput, PdqSignal, Signal
from vigil_server.moderation.thumbnails import jpeg_thumbnail
from vigil_server.settings import ModerationSettings
from vigil_server.types import (
    Alert,
    BankItem,
    BankItemSpec,
    Modality,
    QueryItem,
    ReferenceKind,
    Segment,
    SignalAmount,
    StandingQuery,
    StandingQuerySpec,
    TextItem,
)
from vigil_server.vectors import normalise

log = logging.getLogger(__name__)

# Stream audio is checked in windows this long, one every AUDIO_HOP_S (an item playing across a
# window's edge is still found whole in the next window).
AUDIO_WINDOW_S = 20.0
AUDIO_HOP_S = 5.0
PRUNE_EVERY = 1000  # archive rows written between prunes
# What to say when no signal can describe a reference item.
UNDESCRIBED = {
    ReferenceKind.IMAGE: "the picture has too little detail for any signal to describe it",
    ReferenceKind.AUDIO: "the audio reference has too little sound to fingerprint (it needs a few seconds)",
    ReferenceKind.VIDEO: "the video reference has no frame with enough detail and no audio to fingerprint",
}

EmbedQuery = Callable[[QueryItem, str], Awaitable[np.ndarray]]  # item, tenant -> unit vector


class Moderation:
    def __init__(
        self,
        db: RulesDb,
        signals: Sequence[Signal[Any, Any]],
        calibration: Callable[[Modality], Calibration],
        embed: EmbedQuery,
        media: ItemMediaLoader,
        settings: ModerationSettings,
    ):
        self.db = db
        self.signals = list(signals)
        self.embed = embed
        self.media = media
        self.settings = settings
        self.rules = Rules(calibration, signals, db.dim)
        self._kept = 0
        self.rules.load(db.queries(), [self._stored(record) for record in db.items()])

    def close(self) -> None:
        self.db.close()

    def _reading(self, kind: LiveInput) -> list[Signal[Any, Any]]:
        return [s for s in self.signals if s.reads is kind]

    # -- standing queries

    async def add_query(self, spec: StandingQuerySpec) -> StandingQuery:
        parts = [await self.embed(TextItem(spec.text), spec.tenant)] if spec.text else []
        parts += [await self.embed(item, spec.tenant) for item in spec.examples]
        if not parts:
            raise InvalidRequest("a standing query needs text or at least one example")
        negatives = [await self.embed(item, spec.tenant) for item in spec.negatives]
        query = StandingQuery(
            query_id=uuid.uuid4().hex,
            text=spec.text,
            label=spec.label or spec.text or f"query with {len(spec.examples)} example(s)",
            modalities=spec.modalities,
            stream_ids=spec.stream_ids,
            threshold=spec.threshold or self.settings.query_threshold,
            example_count=len(spec.examples),
            negative_count=len(spec.negatives),
            created_at=time.time(),
            tenant=spec.tenant,
        )
        negative_matrix = np.stack(negatives) if negatives else np.zeros((0, self.db.dim), np.float32)
        stored = StoredQuery(query, normalise(parts), negative_matrix)
        await asyncio.to_thread(self.db.add_query, stored)
        self.rules.add_query(stored)
        log.info("standing query %s added: %r threshold %.2f", query.query_id, query.label, query.threshold)
        return query

    def queries(self, tenant: str) -> list[StandingQuery]:
        return self.rules.queries(tenant)

    async def remove_query(self, query_id: str, tenant: str) -> None:
        if not await asyncio.to_thread(self.db.remove_query, query_id, tenant):
            raise NotFound(f"no standing query with id {query_id!r}", field="query_id")
        self.rules.remove_query(query_id)

    # -- reference banks

    def _stored(self, record: ItemRecord) -> StoredItem:
        """An item as loaded from the database: decoded by each signal it has values for."""
        values, amounts = {}, []
        for signal in self.signals:
            if signal.name in record.values:
                blob, amount = record.values[signal.name]
                values[signal.name] = signal.decode(blob)
                amounts.append(SignalAmount(signal.name, signal.method, amount))
        return StoredItem(replace(record.item, signals=tuple(amounts)), values)

    async def add_item(self, spec: BankItemSpec) -> tuple[BankItem, list[Alert]]:
        """Add one reference item; returns it and the alerts its archive search raised."""
        media = await self.media.load(spec)
        described = {s.name: v for s in self.signals if (v := await s.describe_item(media)) is not None}
        if not described:
            raise InvalidMedia(UNDESCRIBED[spec.kind])
        item = BankItem(uuid.uuid4().hex, spec.bank, spec.kind, spec.label, spec.external_id, (), time.time(),
                        spec.tenant)  # fmt: skip
        stored = await self._add([(item, described)])
        log.info("bank %s: added %s item %s %r", item.bank, item.kind.value, item.item_id, item.label)
        return stored[0].item, await self._search_archive(stored, spec.archive_window_s)

    async def _add(self, items: list[tuple[BankItem, dict[str, Any]]]) -> list[StoredItem]:
        by_name = {s.name: s for s in self.signals}
        records = [
            ItemRecord(item, {n: (by_name[n].encode(v), by_name[n].amount(v)) for n, v in values.items()})
            for item, values in items
        ]
        await asyncio.to_thread(self.db.add_items, records)
        stored = [self._stored(record) for record in records]
        self.rules.add_items(stored)
        return stored

    def _pdq(self) -> PdqSignal:
        pdq = next((s for s in self.signals if isinstance(s, PdqSignal)), None)
        if pdq is None:
            raise InvalidRequest("this server has no PDQ signal, so it cannot import or export PDQ hash lists")
        return pdq

    async def import_hashes(
        self, bank: str, text: str, label: str, archive_window_s: float | None, tenant: str
    ) -> tuple[int, list[Alert]]:
        """Add one PDQ_HASH item per line of a hash list; returns how many, and the archive alerts."""
        pdq = self._pdq()
        try:
            entries = import_pdq_list(text)
        except ValueError as exc:
            raise InvalidRequest(f"the hash list cannot be read: {exc}", field="hash_list") from exc
        if not entries:
            raise InvalidRequest("the hash list holds no hashes", field="hash_list")
        now = time.time()
        items = [
            (BankItem(uuid.uuid4().hex, bank, ReferenceKind.PDQ_HASH, line_label or label, "", (), now, tenant),
             {pdq.name: (value,)})
            for value, line_label in entries
        ]  # fmt: skip
        stored = await self._add(items)
        log.info("bank %s: imported %d hashes", bank, len(stored))
        return len(stored), await self._search_archive(stored, archive_window_s)

    def export_hashes(self, bank: str, tenant: str) -> str:
        pdq = self._pdq()
        lines = []
        for item in self.rules.items(tenant, bank):
            stored = self.rules.stored_item(item.item_id, tenant)
            assert stored is not None
            hashes = stored.values.get(pdq.name, ())
            # A picture keeps the hashes of its 8 rotations and flips: export the picture's own.
            lines += [(h, item.label) for h in (hashes[:1] if item.kind is ReferenceKind.IMAGE else hashes)]
        return export_pdq_list(lines)

    def items(self, tenant: str, bank: str = "") -> list[BankItem]:
        return self.rules.items(tenant, bank)

    async def remove_item(self, item_id: str, tenant: str) -> None:
        if not await asyncio.to_thread(self.db.remove_item, item_id, tenant):
            raise NotFound(f"no bank item with id {item_id!r}", field="item_id")
        self.rules.remove_item(item_id)

    # -- checks as segments are stored

    def check_segment(self, segment: Segment, vector: np.ndarray) -> list[Alert]:
        """Standing queries a stored speech or sound segment fires."""
        return self.rules.match_queries(segment, vector)

    async def check_frame(
        self, segment: Segment, vector: np.ndarray, descriptor: np.ndarray, pixels: np.ndarray, aspect: float
    ) -> list[Alert]:
        """Archive a stored frame's signals, then check it against standing queries and bank items."""
        return await asyncio.to_thread(self._check_frame, LiveFrame(segment, pixels, descriptor), vector, aspect)

    def _check_frame(self, frame: LiveFrame, vector: np.ndarray, aspect: float) -> list[Alert]:
        live = self._describe(frame, self._reading(LiveInput.FRAME), frame.segment)
        matches = self.rules.match_items(live, frame.segment)
        alerts = self.rules.match_queries(frame.segment, vector)
        alerts += [reference_alert(stored.item, frame.segment, comparisons) for stored, comparisons in matches]
        if alerts:
            thumbnail = jpeg_thumbnail(frame.pixels, aspect)
            alerts = [replace(a, thumbnail_jpeg=thumbnail) for a in alerts]
        return alerts

    def _describe(
        self, live: LiveFrame | LiveAudio, signals: Sequence[Signal[Any, Any]], segment: Segment
    ) -> dict[str, Any]:
        """Each signal's description of live media, kept in the archive when archiving."""
        values = {}
        for signal in signals:
            value = signal.describe_live(live)
            if value is None:
                continue
            values[signal.name] = value
            if self.archiving:
                signal.keep(self.db, segment, value)
                self._kept += 1
                if self._kept % PRUNE_EVERY == 0:
                    self.db.prune_archive(time.time() - self.settings.archive_window_s)
        return values

    @property
    def archiving(self) -> bool:
        """Whether what streams by is kept for archive searches (--archive-window > 0)."""
        return self.settings.archive_window_s > 0

    def audio_scanner(self, tenant: str, stream_id: str, time_offset: float) -> AudioScanner:
        return AudioScanner(self, tenant, stream_id, time_offset)

    # -- archive search

    async def _search_archive(self, items: list[StoredItem], window_s: float | None) -> list[Alert]:
        window = self.settings.archive_window_s if window_s is None else window_s
        if window <= 0 or not items:
            return []
        alerts = await asyncio.to_thread(self._archive_matches, items, time.time() - window)
        if alerts:
            log.info("archive search found %d matches for %d new item(s)", len(alerts), len(items))
        return alerts

    def _archive_matches(self, items: list[StoredItem], since: float) -> list[Alert]:
        tenant = items[0].item.tenant
        alerts: list[Alert] = []
        for stored in items:
            # Frames: one alert per archived frame, with the evidence of every signal that found it.
            frames: dict[str, tuple[Segment, list[Comparison]]] = {}
            places: list[tuple[Segment, list[Comparison]]] = []  # audio: where the item plays
            for signal in self.signals:
                if signal.name not in stored.values:
                    continue
                hits = signal.search_archive(
                    self.db, [(stored.item.item_id, stored.values[signal.name])], tenant, since
                )
                for hit in hits:
                    if hit.comparison.span is not None:
                        places.append((hit.segment, [hit.comparison]))
                    else:
                        frames.setdefault(hit.segment.segment_id, (hit.segment, []))[1].append(hit.comparison)
            alerts += [reference_alert(stored.item, s, c, from_archive=True) for s, c in frames.values()]
            alerts += _one_per_place([reference_alert(stored.item, s, c, from_archive=True) for s, c in places])
        alerts.sort(key=lambda a: (a.stream_id, a.start))
        return alerts


def _one_per_place(alerts: list[Alert]) -> list[Alert]:
    """Overlapping audio windows find one place several times: keep the strongest alert per place."""
    alerts = sorted(alerts, key=lambda a: (a.stream_id, a.start))
    places: list[Alert] = []
    for alert in alerts:
        last = places[-1] if places else None
        if last is not None and last.stream_id == alert.stream_id and alert.start < last.end:
            if _strength(alert) > _strength(last):
                places[-1] = alert
            continue
        places.append(alert)
    return places


def _strength(alert: Alert) -> float:
    return max((e.value for e in alert.evidence if e.matched), default=0.0)


class AudioScanner:
    """Per stream: each audio window is described by the audio signals, archived, and matched against items."""

    def __init__(self, moderation: Moderation, tenant: str, stream_id: str, time_offset: float):
        self.moderation = moderation
        self.tenant = tenant
        self.stream_id = stream_id
        self.time_offset = time_offset
        self._signals = moderation._reading(LiveInput.AUDIO)
        self._reported: dict[str, float] = {}  # item id -> end of the last place reported

    async def scan(self, window: AudioWindow) -> list[Alert]:
        return await asyncio.to_thread(self._scan, window)

    def _scan(self, window: AudioWindow) -> list[Alert]:
        moderation = self.moderation
        signals = [s for s in self._signals if moderation.archiving or moderation.rules.has_items(s.name)]
        if not signals:
            return []
        start, end = stream_time(window.start, self.time_offset), stream_time(window.end, self.time_offset)
        segment = Segment("", self.stream_id, Modality.SOUND, start, end, tenant=self.tenant)
        live = moderation._describe(LiveAudio(segment, window.samples), signals, segment)
        alerts = []
        for stored, comparisons in moderation.rules.match_items(live, segment):
            alert = reference_alert(stored.item, segment, comparisons)
            # Overlapping windows find one place several times: report each place once.
            if alert.start < self._reported.get(stored.item.item_id, -1.0) - 1.0:
                continue
            self._reported[stored.item.item_id] = alert.end
            alerts.append(alert)
        return alerts
