"""vPDQ, Meta's video hash: the PDQ hashes of a video's frames sampled once a second, and how two match.

A vPDQ hash is a list of frames, each (frame number, quality, PDQ hash, timestamp in seconds). Two
forms are exchanged, and both are read here:

- Meta's file, as the `vpdq` tools write it: one line per hashed frame,
  `frame_number,quality,pdq_hex,timestamp_seconds` (timestamp with 3 decimals, no header);
- python-threatexchange's signal string: a JSON list of `"pdq_hex,quality,timestamp"` strings.

Matching, as vPDQ defines it (ThreatExchange vpdq/README.md, "Comparison (Matching) Algorithm"):
frames under the quality filter (VPDQ_MIN_QUALITY, 50) are left out and the rest deduplicated; a
frame of one video matches the other video when some frame of it is within VPDQ_MAX_DISTANCE (31)
bits; the videos match when at least VPDQ_MATCH_PERCENT (80) % of the compared (reference) video's
frames are matched, and at least a query percentage (0 %: extra material in the query is allowed)
of the query's.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vigil_models.hashing import PDQ_HEX_DIGITS, PdqHash, PdqIndex

__all__ = [
    "VPDQ_MATCH_PERCENT",
    "VPDQ_MAX_DISTANCE",
    "VPDQ_MIN_QUALITY",
    "VpdqFrame",
    "VpdqMatch",
    "format_vpdq",
    "format_vpdq_compact",
    "parse_vpdq",
    "unique_frames",
    "vpdq_match",
]

VPDQ_MAX_DISTANCE = 31  # bits (of 256) at most between two matching frames
VPDQ_MIN_QUALITY = 50  # frames of lower PDQ quality are neither kept for matching nor matched
VPDQ_MATCH_PERCENT = 80.0  # share of the reference's frames that must be matched
TIMESTAMP_DECIMALS = 3
MAX_FRAMES = 100_000  # frames one vPDQ hash may hold (over 27 hours at one a second)


@dataclass(frozen=True)
class VpdqFrame:
    frame_number: int  # in the video's own frame count, from 0
    quality: int  # PDQ quality, 0-100
    hash: PdqHash
    timestamp: float  # seconds from the start of the video

    def line(self) -> str:
        """The frame as a line of Meta's file."""
        return f"{self.frame_number},{self.quality},{self.hash.to_hex()},{self.timestamp:.{TIMESTAMP_DECIMALS}f}"


def format_vpdq(frames: Iterable[VpdqFrame]) -> str:
    """Meta's vPDQ file: one `frame_number,quality,pdq_hex,timestamp` line per frame."""
    return "".join(frame.line() + "\n" for frame in frames)


def format_vpdq_compact(frames: Iterable[VpdqFrame]) -> str:
    """python-threatexchange's vpdq signal string: a JSON list of "pdq_hex,quality,timestamp" strings."""
    return json.dumps([f"{f.hash.to_hex()},{f.quality},{f.timestamp:.{TIMESTAMP_DECIMALS}f}" for f in frames])


def parse_vpdq(text: str, first_line: int = 1) -> list[VpdqFrame]:
    """Frames from either exchanged form; ValueError naming the first bad line (counted from first_line).

    Meta's file may have blank lines and `#` comments; a threatexchange string has no frame
    numbers, so its frames are numbered 0, 1, 2, ... in order.
    """
    stripped = text.strip()
    if stripped.startswith("["):
        return _parse_compact(stripped)
    frames: list[VpdqFrame] = []
    for number, raw in enumerate(text.splitlines(), start=first_line):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            frames.append(_parse_line(line))
        except ValueError as exc:
            raise ValueError(f"vPDQ line {number}: {exc}") from None
        if len(frames) > MAX_FRAMES:
            raise ValueError(f"a vPDQ hash may hold at most {MAX_FRAMES} frames")
    if not frames:
        raise ValueError("the vPDQ hash holds no frames")
    return frames


def _parse_line(line: str) -> VpdqFrame:
    fields = [f.strip() for f in line.split(",")]
    if len(fields) != 4:
        raise ValueError(f"expected frame_number,quality,pdq_hex,timestamp_seconds, got {line[:120]!r}")
    number, quality, hex_text, timestamp = fields
    if not number.isdigit():
        raise ValueError(f"frame number must be a whole number >= 0, got {number!r}")
    value = _quality(quality)
    return VpdqFrame(int(number), value, PdqHash.from_hex(hex_text, value), _timestamp(timestamp))


def _parse_compact(text: str) -> list[VpdqFrame]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"a threatexchange vpdq string is a JSON list: {exc.msg}") from None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise ValueError('a threatexchange vpdq string is a JSON list of "pdq_hex,quality,timestamp" strings')
    if len(items) > MAX_FRAMES:
        raise ValueError(f"a vPDQ hash may hold at most {MAX_FRAMES} frames")
    frames = []
    for n, item in enumerate(items):
        fields = [f.strip() for f in item.split(",")]
        if len(fields) != 3 or len(fields[0]) != PDQ_HEX_DIGITS:
            raise ValueError(f"frame {n}: expected pdq_hex,quality,timestamp, got {item[:120]!r}")
        quality = _quality(fields[1])
        frames.append(VpdqFrame(n, quality, PdqHash.from_hex(fields[0], quality), _timestamp(fields[2])))
    if not frames:
        raise ValueError("the vPDQ hash holds no frames")
    return frames


def _quality(text: str) -> int:
    if not (text.isascii() and text.isdigit() and int(text) <= 100):
        raise ValueError(f"quality must be a whole number 0-100, got {text!r}")
    return int(text)


def _timestamp(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"timestamp must be seconds, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"timestamp must be a finite number of seconds >= 0, got {text!r}")
    return value


def unique_frames(frames: Iterable[VpdqFrame], min_quality: int = VPDQ_MIN_QUALITY) -> list[VpdqFrame]:
    """The frames vPDQ compares: quality at least min_quality, each hash once (its first frame)."""
    seen: set[bytes] = set()
    kept = []
    for frame in frames:
        if frame.quality >= min_quality and frame.hash.bits not in seen:
            seen.add(frame.hash.bits)
            kept.append(frame)
    return kept


@dataclass(frozen=True)
class VpdqMatch:
    query_percent: float  # share of the query's unique good frames with a match in the reference
    compared_percent: float  # share of the reference's unique good frames with a match in the query

    def matched(self, compared_percent: float = VPDQ_MATCH_PERCENT, query_percent: float = 0.0) -> bool:
        return self.compared_percent >= compared_percent and self.query_percent >= query_percent


def vpdq_match(
    query: Sequence[VpdqFrame],
    compared: Sequence[VpdqFrame],
    max_distance: int = VPDQ_MAX_DISTANCE,
    min_quality: int = VPDQ_MIN_QUALITY,
) -> VpdqMatch:
    """vPDQ's comparison of two whole videos (the reference is `compared`)."""
    q, c = unique_frames(query, min_quality), unique_frames(compared, min_quality)
    if not q or not c:
        return VpdqMatch(0.0, 0.0)
    q_index = PdqIndex.of((str(i), f.hash) for i, f in enumerate(q))
    c_index = PdqIndex.of((str(i), f.hash) for i, f in enumerate(c))
    q_matched = sum(1 for f in q if c_index.match(f.hash, max_distance))
    c_matched = sum(1 for f in c if q_index.match(f.hash, max_distance))
    return VpdqMatch(100.0 * q_matched / len(q), 100.0 * c_matched / len(c))
