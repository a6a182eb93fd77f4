"""Live captions and transcripts: the client's typed view of them, and WebVTT, SRT and text writers.

A caption document is written cue by cue as captions become final, so a live stream's file grows
while it plays. Cues follow broadcast practice (and the WebVTT and SRT formats): at most
`MAX_LINE` characters a line and `MAX_LINES` lines a cue; a longer caption is split into several
cues at word boundaries, timed by its words when it has word timings, else in proportion to their
length. Sound captions keep their brackets ("[music]"). Cues are written in order of their start:
speech and sound captions are made on separate paths on the server and can arrive out of order,
so CueOrder holds each final until the server's progress events say no earlier one of either kind
can still come (for a live stream, until its 5 s sound block has been tagged). A caption that still
comes too late (from a server that sends no progress) starts with the last cue written instead.
"""

from __future__ import annotations

import heapq
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, TextIO

from vigil.v1 import vigil_pb2
from vigil_client.streams import ServerStream

MAX_LINE = 42  # characters a caption line holds (broadcast practice: 32-42)
MAX_LINES = 2  # lines a cue holds
FORMATS = ("vtt", "srt", "txt")
KIND_NAMES = {
    vigil_pb2.CAPTION_KIND_SPEECH: "speech",
    vigil_pb2.CAPTION_KIND_SOUND: "sound",
    vigil_pb2.CAPTION_KIND_DESCRIPTION: "description",
}


@dataclass(frozen=True)
class CaptionWordInfo:
    start: float
    end: float
    text: str
    probability: float = 1.0


@dataclass(frozen=True)
class CaptionInfo:
    caption_id: str
    stream_id: str
    kind: str  # speech, sound, description
    is_final: bool  # False: an interim, replaced in place by the next caption with the same id
    start: float
    end: float
    text: str
    stable_text: str = ""  # the start of text that later captions of this id keep as it is
    words: tuple[CaptionWordInfo, ...] = ()
    language: str = ""
    translation: str = ""  # English, for final speech in another language
    segment_ids: tuple[str, ...] = ()
    concepts: tuple[tuple[str, float], ...] = ()  # descriptions: (class name, probability)
    sequence: int = 0
    replayed: bool = False

    @classmethod
    def from_proto(cls, c: vigil_pb2.Caption) -> CaptionInfo:
        words = tuple(CaptionWordInfo(w.start, w.end, w.text, w.probability) for w in c.words)
        return cls(c.caption_id, c.stream_id, KIND_NAMES.get(c.kind, "unspecified"), c.is_final, c.start, c.end,
                   c.text, c.stable_text, words, c.language, c.translation, tuple(c.segment_ids),
                   tuple((k.name, k.score) for k in c.concepts), c.sequence, c.replayed)  # fmt: skip

    def as_json(self) -> dict[str, object]:
        return {
            **self.__dict__,
            "words": [w.__dict__ for w in self.words],
            "segment_ids": list(self.segment_ids),
            "concepts": [{"name": n, "score": round(s, 4)} for n, s in self.concepts],
        }


@dataclass(frozen=True)
class StreamState:
    """Whether the followed stream is being ingested (sent first, then on each change)."""

    stream_id: str
    live: bool


@dataclass(frozen=True)
class CaptionProgress:
    """No final caption of this kind (speech or sound) that comes later starts before `until`."""

    kind: str
    until: float


CaptionEventInfo = CaptionInfo | StreamState | CaptionProgress


class CaptionWatch(ServerStream["CaptionEventInfo"]):
    """The events of one WatchCaptions call: iterate it for StreamState, CaptionProgress and CaptionInfo
    (see ServerStream)."""

    def convert(self, event: Any) -> CaptionEventInfo:
        kind = event.WhichOneof("event")
        if kind == "state":
            return StreamState(event.state.stream_id, event.state.live)
        if kind == "progress":
            return CaptionProgress(KIND_NAMES.get(event.progress.kind, "unspecified"), event.progress.until)
        return CaptionInfo.from_proto(event.caption)


# -- cues --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]


def wrap(text: str, width: int = MAX_LINE) -> list[str]:
    """Greedy word wrap into lines of at most `width` characters (a longer word is split)."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if not word:
            continue
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return lines


def _word_spans(text: str, words: Sequence[CaptionWordInfo]) -> list[tuple[int, int, CaptionWordInfo]]:
    """Where each timed word sits in the text (characters [a, b)); words not found are left out."""
    spans = []
    at = 0
    for word in words:
        found = text.find(word.text, at) if word.text else -1
        if found >= 0:
            spans.append((found, found + len(word.text), word))
            at = found + len(word.text)
    return spans


def cues(start: float, end: float, text: str, words: Sequence[CaptionWordInfo] = ()) -> list[Cue]:
    """A caption as cues of at most MAX_LINES lines of MAX_LINE characters, timed by its words when it has them."""
    text = " ".join(text.split())
    lines = wrap(text)
    if not lines:
        return []
    groups = [lines[i : i + MAX_LINES] for i in range(0, len(lines), MAX_LINES)]
    spans = _word_spans(text, words)
    out: list[Cue] = []
    at = 0
    for group in groups:
        chars = len(" ".join(group))
        first, last = at, at + chars  # the group's characters in `text`
        at = last + 1
        inside = [w for a, b, w in spans if b > first and a < last]
        if inside:
            cue_start, cue_end = inside[0].start, inside[-1].end
        else:
            share = (end - start) / max(1, len(text))
            cue_start, cue_end = start + first * share, start + last * share
        out.append(Cue(cue_start, cue_end, tuple(group)))
    # Consecutive, never overlapping, each at least 1 ms long.
    for i in range(1, len(out)):
        if out[i].start < out[i - 1].end:
            out[i] = Cue(out[i - 1].end, max(out[i].end, out[i - 1].end), out[i].lines)
    return [Cue(c.start, max(c.end, c.start + 0.001), c.lines) for c in out]


def timestamp(seconds: float, decimal: str = ".") -> str:
    ms = max(0, round(seconds * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def _vtt_text(line: str) -> str:
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class CaptionWriter:
    """Writes final captions to `out` as cues, in order of their start; `close()` ends the document."""

    def __init__(self, out: TextIO, fmt: str, translated: bool = False, kind: str = "captions"):
        if fmt not in FORMATS:
            raise ValueError(f"unknown caption format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.out = out
        self.fmt = fmt
        self.translated = translated  # write the English translation where a caption has one
        self.cues = 0
        self._last_start = 0.0
        if fmt == "vtt":
            out.write("WEBVTT\n\n" if kind == "captions" else f"WEBVTT - {kind}\n\n")
            out.flush()

    def write(self, caption: CaptionInfo) -> None:
        text = caption.translation if self.translated and caption.translation else caption.text
        words = () if self.translated and caption.translation else caption.words
        for cue in cues(caption.start, caption.end, text, words):
            if cue.start < self._last_start:  # late (sound is tagged in blocks): keep the file in start order
                cue = Cue(self._last_start, max(cue.end, self._last_start + 0.001), cue.lines)
            self._last_start = cue.start
            self._write(cue)
        self.out.flush()

    def _write(self, cue: Cue) -> None:
        self.cues += 1
        if self.fmt == "vtt":
            lines = "\n".join(_vtt_text(line) for line in cue.lines)
            self.out.write(f"{timestamp(cue.start)} --> {timestamp(cue.end)}\n{lines}\n\n")
        elif self.fmt == "srt":
            lines = "\n".join(cue.lines)
            self.out.write(f"{self.cues}\n{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}\n{lines}\n\n")
        else:
            self.out.write(f"[{timestamp(cue.start)}] {' '.join(cue.lines)}\n")

    def close(self) -> None:
        self.out.flush()


class CueOrder:
    """Final speech and sound captions, handed out in time order as soon as no earlier one can still come."""

    KINDS = ("speech", "sound")

    def __init__(self) -> None:
        self._held: list[tuple[float, int, CaptionInfo]] = []
        self._until = dict.fromkeys(self.KINDS, -math.inf)
        self._count = 0

    def add(self, caption: CaptionInfo) -> list[CaptionInfo]:
        """Hold a final caption; returns the captions now ready, in order."""
        self._count += 1
        heapq.heappush(self._held, (caption.start, self._count, caption))
        if caption.kind in self._until:  # finals of one kind come in order
            self._until[caption.kind] = max(self._until[caption.kind], caption.start)
        return self._ready()

    def progress(self, event: CaptionProgress) -> list[CaptionInfo]:
        if event.kind in self._until:
            self._until[event.kind] = max(self._until[event.kind], event.until)
        return self._ready()

    def flush(self) -> list[CaptionInfo]:
        """The stream ended: everything held, in order."""
        ready = [caption for _, _, caption in sorted(self._held)]
        self._held.clear()
        return ready

    def _ready(self) -> list[CaptionInfo]:
        safe = min(self._until.values())
        ready = []
        while self._held and self._held[0][0] <= safe:
            ready.append(heapq.heappop(self._held)[2])
        return ready


def merge_sound(captions: Iterable[CaptionInfo], max_gap: float = 1.0) -> Iterator[CaptionInfo]:
    """Join consecutive sound captions of the same text less than `max_gap` apart (a long song: one cue)."""
    held: CaptionInfo | None = None
    for caption in captions:
        joins = held is not None and caption.kind == "sound" and caption.text == held.text
        if held is not None and joins and caption.start - held.end < max_gap:
            held = replace(held, end=max(held.end, caption.end))
            continue
        if held is not None:
            yield held
            held = None
        if caption.kind == "sound":
            held = caption
        else:
            yield caption
    if held is not None:
        yield held


def json_line(caption: CaptionInfo) -> str:
    return json.dumps(caption.as_json())
