"""Moderation stage: standing queries, reference banks, the archive, and raising alerts.

The pipeline calls in as each segment is stored (`segment_stored`, `frame_stored`) and as stream
audio arrives (`AudioWatch`); matches go to the AlertHub, which applies flood control and fans
them out to Watch calls and to the stream's own Ingest call.

Adding a bank item also searches the archive (the last `archive_window_s`): frames by embedding
in the segment store and by PDQ in the hash archive, audio by Chromaprint in the fingerprint
archive, so a re-upload that arrived before the item was flagged is still caught.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from vigil_models.hashing import (
    PDQ_MATCH_DISTANCE,
    PDQ_MIN_QUALITY,
    AudioFingerprint,
    PdqHash,
    PdqIndex,
    audio_fingerprint,
    export_pdq_list,
    fingerprint_match,
    hamming,
    import_pdq_list,
    pdq_hash,
    pdq_hash_dihedral,
)
from vigil_server.alerts import AlertHub
from vigil_server.decode import AUDIO_RATE
from vigil_server.errors import InvalidMedia, InvalidRequest, NotFound
from vigil_server.query import decode_clip, decode_image, embed_query, normalise
from vigil_server.types import (
    Alert,
    AlertKind,
    AudioClip,
    BankItem,
    BankItemSpec,
    MatchMethod,
    Modality,
    ReferenceKind,
    Segment,
    StandingQuery,
    StandingQuerySpec,
    StreamConfig,
    TextItem,
    VideoClip,
)
from vigil_server.watchlist import Watchlist, new_alert, reference_alert
from vigil_server.watchlist_db import ArchivedAudio, ArchivedFrame, StoredItem, StoredQuery, WatchlistDb

if TYPE_CHECKING:
    from vigil_server.pipeline import Pipeline

log = logging.getLogger(__name__)

# Stream audio is fingerprinted in windows this long, one every AUDIO_HOP_S.
AUDIO_WINDOW_S = 20.0
AUDIO_HOP_S = 5.0
# Windows and reference clips quieter than this RMS are not fingerprinted: silence matches silence.
MIN_AUDIO_RMS = 0.003
# Chromaprint needs about this much audio to say anything.
MIN_FINGERPRINT_S = 3.0
# Reference video: at most this many distinct frames are kept.
MAX_ITEM_FRAMES = 300
# Reference media limits.
MAX_ITEM_SECONDS = 600.0
# Frames stored per archive search for each reference picture (Milvus caps a search at 16384).
ARCHIVE_TOP_K = 1000
THUMBNAIL_HEIGHT = 144
PRUNE_EVERY = 1000  # archive rows written between prunes


@dataclass(frozen=True)
class ModerationSettings:
    archive_window_s: float = 24 * 3600.0  # how far back a new bank item is searched for; 0: never
    alert_window_s: float = 60.0  # flood control window per (stream, query or item)


class Moderation:
    def __init__(self, pipeline: Pipeline, db: WatchlistDb, watchlist: Watchlist, settings: ModerationSettings):
        self.pipeline = pipeline
        self.db = db
        self.watchlist = watchlist
        self.settings = settings
        self.hub = AlertHub(settings.alert_window_s)
        self._archived = 0
        watchlist.load(db.queries(), db.items())

    def close(self) -> None:
        self.hub.close()
        self.db.close()

    # -- standing queries

    async def add_query(self, spec: StandingQuerySpec) -> StandingQuery:
        parts = [(await embed_query(self.pipeline, TextItem(spec.text), spec.tenant))] if spec.text else []
        parts += [await embed_query(self.pipeline, item, spec.tenant) for item in spec.examples]
        if not parts:
            raise InvalidRequest("a standing query needs text or at least one example")
        negatives = [await embed_query(self.pipeline, item, spec.tenant) for item in spec.negatives]
        query = StandingQuery(
            query_id=uuid.uuid4().hex,
            text=spec.text,
            label=spec.label or spec.text or f"query with {len(spec.examples)} example(s)",
            modalities=spec.modalities,
            stream_ids=spec.stream_ids,
            threshold=spec.threshold or self.watchlist.thresholds.query_score,
            example_count=len(spec.examples),
            negative_count=len(spec.negatives),
            created_at=time.time(),
            tenant=spec.tenant,
        )
        negative_matrix = np.stack(negatives) if negatives else np.zeros((0, self.db.dim), np.float32)
        stored = StoredQuery(query, normalise(parts), negative_matrix)
        await asyncio.to_thread(self.db.add_query, stored)
        self.watchlist.add_query(stored)
        log.info("standing query %s added: %r threshold %.2f", query.query_id, query.label, query.threshold)
        return query

    async def remove_query(self, query_id: str, tenant: str) -> None:
        if not await asyncio.to_thread(self.db.remove_query, query_id, tenant):
            raise NotFound(f"no standing query with id {query_id!r}")
        self.watchlist.remove_query(query_id)

    # -- reference banks

    async def add_item(self, spec: BankItemSpec) -> tuple[BankItem, int]:
        """Add one reference item; returns it and how many archive alerts it raised."""
        vectors, hashes, fingerprint = await self._describe(spec)
        item = BankItem(
            item_id=uuid.uuid4().hex,
            bank=spec.bank,
            kind=spec.kind,
            label=spec.label,
            external_id=spec.external_id,
            pdq_hashes=len(hashes),
            fingerprint_seconds=fingerprint.duration if fingerprint is not None else 0.0,
            created_at=time.time(),
            tenant=spec.tenant,
        )
        stored = StoredItem(item, vectors, tuple(hashes), fingerprint)
        await asyncio.to_thread(self.db.add_items, [stored])
        self.watchlist.add_items([stored])
        log.info("bank %s: added %s item %s %r", item.bank, item.kind.value, item.item_id, item.label)
        return item, await self._search_archive([stored], spec.archive_window_s)

    async def _describe(self, spec: BankItemSpec) -> tuple[np.ndarray, list[PdqHash], AudioFingerprint | None]:
        """Vectors, PDQ hashes and fingerprint of a reference item's media."""
        no_vectors = np.zeros((0, self.db.descriptor_dim), np.float32)
        if spec.kind is ReferenceKind.IMAGE:
            image = await asyncio.to_thread(decode_image, spec.data)
            # Squashed to the frame size as the decoder squashes frames: the same content is described.
            size = self.pipeline.settings.decode.frame_size
            frame = await asyncio.to_thread(_squash, image, size)
            _, descriptor = await self.pipeline.image.submit(frame, wait=False)
            hashes = await asyncio.to_thread(pdq_hash_dihedral, image)  # the picture's own: exported as is
            usable = [h for h in hashes if (h.quality or 0) >= PDQ_MIN_QUALITY]
            return descriptor[None], usable, None
        clip = (AudioClip if spec.kind is ReferenceKind.AUDIO else VideoClip)(spec.data, spec.format)
        frames, audio = await decode_clip(self.pipeline, clip, MAX_ITEM_SECONDS)
        fingerprint = await asyncio.to_thread(_fingerprint_or_none, audio)
        if spec.kind is ReferenceKind.AUDIO:
            if fingerprint is None:
                raise InvalidMedia(
                    f"the audio reference has less than {MIN_FINGERPRINT_S:g} s of sound; Chromaprint needs more"
                )
            return no_vectors, [], fingerprint
        kept = await asyncio.to_thread(_distinct_frames, frames)
        if not kept and fingerprint is None:
            raise InvalidMedia("the video reference has no frame with enough detail and no audio to fingerprint")
        described = await self.pipeline.image.submit_many([f for f, _ in kept], wait=False) if kept else []
        matrix = np.stack([d for _, d in described]) if described else no_vectors
        return matrix, [h for _, h in kept], fingerprint

    async def import_hashes(
        self, bank: str, text: str, label: str, archive_window_s: float | None, tenant: str
    ) -> tuple[int, int]:
        """Add one PDQ_HASH item per line of a hash list; returns (imported, archive alerts)."""
        try:
            entries = import_pdq_list(text)
        except ValueError as exc:
            raise InvalidRequest(f"the hash list cannot be read: {exc}") from exc
        if not entries:
            raise InvalidRequest("the hash list holds no hashes")
        now = time.time()
        stored = [
            StoredItem(
                BankItem(uuid.uuid4().hex, bank, ReferenceKind.PDQ_HASH, line_label or label, "", 1, 0.0, now, tenant),
                np.zeros((0, self.db.descriptor_dim), np.float32),
                (value,),
                None,
            )
            for value, line_label in entries
        ]
        await asyncio.to_thread(self.db.add_items, stored)
        self.watchlist.add_items(stored)
        log.info("bank %s: imported %d hashes", bank, len(stored))
        return len(stored), await self._search_archive(stored, archive_window_s)

    def export_hashes(self, bank: str, tenant: str) -> str:
        lines = []
        for item in self.watchlist.items(tenant, bank):
            stored = self.watchlist.stored_item(item.item_id, tenant)
            assert stored is not None
            # A picture keeps the hashes of its 8 rotations and flips: export the picture's own.
            hashes = stored.hashes[:1] if item.kind is ReferenceKind.IMAGE else stored.hashes
            lines += [(h, item.label) for h in hashes]
        return export_pdq_list(lines)

    async def remove_item(self, item_id: str, tenant: str) -> None:
        if not await asyncio.to_thread(self.db.remove_item, item_id, tenant):
            raise NotFound(f"no bank item with id {item_id!r}")
        self.watchlist.remove_item(item_id)

    # -- checks as segments are stored

    def segment_stored(self, segment: Segment, vector: np.ndarray) -> None:
        """Check a stored speech or sound segment against the standing queries."""
        for alert in self.watchlist.match_queries(segment, vector):
            self.hub.publish(alert)

    async def frame_stored(
        self, segment: Segment, vector: np.ndarray, descriptor: np.ndarray, frame: np.ndarray, aspect: float
    ) -> None:
        """Hash and archive a stored frame, then check it against queries and bank items."""
        alerts = await asyncio.to_thread(self._check_frame, segment, vector, descriptor, frame, aspect)
        for alert in alerts:
            self.hub.publish(alert)

    def _check_frame(
        self, segment: Segment, vector: np.ndarray, descriptor: np.ndarray, frame: np.ndarray, aspect: float
    ) -> list[Alert]:
        value = pdq_hash(frame)
        if (value.quality or 0) >= PDQ_MIN_QUALITY:
            self.archive(
                ArchivedFrame(segment.segment_id, segment.tenant, segment.stream_id, segment.start, segment.end, value)
            )
        alerts = self.watchlist.match_queries(segment, vector) + self.watchlist.match_frame(segment, descriptor, value)
        if alerts:
            thumbnail = jpeg_thumbnail(frame, aspect)
            alerts = [replace(a, thumbnail_jpeg=thumbnail) for a in alerts]
        return alerts

    @property
    def archiving(self) -> bool:
        """Whether hashes and fingerprints of what streams by are kept (--archive-window > 0)."""
        return self.settings.archive_window_s > 0

    def archive(self, row: ArchivedFrame | ArchivedAudio) -> None:
        """Keep a frame hash or audio fingerprint for the archive window; prune now and then."""
        if not self.archiving:
            return
        if isinstance(row, ArchivedFrame):
            self.db.archive_frame(row)
        else:
            self.db.archive_audio(row)
        self._archived += 1
        if self._archived % PRUNE_EVERY == 0:
            self.db.prune_archive(time.time() - self.settings.archive_window_s)

    def audio_watch(self, config: StreamConfig) -> AudioWatch:
        return AudioWatch(self, config)

    # -- archive search

    async def _search_archive(self, items: list[StoredItem], window_s: float | None) -> int:
        window = self.settings.archive_window_s if window_s is None else window_s
        if window <= 0 or not items:
            return 0
        alerts = await asyncio.to_thread(self._archive_matches, items, time.time() - window)
        for alert in alerts:
            self.hub.publish(alert)
        if alerts:
            log.info("archive search found %d matches for %d new item(s)", len(alerts), len(items))
        return len(alerts)

    def _archive_matches(self, items: list[StoredItem], since: float) -> list[Alert]:
        tenant = items[0].item.tenant
        alerts: list[Alert] = []
        for stored in items:
            frames: dict[str, tuple[Segment, float, int | None]] = {}  # segment id -> cosine, distance
            if len(stored.vectors):
                for vector in stored.vectors:
                    store = self.pipeline.store
                    for match in store.search_descriptors(vector.tolist(), tenant, int(since * 1000), ARCHIVE_TOP_K):
                        if match.cosine >= self.watchlist.thresholds.bank_cosine:
                            _, cosine, _ = frames.get(match.segment.segment_id, (match.segment, -1.0, None))
                            frames[match.segment.segment_id] = (match.segment, max(cosine, match.cosine), None)
            if stored.hashes:
                for frame, bits in _hash_hits(self.db.archived_frames(tenant, since), stored.hashes):
                    segment, cosine, _ = frames.get(frame.segment_id, (_archived_segment(frame), 0.0, None))
                    frames[frame.segment_id] = (segment, cosine, bits)
            for segment, cosine, distance in frames.values():
                embedded = cosine >= self.watchlist.thresholds.bank_cosine
                alerts.append(reference_alert(stored.item, segment, cosine, distance, embedded, from_archive=True))
            if stored.fingerprint is not None:
                alerts += self._archive_audio(stored, self.db.archived_audio(tenant, since))
        alerts.sort(key=lambda a: (a.stream_id, a.start))
        return alerts

    def _archive_audio(self, stored: StoredItem, windows: list[ArchivedAudio]) -> list[Alert]:
        """One alert per place the item plays (overlapping windows find the same place)."""
        threshold = self.watchlist.thresholds.fingerprint_score
        hits = [a for w in windows if (a := fingerprint_alert(stored, w, threshold, from_archive=True)) is not None]
        hits.sort(key=lambda a: (a.stream_id, a.start))
        places: list[Alert] = []
        for hit in hits:
            last = places[-1] if places else None
            if last is not None and last.stream_id == hit.stream_id and hit.start < last.end:
                if (hit.fingerprint_score or 0.0) > (last.fingerprint_score or 0.0):
                    places[-1] = hit
                continue
            places.append(hit)
        return places


class AudioWatch:
    """Per stream: fingerprints the audio in windows, archives them and matches audio bank items."""

    def __init__(self, moderation: Moderation, config: StreamConfig):
        self.moderation = moderation
        self.config = config
        self._buffer = np.zeros(0, np.float32)  # the last AUDIO_WINDOW_S of audio
        self._buffer_start = 0.0  # stream seconds (before time_offset) of _buffer[0]
        self._unchecked = 0  # samples received since the last window
        self._reported: dict[str, float] = {}  # item id -> end of the last place reported

    async def push(self, block: np.ndarray) -> None:
        self._buffer = np.concatenate([self._buffer, block])
        self._unchecked += block.size
        excess = self._buffer.size - int(AUDIO_WINDOW_S * AUDIO_RATE)
        if excess > 0:
            self._buffer = self._buffer[excess:]
            self._buffer_start += excess / AUDIO_RATE
        if self._unchecked >= AUDIO_HOP_S * AUDIO_RATE:
            await self._check()

    async def flush(self) -> None:
        if self._unchecked:
            await self._check()

    async def _check(self) -> None:
        self._unchecked = 0
        alerts = await asyncio.to_thread(self._match, self._buffer, self._buffer_start)
        for alert in alerts:
            self.moderation.hub.publish(alert)

    def _match(self, audio: np.ndarray, start: float) -> list[Alert]:
        if not (self.moderation.archiving or self.moderation.watchlist.has_audio_items):
            return []
        fingerprint = _fingerprint_or_none(audio)
        if fingerprint is None:
            return []
        offset = self.config.time_offset
        window = ArchivedAudio(
            self.config.tenant, self.config.stream_id, round(start + offset, 3),
            round(start + offset + audio.size / AUDIO_RATE, 3), fingerprint,
        )  # fmt: skip
        self.moderation.archive(window)
        alerts = []
        watchlist = self.moderation.watchlist
        for item, _, _ in watchlist.match_audio(fingerprint):
            stored = watchlist.stored_item(item.item_id, self.config.tenant)
            if stored is None:
                continue
            alert = fingerprint_alert(stored, window, watchlist.thresholds.fingerprint_score)
            # Overlapping windows find one place several times: report each place once.
            if alert is None or alert.start < self._reported.get(item.item_id, -1.0) - 1.0:
                continue
            self._reported[item.item_id] = alert.end
            alerts.append(alert)
        return alerts


def fingerprint_alert(stored: StoredItem, window: ArchivedAudio, min_score: float, **fields: object) -> Alert | None:
    """An alert when the item's fingerprint plays inside the window; its time range is where."""
    assert stored.fingerprint is not None
    match = fingerprint_match(stored.fingerprint, window.fingerprint)
    if match.score < min_score:
        return None
    # Where the whole item plays, though only part of it may be in this window yet.
    start = max(0.0, window.start + match.offset_seconds)
    end = window.start + match.offset_seconds + stored.fingerprint.duration
    segment = Segment("", window.stream_id, Modality.SOUND, round(start, 3), round(end, 3), tenant=window.tenant)
    item = stored.item
    return new_alert(
        AlertKind.REFERENCE, segment, item.item_id, item.label, bank=item.bank, external_id=item.external_id,
        methods=(MatchMethod.FINGERPRINT,), fingerprint_score=match.score, **fields,
    )  # fmt: skip


def _fingerprint_or_none(audio: np.ndarray) -> AudioFingerprint | None:
    if audio.size < MIN_FINGERPRINT_S * AUDIO_RATE or float(np.sqrt(np.mean(audio**2))) < MIN_AUDIO_RMS:
        return None
    fingerprint = audio_fingerprint(audio)
    return fingerprint if fingerprint.items.size else None


def _distinct_frames(frames: list[np.ndarray]) -> list[tuple[np.ndarray, PdqHash]]:
    """Frames with enough detail whose hash differs from every frame kept before (greedy)."""
    kept: list[tuple[np.ndarray, PdqHash]] = []
    for frame in frames:
        value = pdq_hash(frame)
        if (value.quality or 0) < PDQ_MIN_QUALITY:
            continue
        if all(hamming(value, h) > PDQ_MATCH_DISTANCE for _, h in kept):
            kept.append((frame, value))
            if len(kept) == MAX_ITEM_FRAMES:
                break
    return kept


def _hash_hits(frames: list[ArchivedFrame], hashes: tuple[PdqHash, ...]) -> list[tuple[ArchivedFrame, int]]:
    """Archived frames within PDQ_MATCH_DISTANCE of any of the hashes, with the nearest distance."""
    archive = PdqIndex((str(i), frame.hash) for i, frame in enumerate(frames))
    best: dict[int, int] = {}
    for value in hashes:
        for i, distance in archive.match(value, PDQ_MATCH_DISTANCE):
            best[int(i)] = min(distance, best.get(int(i), distance))
    return [(frames[i], best[i]) for i in sorted(best)]


def _archived_segment(frame: ArchivedFrame) -> Segment:
    return Segment(frame.segment_id, frame.stream_id, Modality.FRAME, frame.start, frame.end, tenant=frame.tenant)


def _squash(image: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


def jpeg_thumbnail(frame: np.ndarray, aspect: float) -> bytes:
    """A small JPEG of a decoded frame, its display aspect restored when known."""
    from PIL import Image

    width = max(16, round(THUMBNAIL_HEIGHT * (aspect if aspect > 0 else frame.shape[1] / frame.shape[0])))
    size = (min(width, 4 * THUMBNAIL_HEIGHT), THUMBNAIL_HEIGHT)
    image = Image.fromarray(frame).resize(size, Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=80)
    return out.getvalue()
