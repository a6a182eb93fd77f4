"""Hash lists as hash-sharing programmes exchange them, read and written through the signals.

Read (`read_hash_list`), in this order:

1. A text whose first line is a line of a signal's own file format (Signal.file_line: Meta's vPDQ
   file, `frame_number,quality,pdq_hex,timestamp`), or any text when `signal_type` names such a
   signal: one hash of that signal, for one item.
2. A typed list: a line or a CSV column names each hash's signal type as python-threatexchange
   does (`pdq`, `vpdq`, `video_md5`, ...; Signal.exchange_names), so one list mixes them:
   `TYPE,VALUE[,LABEL]` (CSV quoting), `TYPE<TAB>VALUE[<TAB>LABEL]` or `TYPE VALUE [LABEL]`; or CSV
   under a header with a `signal_type` column and a `signal_value` (or `value`, `hash`) column,
   optionally `label` and `external_id`. A line without a type whose first field is a PDQ hash is
   a PDQ line, as in 3. An unknown type fails the import with its line number.
3. Otherwise the PDQ-only formats of vigil_models.hashing.import_pdq_list (plain hashes with
   labels, pdq-photo-hasher's `hash,quality,label`, CSV with a hash column), unchanged; with
   `signal_type` set to a signal without a file format, lines without a type are of that type.

Written (`write_typed_list`): CSV under the header `signal_type,signal_value,label,external_id`,
one line per item and signal with an exchange form; `read_hash_list` reads it back.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from vigil_models.hashing import PDQ_HEX_DIGITS, export_pdq_list, import_pdq_list
from vigil_server.errors import InvalidRequest
from vigil_server.moderation.rules import StoredItem
from vigil_server.moderation.signals import Signal
from vigil_server.types import ReferenceKind

TYPED_HEADER = ("signal_type", "signal_value", "label", "external_id")
_VALUE_COLUMNS = ("signal_value", "value", "hash", "signal")
_TYPE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_HEX_PDQ = re.compile(rf"^[0-9a-fA-F]{{{PDQ_HEX_DIGITS}}}$")
_HASHLIKE = re.compile(r"^[0-9a-fA-F]{32,}$")  # an MD5, a PDQ hash, a SHA-256
_PDQ_HEADER = ("pdq_hash", "pdq", "hash", "signal_value", "indicator")  # import_pdq_list's hash columns
MAX_LABEL_CHARS = 256  # of an entry's label and external id, as of an item's (wire_moderation.MAX_LABEL_CHARS)
MAX_ENTRIES = 200_000  # items per import


@dataclass(frozen=True)
class ListEntry:
    signal: Signal[Any, Any]
    values: Any  # the signal's description of the item
    label: str
    external_id: str
    line: int  # where it starts in the list


def signal_named(name: str, signals: Sequence[Signal[Any, Any]]) -> Signal[Any, Any] | None:
    """The signal a list line's type names (any of its exchange names, in any case)."""
    name = name.strip().lower()
    return next((s for s in signals if name in s.exchange_names), None)


def known_types(signals: Sequence[Signal[Any, Any]]) -> str:
    return ", ".join(n for s in signals for n in s.exchange_names)


def read_hash_list(
    text: str, signals: Sequence[Signal[Any, Any]], signal_type: str = "", field: str = "hash_list"
) -> list[ListEntry]:
    """The entries of a hash list; InvalidRequest naming the line of the first problem.

    Every entry is bounded (label and external id at most MAX_LABEL_CHARS, at most MAX_ENTRIES of
    them), so what is stored always lists and exports.
    """
    entries = _read(text, signals, signal_type, field)
    if len(entries) > MAX_ENTRIES:
        raise InvalidRequest(f"the hash list holds {len(entries)} hashes; import at most {MAX_ENTRIES} per call",
                             field=field)  # fmt: skip
    for n, entry in enumerate(entries, 1):
        for name, value in (("label", entry.label), ("external id", entry.external_id)):
            if len(value) > MAX_LABEL_CHARS:
                where = f"line {entry.line}" if entry.line else f"entry {n}"
                raise InvalidRequest(f"{where} of the hash list has a {name} of {len(value)} characters; the "
                                     f"limit is {MAX_LABEL_CHARS}", field=field)  # fmt: skip
    return entries


def _read(text: str, signals: Sequence[Signal[Any, Any]], signal_type: str, field: str) -> list[ListEntry]:
    default = None
    if signal_type:
        default = signal_named(signal_type, signals)
        if default is None or default.hash_kind is None:
            raise InvalidRequest(
                f"signal_type {signal_type[:64]!r} is not one this server imports; use one of {known_types(signals)}",
                field="signal_type",
            )
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)]
    data = [(n, line) for n, line in lines if line and not line.startswith("#")]
    if not data:
        return []
    whole = default if default is not None and default.file_line is not None else None
    whole = whole or next((s for s in signals if s.file_line is not None and s.file_line.match(data[0][1])), None)
    if whole is not None:
        return [ListEntry(whole, _parse(whole, text, None, field), "", "", data[0][0])]
    shapes = [_shape(line, signals) for _, line in data]
    if default is not None and default.name != "pdq":
        return _typed_entries(data, signals, default, field)
    if "typed" in shapes or "unknown" in shapes or shapes[0] == "typed header":
        return _typed_entries(data, signals, None, field)
    pdq = signal_named("pdq", signals)
    if pdq is None:
        raise InvalidRequest("this server has no PDQ signal to read a PDQ hash list with", field=field)
    try:
        return [ListEntry(pdq, (h,), label, "", 0) for h, label in import_pdq_list(text)]
    except ValueError as exc:
        raise InvalidRequest(f"the hash list cannot be read: {str(exc)[:200]}", field=field) from exc


def _shape(line: str, signals: Sequence[Signal[Any, Any]]) -> str:
    """'typed header', 'header' (a PDQ list's), 'typed' (starts with a known type), 'unknown' (starts with
    what can only be a type name), or 'plain' (starts with a hash, or cannot be told)."""
    try:
        fields = _fields(line)
    except csv.Error:
        return "plain"
    lowered = [f.lower() for f in fields]
    if all(len(f) <= 32 and not _HASHLIKE.match(f) for f in fields):  # names of columns, not hashes
        if "signal_type" in lowered:
            return "typed header"
        if any(f in _PDQ_HEADER for f in lowered):
            return "header"
    if signal_named(fields[0], signals) is not None:
        return "typed"
    if _TYPE_NAME.match(fields[0]) and not _HEX.match(fields[0]):
        return "unknown"
    return "plain"


def _typed_entries(
    data: list[tuple[int, str]], signals: Sequence[Signal[Any, Any]], default: Signal[Any, Any] | None, field: str
) -> list[ListEntry]:
    entries: list[ListEntry] = []
    header: list[str] | None = None
    for number, line in data:
        try:
            fields = _fields(line)
        except csv.Error as exc:
            raise InvalidRequest(f"hash list line {number}: {exc}", field=field) from None
        if header is None and not entries and _shape(line, signals) == "typed header":
            header = [f.lower() for f in fields]
            if not any(c in header for c in _VALUE_COLUMNS):
                raise InvalidRequest(f"hash list line {number}: the header names no signal_value column", field=field)
            continue
        if header is not None:
            row = dict(zip(header, fields, strict=False))
            kind, value = row.get("signal_type", ""), next((row[c] for c in _VALUE_COLUMNS if c in row), "")
            label, external_id = row.get("label", ""), row.get("external_id", "")
        elif signal_named(fields[0], signals) is None and (default is not None or _HEX_PDQ.match(fields[0])):
            untyped = default or signal_named("pdq", signals)  # a line without a type: of the default type
            assert untyped is not None
            if untyped.name == "pdq":  # hash[,quality][,label], as import_pdq_list reads PDQ lines
                try:
                    [(pdq_value, label)] = import_pdq_list(line)
                except ValueError as exc:
                    raise InvalidRequest(f"hash list line {number}: {exc}", field=field) from None
                entries.append(ListEntry(untyped, (pdq_value,), label, "", number))
                continue
            kind, value, label, external_id = untyped.exchange_names[0], fields[0], ",".join(fields[1:]), ""
        else:
            kind, value = fields[0], fields[1] if len(fields) > 1 else ""
            label, external_id = ",".join(fields[2:]), ""
        signal = signal_named(kind, signals)
        if signal is None or signal.hash_kind is None:
            shown = repr(kind[:40]) if _TYPE_NAME.match(kind) else f"{kind[:40]!r} (neither a hash nor a signal type)"
            raise InvalidRequest(
                f"hash list line {number}: unknown signal type {shown}; this server reads {known_types(signals)}",
                field=field,
            )
        entries.append(ListEntry(signal, _parse(signal, value, number, field), label, external_id, number))
    return entries


def _fields(line: str) -> list[str]:
    """A line's fields: tab-separated, CSV, or type, value and the rest separated by spaces."""
    if "\t" in line:
        return [f.strip() for f in line.split("\t")]
    if "," in line and not re.match(r"^\S+\s+\[", line):
        return [f.strip() for f in next(csv.reader([line], skipinitialspace=True, strict=True))]
    head, _, rest = line.partition(" ")
    rest = rest.strip()
    if rest.startswith("["):  # a threatexchange vpdq string (a JSON list) holds spaces
        end = rest.find("]") + 1 or len(rest)
        return [head, rest[:end], *([rest[end:].strip()] if rest[end:].strip() else [])]
    value, _, label = rest.partition(" ")
    return [head, *([value] if value else []), *([label.strip()] if label.strip() else [])]


def _parse(signal: Signal[Any, Any], value: str, line: int | None, field: str) -> Any:
    """A line's hash (line None: the whole list is one hash, and its own errors say where)."""
    try:
        return signal.parse_hash(value)
    except ValueError as exc:
        where = f"hash list line {line}: " if line is not None else ""
        message = f"{where}bad {signal.exchange_names[0]} hash: {str(exc)[:200]}"
        raise InvalidRequest(message, field=field) from None


def export_pdq(pdq: Signal[Any, Any], items: Iterable[StoredItem]) -> str:
    """`pdq_hash,quality,label` CSV of the items' PDQ hashes (a picture's own, not its rotations')."""
    lines = []
    for stored in items:
        hashes = stored.values.get(pdq.name, ())
        lines += [(h, stored.item.label) for h in (hashes[:1] if stored.item.kind is ReferenceKind.IMAGE else hashes)]
    return export_pdq_list(lines)


def export_typed(signals: Sequence[Signal[Any, Any]], items: Iterable[StoredItem]) -> str:
    """A typed list of every hash of the items that has an exchange form."""
    rows = []
    for stored in items:
        item = stored.item
        rows += [(item.label, item.external_id, item.kind, s, stored.values[s.name])
                 for s in signals if s.name in stored.values]  # fmt: skip
    return write_typed_list(rows)


def export_file(signals: Sequence[Signal[Any, Any]], signal_type: str, stored: StoredItem) -> str:
    """One item's hash in its signal's own file format (vpdq: Meta's vPDQ file)."""
    signal = signal_named(signal_type, signals)
    if signal is None:
        raise InvalidRequest(f"no signal type {signal_type!r} on this server", field="signal_type")
    text = signal.format_file(stored.values[signal.name]) if signal.name in stored.values else None
    if text is None:
        raise InvalidRequest(f"item {stored.item.item_id} has no {signal_type} hash to write as a file of its own",
                             field="item_id")  # fmt: skip
    return text


def write_typed_list(items: Iterable[tuple[str, str, ReferenceKind, Signal[Any, Any], Any]]) -> str:
    """CSV of (label, external id, kind, signal, values) rows under TYPED_HEADER; read_hash_list reads it back."""
    rows = [",".join(TYPED_HEADER)]
    for label, external_id, kind, signal, values in items:
        text = signal.format_hash(values, kind)
        if text is not None and signal.exchange_names:
            rows.append(_csv_line([signal.exchange_names[0], text, label, external_id]))
    return "\n".join(rows) + "\n"


def _csv_line(fields: list[str]) -> str:
    for value in fields:
        if "\n" in value or "\r" in value:
            raise ValueError(f"a hash list field cannot hold a line break: {value[:80]!r}")
    return ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if any(c in f for c in ',"') else f for f in fields)
