"""Exact matches: a cryptographic digest of a whole file (MatchMethod.EXACT), the common denominator of hash sharing.

A reference item is described by the digest of the file as uploaded, an imported hash by itself;
a stream by the digest of every byte its Ingest call sent (fed chunk by chunk through the signal's
`stream_state`, checked when the stream ends), and a looked-up file by its bytes. Equal digests
match; anything else does not (one changed byte is another file). The evidence value is 1 for
the same bytes, else 0. Subclasses name the algorithm (md5.py, sha256.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

from vigil_server.moderation.signals.base import Comparison, ItemMedia, Live, LiveFile, LiveInput, Signal, SignalIndex
from vigil_server.types import Evidence, MatchMethod, ReferenceKind


class Digest:
    """A running digest of a stream's bytes (the FileReader a file signal's stream_state returns)."""

    def __init__(self, algorithm: str):
        self._hash = hashlib.new(algorithm)

    def update(self, data: bytes, /) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()


class FileDigestSignal(Signal[bytes, bytes]):
    algorithm: ClassVar[str]  # as hashlib names it
    method: ClassVar[MatchMethod | None] = MatchMethod.EXACT
    reads: ClassVar[LiveInput] = LiveInput.FILE
    hash_kind: ClassVar[ReferenceKind | None] = ReferenceKind.FILE_HASH

    @property
    def hex_digits(self) -> int:
        return 2 * hashlib.new(self.algorithm).digest_size

    def stream_state(self) -> Digest:
        return Digest(self.algorithm)

    async def describe_item(self, media: ItemMedia) -> bytes | None:
        return hashlib.new(self.algorithm, media.data).digest() if media.data else None

    def amount(self, values: bytes) -> float:
        return 1.0

    def encode(self, values: bytes) -> bytes:
        return values

    def decode(self, blob: bytes) -> bytes:
        return bytes(blob)

    def describe_live(self, live: Live) -> bytes | None:
        assert isinstance(live, LiveFile) and isinstance(live.reader, Digest)
        return live.reader.digest()

    def compare(self, values: bytes, live: bytes) -> Comparison | None:
        same = values == live
        return Comparison(Evidence(self.name, self.method, 1.0 if same else 0.0, same))

    def index(self, items: Sequence[tuple[str, bytes]]) -> SignalIndex[bytes, bytes]:
        return _Digests(self, items)

    def parse_hash(self, text: str) -> bytes:
        text = text.strip()
        if len(text) != self.hex_digits or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError(f"{self.name} is {self.hex_digits} hex digits, got {text[:80]!r}")
        return bytes.fromhex(text)

    def format_hash(self, values: bytes, kind: ReferenceKind) -> str | None:
        return values.hex()

    def lookup_values(self, text: str) -> list[bytes]:
        return [self.parse_hash(text)]

    def encode_live(self, live: bytes) -> bytes:
        return live

    def decode_live(self, blob: bytes) -> bytes:
        return bytes(blob)


class _Digests(SignalIndex[bytes, bytes]):
    """Digest -> the items with it: one dictionary look-up per file."""

    def __init__(self, signal: FileDigestSignal, items: Sequence[tuple[str, bytes]]):
        super().__init__(signal, items)
        self._name = signal.name
        self._method = signal.method
        self._owners: dict[bytes, list[str]] = {}
        for item_id, digest in items:
            self._owners.setdefault(digest, []).append(item_id)

    def match(self, live: bytes, memory: Any = None) -> list[tuple[str, Comparison]]:
        evidence = Evidence(self._name, self._method, 1.0, True)
        return [(item_id, Comparison(evidence)) for item_id in self._owners.get(live, ())]
