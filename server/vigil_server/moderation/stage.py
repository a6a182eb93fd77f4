"""Moderation stage: standing queries, reference banks and the archive; returns alerts.

Ingest calls in as each segment is stored (`check_segment`, `check_frame`), as each stream's
audio arrives (a per-stream `AudioScanner`) and when its media ends (`finish_stream`, for signals
that read whole files). A stream's `StreamMemory` holds what signals remember of it (vPDQ's recent
frames, the running digests of its bytes). Each check returns the alerts it raised, screened by
allow-lists and reviews and recorded (gate.py); delivering them (flood control, Watch calls) is
alerts.py's job, not this module's.

Every check loops over the signals (signals/) that read that kind of live media; none is named
here. Adding a bank item describes it with every signal and, unless disabled, searches each
signal's archive of the last `archive_window_s`, so a re-upload that streamed before the item
was flagged is still caught.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vigil_server.calibrate import Calibration
from vigil_server.clock import AudioWindow, stream_time
from vigil_server.errors import InvalidMedia, InvalidRequest, NotFound
from vigil_server.moderation.banks import BankBook
from vigil_server.moderation.gate import AlertGate
from vigil_server.moderation.hash_lists import export_file, export_pdq, export_typed, read_hash_list
from vigil_server.moderation.items import ItemMediaLoader
from vigil_server.moderation.review import AlertLog
from vigil_server.moderation.rules import (
    Rules,
    StoredItem,
    StoredQuery,
    explicit_label,
    keyword_rule,
    query_label,
    reference_alert,
)
from vigil_server.moderation.rules_db import ItemRecord, RulesDb
from vigil_server.moderation.signals import Comparison, LiveAudio, LiveFile, LiveFrame, LiveInput, PdqSignal, Signal
from vigil_server.moderation.streams import StreamMemory
from vigil_server.moderation.thumbnails import jpeg_thumbnail
from vigil_server.settings import ModerationSettings
from vigil_server.types import (
    Alert,
    AlertRecord,
    BankInfo,
    BankItem,
    BankItemSpec,
    BankSettings,
    BankSettingsChange,
    KeywordRule,
    Modality,
    QueryItem,
    ReferenceKind,
    Segment,
    SignalAmount,
    StandingQuery,
    StandingQuerySpec,
    TextItem,
    Verdict,
)
from vigil_server.vectors import normalise

log = logging.getLogger(__name__)

# Stream audio is checked in windows this long, one every AUDIO_HOP_S (an item playing across a
# window's edge is still found whole in the next window).
AUDIO_WINDOW_S = 20.0
AUDIO_HOP_S = 5.0
PRUNE_EVERY = 1000  # archive rows written between prunes
SHARED_AMOUNTS = 10_000  # distinct item descriptions whose amounts are shared (see _stored)
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
        banks: BankBook | None = None,  # None: kept in `db`
        alert_log: AlertLog | None = None,  # None: kept in `db`
    ):
        self.db = db
        self.signals = list(signals)
        self.embed = embed
        self.media = media
        self.settings = settings
        self.rules = Rules(calibration, signals, db.dim)
        self.banks = banks or BankBook(db)
        self.alert_log = alert_log or AlertLog(db)
        self.gate = AlertGate(self.rules, self.banks, self.alert_log)
        self._kept = 0
        self._amounts: dict[tuple[SignalAmount, ...], tuple[SignalAmount, ...]] = {}
        self.rules.load(db.queries(), [self._stored(record) for record in db.items()], self.banks.all())

    def close(self) -> None:
        self.db.close()

    def reading(self, kind: LiveInput) -> list[Signal[Any, Any]]:
        return [s for s in self.signals if s.reads is kind]

    # -- standing queries

    async def add_query(self, spec: StandingQuerySpec) -> StandingQuery:
        parts = [await self.embed(TextItem(spec.text), spec.tenant)] if spec.text else []
        parts += [await self.embed(item, spec.tenant) for item in spec.examples]
        if spec.min_explicit_score and (spec.keywords or spec.regex):
            raise InvalidRequest("min_explicit_score is about frames and keywords about text: a standing query "
                                 "takes one or the other", field="min_explicit_score")  # fmt: skip
        words = bool(spec.keywords or spec.regex)
        # A query of the explicit score alone has no vector and no words; its rule does not matter.
        rule = keyword_rule(spec, bool(parts)) if parts or words or not spec.min_explicit_score else KeywordRule.ONLY
        negatives = [await self.embed(item, spec.tenant) for item in spec.negatives]
        query = StandingQuery(
            query_id=uuid.uuid4().hex,
            text=spec.text,
            label=spec.label or spec.text or explicit_label(spec) or query_label(spec),
            modalities=spec.modalities,
            stream_ids=spec.stream_ids,
            threshold=spec.threshold or self.settings.query_threshold,
            example_count=len(spec.examples),
            negative_count=len(spec.negatives),
            created_at=time.time(),
            tenant=spec.tenant,
            keywords=spec.keywords,
            regex=spec.regex,
            keyword_rule=rule,
            min_explicit_score=spec.min_explicit_score,
        )
        negative_matrix = np.stack(negatives) if negatives else np.zeros((0, self.db.dim), np.float32)
        vector = normalise(parts) if parts else np.zeros(self.db.dim, np.float32)
        stored = StoredQuery(query, vector, negative_matrix)
        await asyncio.to_thread(self.db.add_query, stored)
        self.rules.add_query(stored)
        # Its label is often the query's text: only at DEBUG (texts are never logged at INFO or above).
        log.info("standing query %s added: threshold %.2f", query.query_id, query.threshold)
        log.debug("standing query %s: label %r", query.query_id, query.label)
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
        # Items described alike (every imported hash of a list) share one tuple of amounts.
        signals = tuple(amounts)
        if len(self._amounts) < SHARED_AMOUNTS:
            signals = self._amounts.setdefault(signals, signals)
        return StoredItem(replace(record.item, signals=signals), values)

    async def add_item(self, spec: BankItemSpec) -> tuple[BankItem, list[Alert]]:
        """Add one reference item; returns it and the alerts its archive search raised."""
        media = await self.media.load(spec)
        described = {s.name: v for s in self.signals if (v := await s.describe_item(media)) is not None}
        if not described:
            raise InvalidMedia(UNDESCRIBED[spec.kind])
        item = BankItem(uuid.uuid4().hex, spec.bank, spec.kind, spec.label, spec.external_id, (), time.time(),
                        spec.tenant)  # fmt: skip
        stored, alerts = await self._add_searched([(item, described)], spec.archive_window_s)
        log.info("bank %s: added %s item %s", item.bank, item.kind.value, item.item_id)
        return self.counted(stored[0].item), alerts

    async def _add_searched(
        self, items: list[tuple[BankItem, dict[str, Any]]], window_s: float | None
    ) -> tuple[list[StoredItem], list[Alert]]:
        """Store the items and search the archive for them: both or neither (a failed search removes them,
        so a client's retry does not make duplicates)."""
        stored = await self._add(items)
        try:
            return stored, await self._search_archive(stored, window_s)
        except BaseException:
            for s in stored:
                with contextlib.suppress(Exception):  # the search's error is the one to report
                    await asyncio.shield(self.remove_item(s.item.item_id, s.item.tenant))
            raise

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
        self,
        bank: str,
        text: str,
        label: str,
        archive_window_s: float | None,
        tenant: str,
        signal_type: str = "",
        external_id: str = "",
    ) -> tuple[dict[str, int], list[Alert]]:
        """One item per hash of a hash list (hash_lists.py reads it); returns the items per signal, and the
        archive alerts."""
        entries = await asyncio.to_thread(read_hash_list, text, self.signals, signal_type)
        if not entries:
            raise InvalidRequest("the hash list holds no hashes", field="hash_list")
        now = time.time()
        items = []
        for entry in entries:
            kind = entry.signal.hash_kind
            assert kind is not None
            item = BankItem(uuid.uuid4().hex, bank, kind, entry.label or label, entry.external_id or external_id, (),
                            now, tenant)  # fmt: skip
            items.append((item, {entry.signal.name: entry.values}))
        stored, alerts = await self._add_searched(items, archive_window_s)
        counts: dict[str, int] = {}
        for entry in entries:
            counts[entry.signal.name] = counts.get(entry.signal.name, 0) + 1
        log.info(
            "bank %s: imported %d hashes (%s)", bank, len(stored), ", ".join(f"{n} {k}" for k, n in counts.items())
        )
        return counts, alerts

    def export_hashes(self, bank: str, tenant: str) -> str:
        """The PDQ hashes of a bank (or all) as `pdq_hash,quality,label` CSV."""
        return export_pdq(self._pdq(), self._exported(bank, tenant, ""))

    def export_typed(self, bank: str, tenant: str, item_id: str = "") -> str:
        """Every hash with an exchange form, each line naming its signal type (hash_lists.write_typed_list)."""
        return export_typed(self.signals, self._exported(bank, tenant, item_id))

    def export_file(self, signal_type: str, item_id: str, tenant: str) -> str:
        """One item's hash in its signal's own file format (vpdq: Meta's vPDQ file)."""
        return export_file(self.signals, signal_type, self._exported("", tenant, item_id)[0])

    def _exported(self, bank: str, tenant: str, item_id: str) -> list[StoredItem]:
        if not item_id:
            return [s for i in self.rules.items(tenant, bank) if (s := self.rules.stored_item(i.item_id, tenant))]
        stored = self.rules.stored_item(item_id, tenant)
        if stored is None or (bank and stored.item.bank != bank):
            raise NotFound(f"no bank item with id {item_id!r}" + (f" in bank {bank!r}" if bank else ""),
                           field="item_id")  # fmt: skip
        return [stored]

    def items(self, tenant: str, bank: str = "") -> list[BankItem]:
        return [self.counted(item) for item in self.rules.items(tenant, bank)]

    def counted(self, item: BankItem) -> BankItem:
        """The item with its reviewed alerts counted."""
        confirmed, dismissed = self.alert_log.counts(item.tenant, item.item_id)
        return replace(item, confirmed=confirmed, dismissed=dismissed)

    # -- bank settings and reviews

    async def set_bank(self, change: BankSettingsChange) -> BankInfo:
        before = self.rules.bank(change.tenant, change.bank)
        by_name = {s.name: s for s in self.signals}
        thresholds = dict(before.thresholds)
        for name in change.clear_thresholds:
            thresholds.pop(name, None)
        for name, value in change.thresholds:
            field = f"thresholds[{name}]"
            if name not in by_name:
                known = ", ".join(s.name for s in self.signals if s.threshold is not None)
                raise InvalidRequest(f"no signal {name!r} on this server; thresholds can be set for {known}",
                                     field=field)  # fmt: skip
            try:
                by_name[name].adjusted(value)
            except ValueError as exc:
                raise InvalidRequest(str(exc), field=field) from None
            thresholds[name] = value
        settings = BankSettings(
            change.bank,
            before.enabled if change.enabled is None else change.enabled,
            before.allow_list if change.allow_list is None else change.allow_list,
            tuple(sorted(thresholds.items())),
            change.tenant,
        )
        settings = await asyncio.to_thread(self.banks.save, settings)
        self.rules.set_bank(settings)
        log.info("bank %s: enabled=%s allow_list=%s thresholds=%s", settings.bank, settings.enabled,
                 settings.allow_list, dict(settings.thresholds))  # fmt: skip
        return self._bank_info(settings, self.rules.banks(change.tenant).get(change.bank, 0))

    def banks_of(self, tenant: str) -> list[BankInfo]:
        """Every bank that holds items or has settings, by name."""
        return [self._bank_info(self.rules.bank(tenant, name), count)
                for name, count in sorted(self.rules.banks(tenant).items())]  # fmt: skip

    def _bank_info(self, settings: BankSettings, items: int) -> BankInfo:
        return BankInfo(settings, items, self.banks.suppressed(settings.tenant, settings.bank))

    def default_thresholds(self) -> dict[str, float]:
        """Each signal's server-wide threshold (what a bank's override replaces)."""
        return {s.name: s.threshold for s in self.signals if s.threshold is not None}

    async def review(self, alert_id: str, tenant: str, verdict: Verdict, reviewer: str, note: str) -> AlertRecord:
        record = await asyncio.to_thread(self.alert_log.review, alert_id, tenant, verdict, reviewer, note)
        log.info("alert %s %s by %r (%s on %s)", alert_id, verdict.value, reviewer, record.match_id, record.stream_id)
        return record

    async def remove_item(self, item_id: str, tenant: str) -> None:
        if not await asyncio.to_thread(self.db.remove_item, item_id, tenant):
            raise NotFound(f"no bank item with id {item_id!r}", field="item_id")
        self.rules.remove_item(item_id)

    # -- checks as segments are stored

    def check_segment(self, segment: Segment, vector: np.ndarray) -> list[Alert]:
        """Standing queries a stored speech or sound segment fires.

        Called on the event loop: the alerts it raises (rarely) are recorded right here.
        """
        alerts = self.rules.match_queries(segment, vector)
        return self.gate.admit(alerts) if alerts else []

    def stream_memory(self, tenant: str, stream_id: str, time_offset: float = 0.0) -> StreamMemory:
        """A new stream's memory, for check_frame and finish_stream."""
        return StreamMemory(self.signals, tenant, stream_id, time_offset)

    async def check_frame(
        self,
        segment: Segment,
        vector: np.ndarray,
        descriptor: np.ndarray,
        pixels: np.ndarray,
        aspect: float,
        full: np.ndarray | None = None,
        memory: StreamMemory | None = None,
    ) -> list[Alert]:
        """Archive a stored frame's signals, then check it against standing queries and bank items.

        `full` is the frame at its own size (for perceptual hashes), `memory` the stream's.
        """
        frame = LiveFrame(segment, pixels, descriptor, full)
        return await asyncio.to_thread(self._check_frame, frame, vector, aspect, memory)

    def _check_frame(
        self, frame: LiveFrame, vector: np.ndarray, aspect: float, memory: StreamMemory | None
    ) -> list[Alert]:
        live = self.describe(frame, self.reading(LiveInput.FRAME), frame.segment)
        matches = self.rules.match_items(live, frame.segment, memory.states if memory is not None else None)
        alerts = self.rules.match_queries(frame.segment, vector) + self.gate.screen(matches, frame.segment)
        alerts = self.gate.admit(alerts)
        if alerts:
            thumbnail = jpeg_thumbnail(frame.pixels, aspect)
            alerts = [replace(a, thumbnail_jpeg=thumbnail) for a in alerts]
        return alerts

    async def finish_stream(self, memory: StreamMemory, media_end: float, has_video: bool) -> list[Alert]:
        """The stream has ended: check its whole bytes (signals reading files) against the banks."""
        if not memory.reads_files:
            return []
        end = stream_time(media_end, memory.time_offset)
        modality = Modality.FRAME if has_video else Modality.SOUND
        segment = Segment("", memory.stream_id, modality, stream_time(0.0, memory.time_offset), end,
                          tenant=memory.tenant)  # fmt: skip
        return await asyncio.to_thread(self._check_file, memory, segment)

    def _check_file(self, memory: StreamMemory, segment: Segment) -> list[Alert]:
        live: dict[str, Any] = {}
        for signal in self.reading(LiveInput.FILE):
            if signal.name in memory.states:
                live.update(self.describe(LiveFile(segment, memory.states[signal.name]), [signal], segment))
        matches = self.rules.match_items(live, segment, memory.states)
        return self.gate.admit(self.gate.screen(matches, segment))

    def describe(
        self,
        live: LiveFrame | LiveAudio | LiveFile,
        signals: Sequence[Signal[Any, Any]],
        segment: Segment,
        archive: bool = True,
    ) -> dict[str, Any]:
        """Each signal's description of live media, kept in the archive when archiving (and `archive`)."""
        values = {}
        for signal in signals:
            value = signal.describe_live(live)
            if value is None:
                continue
            values[signal.name] = value
            if self.archiving and archive:
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
        items = [s for s in items if self._alerting(s.item)]
        if window <= 0 or not items:
            return []
        alerts = await asyncio.to_thread(self._archive_matches, items, time.time() - window)
        if alerts:
            log.info("archive search found %d matches for %d new item(s)", len(alerts), len(items))
        return alerts

    def _alerting(self, item: BankItem) -> bool:
        """Whether an item can raise alerts at all (an enabled block-list bank's)."""
        settings = self.rules.bank(item.tenant, item.bank)
        return settings.enabled and not settings.allow_list

    def _archive_matches(self, items: list[StoredItem], since: float) -> list[Alert]:
        tenant = items[0].item.tenant
        alerts: list[Alert] = []
        for stored in items:
            # Frames: one alert per archived frame, with the evidence of every signal that found it.
            frames: dict[str, tuple[Segment, list[Comparison]]] = {}
            places: list[tuple[Segment, list[Comparison]]] = []  # audio and clips: where the item plays
            for signal in self.signals:
                if signal.name not in stored.values:
                    continue
                variant = self.rules.signal_for(stored.item, signal)
                hits = variant.search_archive(
                    self.db, [(stored.item.item_id, stored.values[signal.name])], tenant, since
                )
                for hit in hits:
                    if hit.live is not None and self._allow_listed(signal, hit.live, hit.segment):
                        continue
                    if hit.comparison.span is not None:
                        places.append((hit.segment, [hit.comparison]))
                    else:
                        frames.setdefault(hit.segment.segment_id, (hit.segment, []))[1].append(hit.comparison)
            alerts += [reference_alert(stored.item, s, c, from_archive=True) for s, c in frames.values()]
            alerts += _one_per_place([reference_alert(stored.item, s, c, from_archive=True) for s, c in places])
        alerts.sort(key=lambda a: (a.stream_id, a.start))
        return self.gate.admit(alerts)

    def _allow_listed(self, signal: Signal[Any, Any], live: Any, segment: Segment) -> bool:
        """Whether archived media matches an allow-list item by the signal that found it (counted if so)."""
        allowed = self.gate.allowed(self.rules.match_items({signal.name: live}, segment))
        if allowed:
            self.banks.count_suppressed(dict.fromkeys({(s.item.tenant, s.item.bank) for s in allowed}, 1))
        return bool(allowed)


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
        self._signals = moderation.reading(LiveInput.AUDIO)
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
        live = moderation.describe(LiveAudio(segment, window.samples), signals, segment)
        alerts = []
        for alert in moderation.gate.screen(moderation.rules.match_items(live, segment), segment):
            # Overlapping windows find one place several times: report each place once.
            if alert.start < self._reported.get(alert.match_id, -1.0) - 1.0:
                continue
            self._reported[alert.match_id] = alert.end
            alerts.append(alert)
        return moderation.gate.admit(alerts)
