"""Perceptual hashes for reference banks: PDQ for images and frames, Chromaprint for audio.

PDQ (Meta's ThreatExchange, via PyPI `pdqhash`) turns a picture into 256 bits; pictures are the
same when the Hamming distance of their hashes is at most PDQ_MATCH_DISTANCE. It survives
re-encoding and resizing but not cropping: 5 % off each side of a photo already moves it as far
as an unrelated photo (tests/test_hashing.py measures both). The hex form is the one
hash-sharing programmes exchange: 64 hex digits, most significant bit first.

Chromaprint (the library behind AcoustID; Debian `libchromaprint-tools` brings it and `fpcalc`)
turns audio into one 32-bit word every FINGERPRINT_ITEM_S seconds. Two recordings are aligned by
sliding the shorter fingerprint over the longer one and counting differing bits; the best
alignment gives the score and where one plays inside the other. The library is called in-process
through ctypes, as PyPI `pyacoustid` does; it gives exactly what `fpcalc -raw` prints.
Digital silence fingerprints alike everywhere, so a mostly silent clip makes a poor reference.
"""

from __future__ import annotations

import csv
import ctypes
import ctypes.util
import functools
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pdqhash

from vigil_models.catalog import ModelUnavailableError
from vigil_models.speech import SAMPLE_RATE

__all__ = [
    "DIHEDRAL_TRANSFORMS",
    "FINGERPRINT_ITEM_S",
    "FINGERPRINT_MATCH_SCORE",
    "FINGERPRINT_MIN_OVERLAP_S",
    "PDQ_MATCH_DISTANCE",
    "PDQ_MIN_QUALITY",
    "AudioFingerprint",
    "FingerprintMatch",
    "PdqHash",
    "PdqIndex",
    "audio_fingerprint",
    "export_pdq_list",
    "fingerprint_match",
    "frame_hashes",
    "hamming",
    "import_pdq_list",
    "pdq_hash",
    "pdq_hash_dihedral",
    "trim_borders",
]

PDQ_BITS = 256
PDQ_HEX_DIGITS = PDQ_BITS // 4
# Hashes at most this far apart (of 256 bits) are the same picture: the threshold ThreatExchange
# uses (PDQ_CONFIDENT_MATCH_THRESHOLD). Measured here: JPEG q75 + 50 % resize 4-22 bits,
# unrelated photos 106 bits or more.
PDQ_MATCH_DISTANCE = 31
# Below this quality a picture is too flat to hash reliably (a blank frame scores 0); the
# cut-off ThreatExchange applies to video frames (VPDQ_CONFIDENT_QUALITY_THRESHOLD).
PDQ_MIN_QUALITY = 50
# pdq_hash_dihedral's order: the hash of each of these numpy views of the picture.
DIHEDRAL_TRANSFORMS = (
    "original",
    "rot90",  # np.rot90(image): a quarter turn anticlockwise
    "rot180",
    "rot270",
    "flipud",  # image[::-1]: upside down
    "fliplr",  # image[:, ::-1]: mirrored
    "transpose",  # image.transpose(1, 0, 2)
    "antitranspose",  # np.rot90(image, 2).transpose(1, 0, 2)
)
# trim_borders: bars are rows or columns of one level within this (of 255), at least
# BORDER_MIN_SHARE of the picture's side to count, and at most BORDER_MAX_SHARE are cut per side.
BORDER_TOLERANCE = 16
BORDER_MIN_SHARE = 0.02
BORDER_MAX_SHARE = 0.4
# Header names accepted for the columns of a CSV hash list.
_HASH_COLUMNS = ("pdq_hash", "pdq", "hash", "signal_value", "indicator")
_QUALITY_COLUMNS = ("quality", "pdq_quality")

# Chromaprint's default algorithm (CHROMAPRINT_ALGORITHM_TEST2; `fpcalc -algorithm 2`, AcoustID's).
_CHROMAPRINT_ALGORITHM = 1
# One fingerprint word per 1365 samples of Chromaprint's internal 11025 Hz audio.
FINGERPRINT_ITEM_S = 1365 / 11025
# A match needs score = 1 - 2 * bit error rate at least this high (bit error rate <= 0.25).
# Measured (tests/test_hashing.py, on Debian's music-on-hold tracks): a 10 s excerpt inside a 60 s
# stream after AAC/MPEG-TS scored 0.80-0.92, still 0.69 under white noise as loud as the music;
# 10 s excerpts of other tracks scored at most 0.30 at their best alignment in 5 min of music
# (bit error rate 0.35, so that often-quoted cut-off would match unrelated music). The more
# alignments tried, the higher chance scores climb: match a stream in windows of minutes.
FINGERPRINT_MATCH_SCORE = 0.5
# Alignments where less than this much overlaps are not tried (unless the shorter is shorter):
# the fewer the bits compared, the likelier two unrelated passages agree by chance.
FINGERPRINT_MIN_OVERLAP_S = 5.0


# ---------------------------------------------------------------- PDQ


@dataclass(frozen=True, slots=True)  # slots: a bank may hold millions
class PdqHash:
    bits: bytes  # 32 bytes, most significant bit first (the order of the hex form)
    quality: int | None = None  # 0-100 from the hasher; None when imported without one

    def __post_init__(self) -> None:
        if len(self.bits) != PDQ_BITS // 8:
            raise ValueError(f"a PDQ hash has {PDQ_BITS // 8} bytes, got {len(self.bits)}")
        if self.quality is not None and not 0 <= self.quality <= 100:
            raise ValueError(f"PDQ quality is 0-100, got {self.quality}")

    def to_hex(self) -> str:
        """64 lowercase hex digits, the form hash lists carry."""
        return self.bits.hex()

    @classmethod
    def from_hex(cls, text: str, quality: int | None = None) -> PdqHash:
        text = text.strip()
        if len(text) != PDQ_HEX_DIGITS or any(c not in "0123456789abcdefABCDEF" for c in text):
            raise ValueError(f"a PDQ hash is {PDQ_HEX_DIGITS} hex digits, got {text[:80]!r}")
        return cls(bytes.fromhex(text), quality)

    def __int__(self) -> int:
        return int.from_bytes(self.bits, "big")

    def __repr__(self) -> str:
        return f"PdqHash.from_hex({self.to_hex()!r}, quality={self.quality})"


def pdq_hash(image: np.ndarray) -> PdqHash:
    """The PDQ hash of an RGB uint8 [height, width, 3] picture (any size; a few ms at 640x360)."""
    bits, quality = pdqhash.compute(_rgb(image))
    return PdqHash(_pack(bits), int(quality))


def pdq_hash_dihedral(image: np.ndarray) -> tuple[PdqHash, ...]:
    """The hashes of the picture's 8 rotations and flips, in DIHEDRAL_TRANSFORMS order, in one pass.

    A rotated or mirrored copy of a reference matches one of these within PDQ_MATCH_DISTANCE.
    """
    vectors, quality = pdqhash.compute_dihedral(_rgb(image))
    return tuple(PdqHash(_pack(bits), int(quality)) for bits in vectors)


def trim_borders(image: np.ndarray, tolerance: int = BORDER_TOLERANCE) -> np.ndarray | None:
    """The picture without the flat bars along its edges (letterbox, pillarbox), or None when it has none.

    A bar is a run of edge rows (or columns) each of one level (green channel within `tolerance`)
    and the level of the outermost one; bars under BORDER_MIN_SHARE of the side are ignored, and
    at most BORDER_MAX_SHARE of each side is cut. PDQ hashes the whole picture, so bars alone move
    a frame's hash as far as an unrelated picture's: hashing the picture inside them finds it again.
    """
    green = image[..., 1] if image.ndim == 3 else image
    height, width = green.shape[:2]
    if min(height, width) < 16:
        return None

    def run(lines: np.ndarray) -> int:  # lines: [n, length], from the edge inwards
        low, high = lines.min(axis=1).astype(np.int16), lines.max(axis=1).astype(np.int16)
        flat = (high - low <= tolerance) & (np.abs(low - int(low[0])) <= tolerance)
        n = int(np.argmin(flat)) if not flat.all() else len(flat)
        limit = int(len(flat) * BORDER_MAX_SHARE)
        return n if len(flat) * BORDER_MIN_SHARE <= n <= limit else 0

    top, bottom = run(green), run(green[::-1])
    left, right = run(green.T), run(green.T[::-1])
    if not (top or bottom or left or right):
        return None
    return image[top : height - bottom, left : width - right]


def frame_hashes(image: np.ndarray) -> tuple[PdqHash, ...]:
    """A frame's PDQ hash, and its hash without letterbox or pillarbox bars when it has them."""
    trimmed = trim_borders(image)
    whole = pdq_hash(image)
    return (whole,) if trimmed is None else (whole, pdq_hash(np.ascontiguousarray(trimmed)))


def hamming(a: PdqHash, b: PdqHash) -> int:
    """Bits that differ (0-256); the same picture when at most PDQ_MATCH_DISTANCE."""
    return (int(a) ^ int(b)).bit_count()


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an RGB uint8 image of shape [height, width, 3], got {image.dtype} {image.shape}")
    if min(image.shape[:2]) < 1:
        raise ValueError(f"empty image {image.shape}")
    return np.ascontiguousarray(image)


def _pack(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()


class PdqIndex:
    """A bank of PDQ hashes with ids; `match` finds every hash within a distance, nearest first.

    Small banks are scanned whole (about 1 ms per 100k hashes). From MULTI_INDEX_MIN hashes on, a
    search within a distance below 48 bits uses a multi-index (Norouzi et al., "Fast search in
    Hamming space with multi-index hashing", CVPR 2012): the 256 bits are cut into 16 chunks of 16
    bits, and a hash within distance d of the query has at least one chunk within d // 16 bits of
    the query's same chunk. So only the hashes filed under those chunk values (16 tables) are
    compared, a few thousand of a million random hashes, and the answer is exactly the scan's. The
    tables are built on the first such search after a change (about 1 s per million hashes).
    """

    def __init__(self, entries: Iterable[tuple[str, PdqHash]] = ()):
        self._ids: list[str] = []
        self._words = np.zeros((0, 4), dtype=np.uint64)  # rows [0, len) are used; the rest is spare
        self._tables: _ChunkTables | None = None
        for entry_id, value in entries:
            self.add(entry_id, value)

    @classmethod
    def of(cls, entries: Iterable[tuple[str, PdqHash]]) -> PdqIndex:
        """An index of many entries at once (one copy of the bits, not one per entry)."""
        index = cls()
        ids, bits = [], []
        for entry_id, value in entries:
            ids.append(entry_id)
            bits.append(value.bits)
        index._ids = ids
        index._words = np.frombuffer(b"".join(bits), dtype=np.uint64).reshape(-1, 4).copy()
        return index

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, entry_id: str, value: PdqHash) -> None:
        """Add one hash; ids need not be unique (a bank may hold several frames of one item)."""
        n = len(self._ids)
        if n == self._words.shape[0]:
            grown = np.zeros((max(64, 2 * n), 4), dtype=np.uint64)
            grown[:n] = self._words
            self._words = grown
        self._words[n] = np.frombuffer(value.bits, dtype=np.uint64)
        self._ids.append(entry_id)
        self._tables = None

    def match(self, value: PdqHash, max_distance: int = PDQ_MATCH_DISTANCE) -> list[tuple[str, int]]:
        """(id, distance) of every hash within max_distance, nearest first (ties in insertion order)."""
        positions, distances = self.match_positions(value, max_distance)
        return [(self._ids[i], int(d)) for i, d in zip(positions.tolist(), distances.tolist(), strict=True)]

    def match_positions(self, value: PdqHash, max_distance: int) -> tuple[np.ndarray, np.ndarray]:
        """Insertion positions and distances of every hash within max_distance, nearest first."""
        query = np.frombuffer(value.bits, dtype=np.uint64)
        words = self._words[: len(self._ids)]
        tables = self._multi_index(max_distance)
        if tables is None:
            candidates = None
            distances = _distances(words, query)
        else:
            candidates = tables.candidates(query, max_distance // CHUNKS)
            distances = _distances(np.take(words, candidates, axis=0), query)
        near = np.flatnonzero(distances <= max_distance)
        positions = near if candidates is None else candidates[near]
        if candidates is not None:  # a hash is a candidate once per chunk that led to it
            positions, first = np.unique(positions, return_index=True)
            near = near[first]
        found = distances[near]
        order = np.lexsort((positions, found))
        return positions[order], found[order]

    def _multi_index(self, max_distance: int) -> _ChunkTables | None:
        if len(self._ids) < MULTI_INDEX_MIN or max_distance // CHUNKS > MULTI_INDEX_MAX_CHUNK_DISTANCE:
            return None
        if self._tables is None:
            self._tables = _ChunkTables(self._words[: len(self._ids)])
        return self._tables


def _distances(words: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Hamming distances of uint64 [n, 4] rows to a uint64 [4] query, as int32 [n]."""
    counts = np.ascontiguousarray(np.bitwise_count(words ^ query))  # uint8 [n, 4], each at most 64
    # A row's four counts, read as one uint32 and multiplied by 0x01010101, add up in its top byte
    # (modulo 256: only four counts of 64, a complement, make 256, and they read as 0x40404040).
    packed = counts.view(np.uint32).ravel()
    summed = ((packed * np.uint32(0x01010101)) >> np.uint32(24)).astype(np.int32)
    summed[packed == 0x40404040] = 256
    return summed


# Multi-index for large PdqIndexes: 16 chunks of 16 bits; used from this many hashes on, for
# distances whose per-chunk share (distance // 16) is at most 2 (below 48 bits).
CHUNKS = 16
MULTI_INDEX_MIN = 20_000
MULTI_INDEX_MAX_CHUNK_DISTANCE = 2


def _flips(bits: int, max_flips: int) -> np.ndarray:
    """Every mask of `bits` bits with at most max_flips bits set."""
    masks = [0]
    for flips in range(1, max_flips + 1):
        masks += [sum(1 << b for b in chosen) for chosen in itertools.combinations(range(bits), flips)]
    return np.array(masks, dtype=np.int64)


class _ChunkTables:
    """For each 16-bit chunk, the positions of the hashes sorted by that chunk, and where each value starts."""

    def __init__(self, words: np.ndarray):
        n = len(words)
        chunks = np.ascontiguousarray(words).view(np.uint16).reshape(n, CHUNKS)
        self.n = n
        self.order = np.empty((CHUNKS, n), dtype=np.int64)
        self.starts = np.empty((CHUNKS, (1 << 16) + 1), dtype=np.int64)
        for c in range(CHUNKS):
            column = chunks[:, c]
            self.order[c] = np.argsort(column, kind="stable")
            self.starts[c, 0] = 0
            np.cumsum(np.bincount(column, minlength=1 << 16), out=self.starts[c, 1:])
        self.starts += (np.arange(CHUNKS, dtype=np.int64) * n)[:, None]  # into the flattened order
        self.flat = self.order.reshape(-1)
        self.masks = {d: _flips(16, d) for d in range(MULTI_INDEX_MAX_CHUNK_DISTANCE + 1)}

    def candidates(self, query: np.ndarray, chunk_distance: int) -> np.ndarray:
        """Positions of every hash with some chunk within chunk_distance of the query's (with repeats)."""
        values = query.view(np.uint16).astype(np.int64)  # [CHUNKS]
        probes = values[:, None] ^ self.masks[chunk_distance][None, :]  # [CHUNKS, probes]
        rows = np.arange(CHUNKS)[:, None]
        first, last = self.starts[rows, probes].ravel(), self.starts[rows, probes + 1].ravel()
        lengths = last - first
        total = int(lengths.sum())
        if not total:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(first - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        return np.take(self.flat, offsets + np.arange(total))


# ---------------------------------------------------------------- hash lists


def export_pdq_list(items: Iterable[tuple[PdqHash, str]]) -> str:
    """A CSV hash list: header `pdq_hash,quality,label`, then one hash per line (quality empty if unknown)."""
    lines = ["pdq_hash,quality,label"]
    for value, label in items:
        if "\n" in label or "\r" in label:
            raise ValueError(f"a label cannot hold a line break: {label!r}")
        quality = "" if value.quality is None else str(value.quality)
        lines.append(_csv_line([value.to_hex(), quality, label]))
    return "\n".join(lines) + "\n"


def import_pdq_list(text: str) -> list[tuple[PdqHash, str]]:
    """Hashes and labels from a hash list; raises ValueError naming the first bad line.

    Accepted, line by line: `#` comments and blank lines (skipped); a hash alone; a hash, then a
    comma, tab or spaces, then a label; CSV with a header naming the hash column (pdq_hash, hash,
    ...) and optionally quality and label columns (else the first other column is the label).
    Without a header, a whole number 0-100 right after the hash is its quality, as in the
    `hash,quality,filename` lines of Meta's pdq-photo-hasher.
    """
    items: list[tuple[PdqHash, str]] = []
    header: list[str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            fields = [f.strip() for f in _split(line)]
            if header is None and not items and any(f.lower() in _HASH_COLUMNS for f in fields):
                header = [f.lower() for f in fields]
                continue
            items.append(_headed_row(fields, header) if header else _plain_row(fields))
        except (ValueError, csv.Error) as exc:
            raise ValueError(f"hash list line {number}: {exc}") from None
    return items


def _split(line: str) -> list[str]:
    if "," in line:
        return next(csv.reader([line], skipinitialspace=True, strict=True))
    if "\t" in line:
        return line.split("\t")
    return line.split(None, 1)


def _plain_row(fields: list[str]) -> tuple[PdqHash, str]:
    rest = fields[1:]
    quality = ""
    if rest and (_is_quality(rest[0]) or (rest[0] == "" and len(rest) > 1)):
        quality = rest.pop(0)
    return PdqHash.from_hex(fields[0], _quality(quality)), ",".join(rest)


def _headed_row(fields: list[str], header: list[str]) -> tuple[PdqHash, str]:
    if len(fields) > len(header):
        raise ValueError(f"{len(fields)} fields but the header names {len(header)}")
    row = dict(zip(header, fields, strict=False))
    hex_text = next((row[c] for c in _HASH_COLUMNS if c in row), "")
    quality = next((row[c] for c in _QUALITY_COLUMNS if c in row), "")
    others = [c for c in header if c not in _HASH_COLUMNS and c not in _QUALITY_COLUMNS]
    label_column = "label" if "label" in header else (others[0] if others else "")
    return PdqHash.from_hex(hex_text, _quality(quality)), row.get(label_column, "")


def _is_quality(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= 100


def _quality(text: str) -> int | None:
    if not text:
        return None
    if not _is_quality(text):
        raise ValueError(f"quality must be a whole number 0-100, got {text!r}")
    return int(text)


def _csv_line(fields: list[str]) -> str:
    return ",".join(f'"{f.replace(chr(34), chr(34) * 2)}"' if any(c in f for c in ',"') else f for f in fields)


# ---------------------------------------------------------------- Chromaprint


@dataclass(frozen=True)
class AudioFingerprint:
    items: np.ndarray  # uint32 [n]: Chromaprint's raw fingerprint, one word every FINGERPRINT_ITEM_S
    duration: float  # seconds of audio fingerprinted


@dataclass(frozen=True)
class FingerprintMatch:
    score: float  # 1 - 2 * bit error rate at the best alignment, clipped to 0-1; 0 is chance
    offset_seconds: float  # where the query's start falls in the reference (negative: before it)
    bit_error_rate: float  # share of differing bits over the overlap (0.5 for unrelated audio)
    overlap_seconds: float  # how much of the two was compared

    @property
    def matched(self) -> bool:
        return self.score >= FINGERPRINT_MATCH_SCORE


def audio_fingerprint(audio: np.ndarray) -> AudioFingerprint:
    """Chromaprint's raw fingerprint of float32 mono audio at 16 kHz (about 8 words a second).

    Audio shorter than about 3 s gives no words: Chromaprint needs that much context.
    """
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio of shape [samples], got {audio.shape}")
    pcm = np.ascontiguousarray(np.clip(np.round(audio * 32767.0), -32768, 32767).astype(np.int16))
    lib = _chromaprint()
    context = lib.chromaprint_new(_CHROMAPRINT_ALGORITHM)
    if not context:
        raise MemoryError("chromaprint_new failed")
    try:
        data = ctypes.POINTER(ctypes.c_uint32)()
        size = ctypes.c_int()
        ok = (
            lib.chromaprint_start(context, SAMPLE_RATE, 1)
            and lib.chromaprint_feed(context, pcm.ctypes.data, pcm.size)
            and lib.chromaprint_finish(context)
            and lib.chromaprint_get_raw_fingerprint(context, ctypes.byref(data), ctypes.byref(size))
        )
        if not ok:
            raise RuntimeError("Chromaprint failed to fingerprint the audio")
        try:
            items = np.ctypeslib.as_array(data, shape=(size.value,)).copy() if size.value else np.zeros(0, np.uint32)
        finally:
            lib.chromaprint_dealloc(data)
    finally:
        lib.chromaprint_free(context)
    return AudioFingerprint(items.astype(np.uint32), audio.size / SAMPLE_RATE)


def fingerprint_match(
    query: AudioFingerprint, reference: AudioFingerprint, min_overlap_s: float = FINGERPRINT_MIN_OVERLAP_S
) -> FingerprintMatch:
    """The best alignment of two fingerprints, e.g. a flagged clip (query) inside a stream (reference).

    The shorter slides over the longer, overlapping it by at least min_overlap_s (or all of the
    shorter); each alignment is scored by its bit error rate, the lowest wins.
    """
    swapped = query.items.size > reference.items.size
    short, long = (reference.items, query.items) if swapped else (query.items, reference.items)
    if short.size == 0:
        return FingerprintMatch(0.0, 0.0, 0.5, 0.0)
    need = min(short.size, max(1, math.ceil(min_overlap_s / FINGERPRINT_ITEM_S)))
    pad = short.size - need
    padded = np.concatenate([np.zeros(pad, np.uint32), long, np.zeros(pad, np.uint32)])
    shifts = long.size + pad - need + 1  # short's word 0 sits at long[shift - pad]
    errors = np.zeros(shifts, dtype=np.int64)
    for i, word in enumerate(short):  # one vector over all alignments per word: memory stays O(len)
        errors += np.bitwise_count(padded[i : i + shifts] ^ word)
    starts = np.arange(shifts) - pad
    overlap = np.minimum(starts + short.size, long.size) - np.maximum(starts, 0)
    # Padding words are zeros, not the query: count their bits out again.
    errors -= _padding_bits(short, starts, long.size)
    rates = errors / (32.0 * overlap)
    best = int(np.argmin(rates))
    rate = float(rates[best])
    offset = float(starts[best]) * FINGERPRINT_ITEM_S
    return FingerprintMatch(
        score=max(0.0, 1.0 - 2.0 * rate),
        offset_seconds=-offset if swapped else offset,
        bit_error_rate=rate,
        overlap_seconds=float(overlap[best]) * FINGERPRINT_ITEM_S,
    )


def _padding_bits(short: np.ndarray, starts: np.ndarray, long_size: int) -> np.ndarray:
    """Per alignment, the set bits of the short words that fall outside the long fingerprint."""
    ones = np.concatenate([[0], np.cumsum(np.bitwise_count(short), dtype=np.int64)])
    before = np.clip(-starts, 0, short.size)  # words hanging off the start
    after = np.clip(starts + short.size - long_size, 0, short.size)  # and off the end
    result: np.ndarray = ones[before] + (ones[-1] - ones[short.size - after])
    return result


@functools.cache
def _chromaprint() -> ctypes.CDLL:
    name = ctypes.util.find_library("chromaprint") or "libchromaprint.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as exc:
        raise ModelUnavailableError(
            "libchromaprint is not installed: apt-get install libchromaprint-tools (scripts/setup.sh does)"
        ) from exc
    lib.chromaprint_new.restype = ctypes.c_void_p
    lib.chromaprint_new.argtypes = [ctypes.c_int]
    lib.chromaprint_start.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.chromaprint_feed.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
    lib.chromaprint_finish.argtypes = [ctypes.c_void_p]
    lib.chromaprint_get_raw_fingerprint.argtypes = [
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)),
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.chromaprint_dealloc.argtypes = [ctypes.c_void_p]
    lib.chromaprint_free.argtypes = [ctypes.c_void_p]
    return lib
