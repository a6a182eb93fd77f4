"""Protobuf -> dataclasses for the moderation RPCs (standing queries, banks, watch filters), and
their replies back (alerts are in wire.py, beside the Ingest events that carry them).

With servicer.py and wire.py, the only modules that know protobuf: requests are checked here
and turned into the domain types; nothing below the servicer sees a message.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from vigil.v1 import vigil_pb2
from vigil_server.decode import CONTAINER_FORMATS
from vigil_server.errors import InvalidRequest, TooLarge
from vigil_server.keywords import KeywordMatcher
from vigil_server.types import (
    BankItem,
    BankItemSpec,
    ExampleItem,
    KeywordRule,
    ReferenceKind,
    StandingQuery,
    StandingQuerySpec,
)
from vigil_server.wire import (
    MAX_ID_CHARS,
    MAX_QUERY_CHARS,
    MODALITY_TO_PROTO,
    echo,
    example_item,
    explicit_score,
    id_value,
    modality_list,
    stream_ids,
)

BANK_NAME = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
MAX_LABEL_CHARS = 256
MAX_EXAMPLES = 16
MAX_THRESHOLD = 50.0
MAX_ITEM_BYTES = 64 << 20
MAX_HASH_LIST_BYTES = 16 << 20
MAX_ARCHIVE_WINDOW_S = 10 * 366 * 86400.0  # ten years: more than any archive keeps
# Listings: (default, most) entries per page; every page also stops before MAX_PAGE_BYTES.
QUERY_PAGE = (100, 1000)
ITEM_PAGE = (1000, 10_000)
EXPORT_PAGE = (10_000, 100_000)  # lines
MAX_PAGE_BYTES = 2 << 20  # half a client's default 4 MiB receive limit
MAX_LISTED_STREAM_IDS = 1000  # of a standing query stored before stream_ids were bounded: cut when listed
PAGE_TOKEN = re.compile(r"^o(\d{1,12})$")
T = TypeVar("T")

KIND_FROM_PROTO = {
    vigil_pb2.REFERENCE_KIND_IMAGE: ReferenceKind.IMAGE,
    vigil_pb2.REFERENCE_KIND_AUDIO: ReferenceKind.AUDIO,
    vigil_pb2.REFERENCE_KIND_VIDEO: ReferenceKind.VIDEO,
}
KEYWORD_RULE_TO_PROTO = {
    KeywordRule.ONLY: vigil_pb2.KEYWORD_RULE_ONLY,
    KeywordRule.AND_EMBEDDING: vigil_pb2.KEYWORD_RULE_AND_EMBEDDING,
}
KEYWORD_RULE_FROM_PROTO: dict[int, KeywordRule | None] = {
    vigil_pb2.KEYWORD_RULE_UNSPECIFIED: None,
    **{v: k for k, v in KEYWORD_RULE_TO_PROTO.items()},
}
KIND_TO_PROTO = {
    **{v: k for k, v in KIND_FROM_PROTO.items()},
    ReferenceKind.PDQ_HASH: vigil_pb2.REFERENCE_KIND_PDQ_HASH,
    ReferenceKind.VPDQ_HASH: vigil_pb2.REFERENCE_KIND_VPDQ_HASH,
    ReferenceKind.FILE_HASH: vigil_pb2.REFERENCE_KIND_FILE_HASH,
}


def _short(value: str, field: str) -> str:
    if len(value) > MAX_LABEL_CHARS:
        raise InvalidRequest(f"{field} has {len(value)} characters; the limit is {MAX_LABEL_CHARS}", field=field)
    if "\n" in value or "\r" in value:
        raise InvalidRequest(f"{field} cannot hold a line break (hash lists are written one item a line)",
                             field=field)  # fmt: skip
    return value


# -- pages of listings -------------------------------------------------------------------------


def page_request(size: int, token: str, sizes: tuple[int, int]) -> tuple[int, int]:
    """(entries per page, offset of the page's first entry) of a listing request."""
    default, most = sizes
    size = size or default
    if size > most:
        raise InvalidRequest(f"page_size must be at most {most} (0: {default})", field="page_size")
    if not token:
        return size, 0
    found = PAGE_TOKEN.match(token)
    if found is None:
        raise InvalidRequest("page_token is not a next_page_token of this listing", field="page_token")
    return size, int(found[1])


def page_of(entries: Sequence[T], to_proto: Callable[[T], Any], size: int, offset: int) -> tuple[list[Any], str]:
    """The page's messages and the next page's token ("" after the last): at most `size` entries and, past
    the first, at most MAX_PAGE_BYTES. Offsets: an entry added or removed meanwhile shifts the rest by one."""
    page: list[Any] = []
    used = 0
    for entry in entries[offset : offset + size]:
        message = to_proto(entry)
        used += message.ByteSize()
        if page and used > MAX_PAGE_BYTES:
            break
        page.append(message)
    end = offset + len(page)
    return page, (f"o{end}" if end < len(entries) else "")


def text_page(text: str, headed: bool, size: int, offset: int) -> tuple[str, str]:
    """A page of a hash list's lines (each page under the list's header line, when `headed`), and the next
    page's token ("" after the last)."""
    lines = text.splitlines()
    header, body = (lines[:1], lines[1:]) if headed else ([], lines)
    page, _ = page_of(body, _Line, size, offset)
    end = offset + len(page)
    return "".join(line + "\n" for line in header + [line.text for line in page]), (
        f"o{end}" if end < len(body) else ""
    )


class _Line:
    """A hash list line measured as a page entry."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def ByteSize(self) -> int:  # noqa: N802 - as a protobuf message's
        return len(self.text.encode()) + 1


def bank_name(value: str, field: str = "bank") -> str:
    if not BANK_NAME.match(value):
        raise InvalidRequest(f"{field} must be 1-64 characters from [A-Za-z0-9._:-], got {echo(value)}", field=field)
    return value


def object_id(value: str, field: str) -> str:
    return id_value(value, field)


def archive_window(value: float, field: str) -> float | None:
    """0: the server default (None); negative: no archive search (0.0); else seconds (at most ten years)."""
    if not (math.isfinite(value) and value <= MAX_ARCHIVE_WINDOW_S):
        raise InvalidRequest(f"{field} must be a number of seconds up to {MAX_ARCHIVE_WINDOW_S:.0f} (ten years); "
                             "0: the server default, negative: no archive search", field=field)  # fmt: skip
    if value == 0:
        return None
    return max(0.0, value)


def standing_query_spec(msg: vigil_pb2.AddStandingQueryRequest) -> StandingQuerySpec:
    if len(msg.text) > MAX_QUERY_CHARS:
        raise InvalidRequest(f"text has {len(msg.text)} characters; the limit is {MAX_QUERY_CHARS}", field="text")
    min_explicit = explicit_score(msg.min_explicit_score, "min_explicit_score")
    if not msg.text.strip() and not msg.examples and not msg.keywords and not msg.regex and not min_explicit:
        raise InvalidRequest(
            "a standing query needs text, at least one example, keywords, a regex or min_explicit_score"
        )
    if msg.keyword_rule not in KEYWORD_RULE_FROM_PROTO:
        raise InvalidRequest(f"unknown keyword_rule {msg.keyword_rule}", field="keyword_rule")
    KeywordMatcher.build(msg.keywords, msg.regex)  # names the field of a bad keyword or regex
    if len(msg.examples) > MAX_EXAMPLES or len(msg.negatives) > MAX_EXAMPLES:
        raise InvalidRequest(f"a standing query takes at most {MAX_EXAMPLES} examples and {MAX_EXAMPLES} negatives",
                             field="examples" if len(msg.examples) > MAX_EXAMPLES else "negatives")  # fmt: skip
    if not (math.isfinite(msg.threshold) and 0 <= msg.threshold <= MAX_THRESHOLD):
        raise InvalidRequest(
            f"threshold must be in (0, {MAX_THRESHOLD:g}] or 0 for the server default", field="threshold"
        )

    def items(examples: list[vigil_pb2.QueryExample], field: str) -> tuple[ExampleItem, ...]:
        result = []
        for n, example in enumerate(examples):
            kind = example.WhichOneof("example")
            if kind is None:
                raise InvalidRequest(f"{field}[{n}] is empty: give text, image, audio or video", field=f"{field}[{n}]")
            result.append(example_item(example, kind, f"{field}[{n}]"))
        return tuple(result)

    return StandingQuerySpec(
        text=msg.text.strip(),
        examples=items(list(msg.examples), "examples"),
        negatives=items(list(msg.negatives), "negatives"),
        modalities=modality_list(msg.modalities, "AddStandingQueryRequest"),
        stream_ids=stream_ids(msg.stream_ids),
        threshold=msg.threshold,
        label=_short(msg.label, "label"),
        keywords=tuple(msg.keywords),
        regex=msg.regex,
        keyword_rule=KEYWORD_RULE_FROM_PROTO[msg.keyword_rule],
        min_explicit_score=min_explicit,
    )


async def bank_item_spec(requests: AsyncIterator[vigil_pb2.AddBankItemRequest]) -> BankItemSpec:
    """Header, then the media from sequenced chunks."""
    first = await anext(aiter(requests), None)
    if first is None or first.WhichOneof("request") != "header":
        raise InvalidRequest("the first AddBankItemRequest must carry a header (BankItemHeader)")
    header = first.header
    bank_name(header.bank, "header.bank")
    if header.kind not in KIND_FROM_PROTO:
        raise InvalidRequest(
            "header.kind must be REFERENCE_KIND_IMAGE, _AUDIO or _VIDEO (import PDQ hashes with ImportHashes)",
            field="header.kind",
        )
    # Every header field is checked before the media is read: a call that fails stores nothing.
    label = _short(header.label, "header.label")
    external_id = _short(header.external_id, "header.external_id")
    window = archive_window(header.archive_window, "header.archive_window")
    kind = KIND_FROM_PROTO[header.kind]
    fmt = header.format.lower()
    if kind is not ReferenceKind.IMAGE and fmt not in CONTAINER_FORMATS:
        raise InvalidRequest(
            f"header.format {echo(header.format)} is not supported for {kind.value} references; "
            f"use one of {', '.join(sorted(CONTAINER_FORMATS))}",
            field="header.format",
        )
    parts: list[bytes] = []
    size = 0
    async for request in requests:
        if request.WhichOneof("request") != "chunk":
            raise InvalidRequest("only the first AddBankItemRequest may carry a header; later ones carry a chunk")
        if request.chunk.sequence != len(parts):
            raise InvalidRequest(f"chunk sequence {request.chunk.sequence} where {len(parts)} was expected")
        size += len(request.chunk.data)
        if size > MAX_ITEM_BYTES:
            raise TooLarge(f"the reference media is over {MAX_ITEM_BYTES >> 20} MiB")
        parts.append(request.chunk.data)
    if size == 0:
        raise InvalidRequest("the reference media is empty: send it in chunks after the header")
    return BankItemSpec(
        bank=header.bank,
        kind=kind,
        data=b"".join(parts),
        format=fmt,
        label=label,
        external_id=external_id,
        archive_window_s=window,
    )


def hash_list(msg: vigil_pb2.ImportHashesRequest) -> str:
    bank_name(msg.bank)
    if len(msg.hash_list) > MAX_HASH_LIST_BYTES:
        raise TooLarge(f"the hash list is over {MAX_HASH_LIST_BYTES >> 20} MiB; import it in parts", field="hash_list")
    _short(msg.label, "label")
    _short(msg.external_id, "external_id")
    if len(msg.signal_type) > MAX_ID_CHARS:
        raise InvalidRequest(f"signal_type is a signal type name such as pdq or vpdq, got {msg.signal_type[:80]!r}",
                             field="signal_type")  # fmt: skip
    return msg.hash_list


def standing_query_proto(q: StandingQuery) -> vigil_pb2.StandingQuery:
    return vigil_pb2.StandingQuery(
        query_id=q.query_id,
        text=q.text,
        label=q.label,
        modalities=[MODALITY_TO_PROTO[m] for m in q.modalities],
        stream_ids=list(q.stream_ids[:MAX_LISTED_STREAM_IDS]),
        threshold=q.threshold,
        example_count=q.example_count,
        negative_count=q.negative_count,
        created_at=q.created_at,
        keywords=list(q.keywords),
        regex=q.regex,
        keyword_rule=KEYWORD_RULE_TO_PROTO[q.keyword_rule],
        min_explicit_score=q.min_explicit_score,
    )


def bank_item_proto(item: BankItem) -> vigil_pb2.BankItem:
    return vigil_pb2.BankItem(
        item_id=item.item_id,
        bank=item.bank,
        kind=KIND_TO_PROTO[item.kind],
        label=item.label[:MAX_LABEL_CHARS],
        external_id=item.external_id[:MAX_LABEL_CHARS],
        pdq_hashes=item.pdq_hashes,
        fingerprint_seconds=item.fingerprint_seconds,
        created_at=item.created_at,
        signals={s.signal: s.amount for s in item.signals},
        confirmed=item.confirmed,
        dismissed=item.dismissed,
    )
