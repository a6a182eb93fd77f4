"""Store stage: the only module that talks to Milvus.

Milvus Lite in the data directory by default; any Milvus server by URI. One collection per
embedding space (its name carries the space and the dimension), so vectors from different
models never mix. Every row carries a tenant, so tenants, auth and retention can be added
without a data migration.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import grpc
import numpy as np
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from vigil_server.erasure_scope import ErasureScope, StoredSpan
from vigil_server.errors import StoreUnavailable, Unsupported
from vigil_server.types import Box, Match, Modality, SearchFilter, Segment

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # in the collection name: a new schema never reads an old collection
MAX_TEXT = 8192  # characters of transcript stored per segment
FIELDS = ["tenant", "stream_id", "modality", "start", "end", "text", "language", "translation"]
# Columns added since schema 2 without a new collection name: collections made before them are read and
# written without them (their segments read back with the defaults) until they are made again.
SHOT_FIELDS = ["text_boxes", "shot_start", "scene_score"]
# ... and the frame detectors' (people, faces, explicit score): -1 stands for "not run" in the numbers.
DETECTOR_FIELDS = ["explicit_score", "person_count", "face_count", "people_boxes"]
MAX_BOXES = 4096  # characters of on-screen text boxes (JSON) stored per segment
ERASE_BATCH = 1000  # segments read and deleted at a time by an erasure
T = TypeVar("T")


@dataclass(frozen=True)
class StoreSettings:
    uri: str  # a Milvus server URI, or a local path for Milvus Lite
    token: str = ""
    timeout_s: float = 10.0  # for every call
    startup_timeout_s: float = 300.0  # loading a collection may build its index first
    retries: int = 3  # for errors that may pass


def collection_name(space: str, dim: int) -> str:
    return f"vigil_v{SCHEMA_VERSION}_segments_{re.sub(r'[^0-9a-zA-Z]', '_', space)}_{dim}"


def lite_uri(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    return str(data_dir / "milvus.db")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_expression(f: SearchFilter) -> str:
    """A Milvus boolean expression for a search filter."""
    terms = [f"tenant == {_quote(f.tenant)}"]
    if f.modalities:
        terms.append(f"modality in [{', '.join(_quote(m.value) for m in f.modalities)}]")
    if f.stream_ids:
        terms.append(f"stream_id in [{', '.join(_quote(s) for s in f.stream_ids)}]")
    if f.start is not None:
        terms.append(f"end > {f.start!r}")
    if f.end is not None:
        terms.append(f"start < {f.end!r}")
    if f.stored_after_ms is not None:
        terms.append(f"created_at >= {int(f.stored_after_ms)}")
    if f.min_explicit_score > 0:
        terms.append(f"explicit_score >= {float(f.min_explicit_score)!r}")
    if f.exclude_ids:
        terms.append(f"segment_id not in [{', '.join(_quote(i) for i in f.exclude_ids)}]")
    return " and ".join(terms)


def erasure_expression(scope: ErasureScope) -> str:
    """A Milvus boolean expression for the rows an erasure removes (both collections have these columns)."""
    terms = []
    if scope.tenant is not None:
        terms.append(f"tenant == {_quote(scope.tenant)}")
    elif scope.except_tenants:
        terms.append(f"tenant not in [{', '.join(_quote(t) for t in scope.except_tenants)}]")
    if scope.stream_id is not None:
        terms.append(f"stream_id == {_quote(scope.stream_id)}")
    if scope.start is not None:
        terms.append(f"(end > {float(scope.start)!r} or start >= {float(scope.start)!r})")
    if scope.end is not None:
        terms.append(f"start < {float(scope.end)!r}")
    if scope.stored_before is not None:
        terms.append(f"created_at < {int(scope.stored_before * 1000)}")
    return " and ".join(terms)


class SegmentStore:
    """Blocking API; callers run it off the event loop (the pipeline's store worker).

    With `descriptor_dim`, a second collection keeps every frame's copy descriptor (see
    ImageEmbedder.embed_and_describe) for matching reference pictures against the archive.
    """

    def __init__(self, settings: StoreSettings, space: str, dim: int, descriptor_dim: int = 0):
        self.settings = settings
        self.dim = dim
        self.descriptor_dim = descriptor_dim
        self.collection = collection_name(space, dim)
        self.copies = collection_name(space, descriptor_dim).replace("_segments_", "_copies_")
        self._grouping = False  # whether searches can take the top k of each modality at once
        try:
            self._client = MilvusClient(uri=settings.uri, token=settings.token, timeout=settings.timeout_s)
        except MilvusException as exc:
            raise StoreUnavailable(f"cannot open the Milvus store at {settings.uri}: {exc}") from exc
        version = self._call(lambda: str(self._client.get_server_version()))
        self._grouping = groups_search_results(version)
        # On a server the tenant is the partition key: one tenant's searches and deletes touch only its
        # partitions. Milvus Lite keeps one partition; there (and in collections made before) the tenant
        # filter, which every query carries anyway, is what scopes them.
        self._tenant_key = not version.startswith("milvus_lite")
        log.info(
            "Milvus %s: %s", version, "one grouped search per query" if self._grouping else "a search per modality"
        )
        self._call(self._ensure_collection)
        self.fields = FIELDS + self._call(self._extra_fields)
        if descriptor_dim:
            self._call(self._ensure_copies)

    def _ensure_copies(self) -> None:
        self._ensure(self.copies, self.descriptor_dim, [
            ("tenant", DataType.VARCHAR, self._tenant_options()),
            ("stream_id", DataType.VARCHAR, {"max_length": 128}),
            ("start", DataType.DOUBLE, {}),
            ("end", DataType.DOUBLE, {}),
            ("created_at", DataType.INT64, {}),
        ])  # fmt: skip

    def _ensure_collection(self) -> None:
        self._ensure(self.collection, self.dim, [
            ("tenant", DataType.VARCHAR, self._tenant_options()),
            ("stream_id", DataType.VARCHAR, {"max_length": 128}),
            ("modality", DataType.VARCHAR, {"max_length": 16}),
            ("start", DataType.DOUBLE, {}),
            ("end", DataType.DOUBLE, {}),
            ("text", DataType.VARCHAR, {"max_length": MAX_TEXT}),
            ("language", DataType.VARCHAR, {"max_length": 16}),
            ("translation", DataType.VARCHAR, {"max_length": MAX_TEXT}),  # English, when text is not
            ("created_at", DataType.INT64, {}),  # unix ms, for retention
            ("text_boxes", DataType.VARCHAR, {"max_length": MAX_BOXES}),  # on-screen text: [[x, y, w, h], ...]
            ("shot_start", DataType.BOOL, {}),  # frames: the frame begins a shot
            ("scene_score", DataType.FLOAT, {}),  # frames: difference from the shot's first frame
            ("explicit_score", DataType.FLOAT, {}),  # frames: 0-1; -1: not scored
            ("person_count", DataType.INT32, {}),  # frames: people seen; -1: not looked for
            ("face_count", DataType.INT32, {}),
            ("people_boxes", DataType.VARCHAR, {"max_length": MAX_BOXES}),  # [[x, y, w, h], ...]: people, then faces
        ])  # fmt: skip

    def _tenant_options(self) -> dict[str, int]:
        return {"max_length": 64, "is_partition_key": True} if self._tenant_key else {"max_length": 64}

    def _extra_fields(self) -> list[str]:
        """The SHOT_FIELDS the segments collection has (all of them, unless it was made before them)."""
        names = {f["name"] for f in self._client.describe_collection(self.collection)["fields"]}
        missing = [f for f in SHOT_FIELDS + DETECTOR_FIELDS if f not in names]
        if missing:
            log.warning("collection %s was made without %s: those are not stored", self.collection, ", ".join(missing))
        return [f for f in SHOT_FIELDS + DETECTOR_FIELDS if f in names]

    def check_filter(self, f: SearchFilter) -> None:
        """Unsupported when the filter needs a column this collection was made without."""
        if f.min_explicit_score > 0 and "explicit_score" not in self.fields:
            raise Unsupported(
                f"min_explicit_score: the collection {self.collection} was made before frames had explicit "
                "scores, so none are stored to filter on; start the server with a new --data-dir (or drop "
                "that collection) to store them. Standing queries with min_explicit_score still fire on live frames"
            )

    def _ensure(self, name: str, dim: int, fields: list[tuple[str, DataType, dict[str, int]]]) -> None:
        """Load the collection, or create it: segment_id key, the fields, a cosine-indexed vector of dim."""
        if self._client.has_collection(name, timeout=self.settings.timeout_s):
            self._client.load_collection(name, timeout=self.settings.startup_timeout_s)
            return
        schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("segment_id", DataType.VARCHAR, max_length=64, is_primary=True)
        for field, kind, options in fields:
            schema.add_field(field, kind, **options)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        index = self._client.prepare_index_params()
        index.add_index("vector", index_type="AUTOINDEX", metric_type="COSINE")
        self._client.create_collection(name, schema=schema, index_params=index, timeout=self.settings.timeout_s)

    def _call(self, fn: Callable[[], T]) -> T:
        """Run a Milvus call, retrying only errors that can pass; anything else surfaces."""
        for attempt in range(self.settings.retries + 1):
            try:
                return fn()
            except (MilvusException, grpc.RpcError) as exc:
                if attempt == self.settings.retries or not _retriable(exc):
                    # The detail may hold a filter expression with client input: the log has it, the client not.
                    log.warning("Milvus call failed: %s: %.300s", type(exc).__name__, exc)
                    raise StoreUnavailable("the Milvus store failed; retry later (the server log has the "
                                           "details)") from exc  # fmt: skip
                log.warning("Milvus call failed (%s); retry %d", type(exc).__name__, attempt + 1)
                log.debug("Milvus call failed: %s", exc)
                time.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    def insert(self, rows: list[tuple[Segment, list[float]]]) -> None:
        now = int(time.time() * 1000)
        data = [
            {
                "segment_id": s.segment_id,
                "tenant": s.tenant,
                "stream_id": s.stream_id,
                "modality": s.modality.value,
                "start": s.start,
                "end": s.end,
                "text": s.text[:MAX_TEXT],
                "language": s.language,
                "translation": s.translation[:MAX_TEXT],
                "created_at": now,
                "vector": vector,
                **_shot_columns(s, self.fields),
                **_detector_columns(s, self.fields),
            }
            for s, vector in rows
        ]
        self._call(lambda: self._client.insert(self.collection, data, timeout=self.settings.timeout_s))

    def insert_descriptors(self, rows: list[tuple[Segment, list[float]]]) -> None:
        now = int(time.time() * 1000)
        data = [
            {
                "segment_id": s.segment_id,
                "tenant": s.tenant,
                "stream_id": s.stream_id,
                "start": s.start,
                "end": s.end,
                "created_at": now,
                "vector": vector,
            }
            for s, vector in rows
        ]
        self._call(lambda: self._client.insert(self.copies, data, timeout=self.settings.timeout_s))

    def search_descriptors(self, vector: list[float], tenant: str, since_ms: int, top_k: int) -> list[Match]:
        """Frames stored since `since_ms` whose copy descriptor is nearest to `vector`."""
        f = SearchFilter(tenant=tenant, stored_after_ms=since_ms)
        hits = self._search(self.copies, vector, f, ["tenant", "stream_id", "start", "end"], top_k)
        matches = []
        for hit in hits:
            e = hit["entity"]
            segment_id = str(hit.get("segment_id", hit.get("id")))
            frame = Segment(segment_id, e["stream_id"], Modality.FRAME, e["start"], e["end"], tenant=e["tenant"])
            matches.append(Match(frame, float(hit["distance"])))
        return matches

    def search(self, vector: list[float], f: SearchFilter, top_k: int) -> list[Match]:
        return [_match(hit) for hit in self._search(self.collection, vector, f, self.fields, top_k)]

    def search_per_modality(self, vector: list[float], f: SearchFilter, top_k: int) -> list[Match]:
        """The top_k of each of the filter's modalities (all, when it names none), nearest first within each.

        One grouping search (group by modality, top_k per group) where the store supports it, else
        one search per modality: the answer is the same.
        """
        modalities = f.modalities or tuple(Modality)
        if self._grouping:
            hits = self._search(self.collection, vector, f, self.fields, len(modalities), group_size=top_k)
            return [_match(hit) for hit in hits]
        return [m for modality in modalities for m in self.search(vector, replace(f, modalities=(modality,)), top_k)]

    def _search(
        self, collection: str, vector: list[float], f: SearchFilter, fields: list[str], top_k: int, group_size: int = 0
    ) -> list[dict[str, Any]]:
        if collection == self.collection:
            self.check_filter(f)
        grouping = {"group_by_field": "modality", "group_size": group_size} if group_size else {}
        hits = self._call(
            lambda: self._client.search(
                collection,
                data=[vector],
                limit=top_k,
                filter=filter_expression(f),
                output_fields=fields,
                timeout=self.settings.timeout_s,
                # A segment is announced only after its insert returned: it must be visible to the
                # next search. "Session" waits for this client's own writes only (Strong would wait
                # for everyone's, ~400 ms on a Milvus server).
                consistency_level="Session",
                **grouping,
            )
        )
        return list(hits[0])

    def get(self, segment_id: str, tenant: str) -> tuple[Segment, np.ndarray] | None:
        """A stored segment and its vector, or None."""
        rows = self._call(
            lambda: self._client.query(
                self.collection,
                filter=f"segment_id == {_quote(segment_id)} and tenant == {_quote(tenant)}",
                output_fields=[*self.fields, "vector"],
                timeout=self.settings.timeout_s,
                consistency_level="Session",
            )
        )
        if not rows:
            return None
        return _segment(rows[0], segment_id), np.asarray(rows[0]["vector"], dtype=np.float32)

    def segments(self, f: SearchFilter, starts: tuple[float, float | None], limit: int) -> list[Segment]:
        """Up to `limit` stored segments that pass the filter and start in [starts[0], starts[1]), in no order."""
        rows = self._call(
            lambda: self._client.query(
                self.collection,
                filter=_starting(f, starts),
                output_fields=["segment_id", *self.fields],
                limit=limit,
                timeout=self.settings.timeout_s,
                consistency_level="Session",
            )
        )
        return [_segment(row, row["segment_id"]) for row in rows]

    def count_segments(self, f: SearchFilter, starts: tuple[float, float | None]) -> int:
        """How many stored segments pass the filter and start in [starts[0], starts[1]) (None: no upper bound)."""
        rows = self._call(
            lambda: self._client.query(
                self.collection,
                filter=_starting(f, starts),
                output_fields=["count(*)"],
                timeout=self.settings.timeout_s,
                consistency_level="Session",
            )
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def text_segments(self, modalities: tuple[Modality, ...], batch: int = 1000) -> Iterator[Segment]:
        """Every stored segment of these modalities that has text, in no order (for the keyword index)."""
        kinds = ", ".join(_quote(m.value) for m in modalities)
        expression = f'modality in [{kinds}] and (text != "" or translation != "")'
        # A Milvus 2.3 server's iterator reads at a client-side time that can miss rows just written
        # (checked with milvus 2.3.5); a strong count first makes it see everything stored so far.
        self._call(lambda: self._client.query(self.collection, filter=expression, output_fields=["count(*)"],
                                              consistency_level="Strong", timeout=self.settings.timeout_s))  # fmt: skip
        iterator = self._call(
            lambda: self._client.query_iterator(
                self.collection,
                batch_size=batch,
                filter=expression,
                output_fields=["segment_id", *self.fields],
                timeout=self.settings.timeout_s,
            )
        )
        try:
            while rows := self._call(iterator.next):
                yield from (_segment(row, row["segment_id"]) for row in rows)
        finally:
            iterator.close()

    def vectors(self, segment_ids: list[str], tenant: str) -> dict[str, np.ndarray]:
        """The stored vectors of these segments of the tenant (those that exist)."""
        if not segment_ids:
            return {}
        ids = ", ".join(_quote(i) for i in segment_ids)
        rows = self._call(
            lambda: self._client.query(
                self.collection,
                filter=f"segment_id in [{ids}] and tenant == {_quote(tenant)}",
                output_fields=["segment_id", "vector"],
                timeout=self.settings.timeout_s,
                consistency_level="Session",
            )
        )
        return {row["segment_id"]: np.asarray(row["vector"], dtype=np.float32) for row in rows}

    def sample_vectors(self, modality: Modality, limit: int, stored_after_ms: int = 0) -> np.ndarray:
        """Up to `limit` stored vectors of one modality, stored at or after `stored_after_ms` (unix ms; to
        rebuild or top up calibration statistics)."""
        expression = f"modality == {_quote(modality.value)}"
        if stored_after_ms:
            expression += f" and created_at >= {int(stored_after_ms)}"
        rows = self._call(
            lambda: self._client.query(
                self.collection,
                filter=expression,
                output_fields=["vector"],
                limit=limit,
                timeout=self.settings.timeout_s,
                consistency_level="Strong",
            )
        )
        return np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, self.dim)

    def count_modality(self, modality: Modality) -> int:
        """How many segments of one modality are stored, all tenants together (for calibration)."""
        return self._count(f"modality == {_quote(modality.value)}", "Strong")

    def _count(self, expression: str, consistency: str) -> int:
        """How many segments pass the filter expression."""
        rows = self._call(
            lambda: self._client.query(
                self.collection,
                filter=expression,
                output_fields=["count(*)"],
                timeout=self.settings.timeout_s,
                consistency_level=consistency,
            )
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def erase(self, scope: ErasureScope, before: Callable[[list[StoredSpan]], None], batch: int = ERASE_BATCH) -> int:
        """Delete the segments in scope, `batch` at a time, and their copy descriptors; returns how many segments.

        `before` sees each batch just before it is deleted (and may raise to stop: what it saw stays
        stored). Deletes are durable when this returns (Milvus Lite writes them through; a server logs them).
        """
        expression = erasure_expression(scope)
        erased = 0
        previous: set[str] = set()  # the batch deleted last: never read back, unless a delete is not yet visible
        while True:
            rows = self._call(
                lambda: self._client.query(
                    self.collection,
                    filter=expression,
                    output_fields=["segment_id", "tenant", "stream_id", "start", "end"],
                    limit=batch,
                    timeout=self.settings.timeout_s,
                    consistency_level="Strong",  # what was deleted is gone from the next read
                )
            )
            spans = [StoredSpan(r["segment_id"], r["tenant"], r["stream_id"], float(r["start"]), float(r["end"]))
                     for r in rows if r["segment_id"] not in previous]  # fmt: skip
            if not spans:
                if rows:
                    log.warning("%d deleted segments are still read back; the next erasure retries them", len(rows))
                break
            before(spans)
            self._delete(self.collection, f"segment_id in [{', '.join(_quote(s.segment_id) for s in spans)}]")
            erased += len(spans)
            previous = {s.segment_id for s in spans}
            if len(rows) < batch:
                break
        if self.descriptor_dim:
            self._delete(self.copies, expression)
        return erased

    def _delete(self, collection: str, expression: str) -> None:
        self._call(lambda: self._client.delete(collection, filter=expression, timeout=self.settings.timeout_s))

    def count_of_tenant(self, tenant: str) -> int:
        """How many segments (every modality) the tenant has stored (for its max_stored_segments)."""
        return self._count(f"tenant == {_quote(tenant)}", "Session")

    def count(self) -> int:
        stats = self._call(lambda: self._client.get_collection_stats(self.collection))
        return int(stats["row_count"])

    def close(self) -> None:
        self._client.close()


def groups_search_results(version: str) -> bool:
    """Whether a Milvus of this version returns `group_size` hits per group of a grouping search.

    Milvus Lite 3 does (checked: "milvus_lite-3.2.2"); servers do from 2.4. Milvus 2.3 knows
    `group_by_field` but returns one hit per group, whatever `group_size` says.
    """
    if version.startswith("milvus_lite"):
        return True
    found = re.match(r"v?(\d+)\.(\d+)", version)
    return found is not None and (int(found[1]), int(found[2])) >= (2, 4)


def _match(hit: dict[str, Any]) -> Match:
    return Match(_segment(hit["entity"], hit.get("segment_id", hit.get("id"))), float(hit["distance"]))


def _segment(e: dict[str, Any], segment_id: object) -> Segment:
    return Segment(
        segment_id=str(segment_id),
        stream_id=e["stream_id"],
        modality=Modality(e["modality"]),
        start=float(e["start"]),
        end=float(e["end"]),
        text=e["text"],
        language=e["language"],
        translation=e["translation"],
        tenant=e["tenant"],
        text_boxes=tuple(Box(*b) for b in json.loads(e.get("text_boxes") or "[]")),
        shot_start=bool(e.get("shot_start", False)),
        scene_score=float(e.get("scene_score", 0.0)),
        **_detector_values(e),
    )


def _shot_columns(s: Segment, fields: list[str]) -> dict[str, Any]:
    """The SHOT_FIELDS of a segment's row that the collection has."""
    boxes = json.dumps([[b.x, b.y, b.width, b.height] for b in s.text_boxes], separators=(",", ":"))
    row = {"text_boxes": boxes[:MAX_BOXES] if len(boxes) <= MAX_BOXES else "[]",
           "shot_start": s.shot_start, "scene_score": s.scene_score}  # fmt: skip
    return {k: v for k, v in row.items() if k in fields}


def _detector_columns(s: Segment, fields: list[str]) -> dict[str, Any]:
    """The DETECTOR_FIELDS of a segment's row that the collection has (-1: the detector did not run)."""
    boxes = json.dumps([[b.x, b.y, b.width, b.height] for b in s.people_boxes], separators=(",", ":"))
    row = {"explicit_score": -1.0 if s.explicit_score is None else s.explicit_score,
           "person_count": -1 if s.person_count is None else s.person_count,
           "face_count": -1 if s.face_count is None else s.face_count,
           "people_boxes": boxes if len(boxes) <= MAX_BOXES else "[]"}  # fmt: skip
    return {k: v for k, v in row.items() if k in fields}


def _detector_values(e: dict[str, Any]) -> dict[str, Any]:
    """Segment fields from the DETECTOR_FIELDS of a row (None where the detector did not run)."""
    score, people, faces = e.get("explicit_score", -1.0), e.get("person_count", -1), e.get("face_count", -1)
    return {
        "explicit_score": None if score is None or score < 0 else round(float(score), 4),  # FLOAT: 4 digits stand
        "person_count": None if people is None or people < 0 else int(people),
        "face_count": None if faces is None or faces < 0 else int(faces),
        "people_boxes": tuple(Box(*b) for b in json.loads(e.get("people_boxes") or "[]")),
    }


def _starting(f: SearchFilter, starts: tuple[float, float | None]) -> str:
    """The filter's expression, for segments starting in [starts[0], starts[1])."""
    expression = f"{filter_expression(f)} and start >= {float(starts[0])!r}"
    return expression if starts[1] is None else f"{expression} and start < {float(starts[1])!r}"


def _retriable(exc: MilvusException | grpc.RpcError) -> bool:
    if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
        return exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
    text = str(exc).lower()
    return any(word in text for word in ("unavailable", "deadline", "timeout", "connection", "temporarily"))
