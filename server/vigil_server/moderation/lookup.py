"""Lookups without ingest: which bank items a file or a hash matches, storing nothing and alerting no one.

`match_file` decodes an uploaded picture, audio or video clip as the server decodes streams and
hands it to the same signals: every frame (with a throwaway stream memory, so vPDQ sees the clip's
frames together), audio windows as a stream's, and the whole bytes (MD5, SHA-256). `match_hashes`
turns each exchanged hash (PDQ, vPDQ, MD5, ...) into the live values it stands for
(Signal.lookup_values) and matches them against that signal's items.

Nothing is archived, recorded or alerted: `Moderation.describe` is called with archive=False,
and no alert is made. Every item of an enabled bank that matches is returned once, where it first
matched, with the evidence of every signal that matched it anywhere; allow-list items too (their
bank says so).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.clips import decode_clip_full, decode_image, squash
from vigil_server.errors import InvalidRequest
from vigil_server.moderation.hash_lists import known_types, signal_named
from vigil_server.moderation.rules import StoredItem
from vigil_server.moderation.signals import Comparison, LiveAudio, LiveFile, LiveFrame, LiveInput, Signal
from vigil_server.moderation.stage import AUDIO_HOP_S, AUDIO_WINDOW_S, Moderation
from vigil_server.moderation.streams import StreamMemory
from vigil_server.types import AudioClip, HashQuery, LookupMatch, Modality, ReferenceKind, Segment, VideoClip

DescribeFrames = Callable[[list[np.ndarray]], Awaitable[np.ndarray]]  # frames -> copy descriptors [n, dim]
MAX_LOOKUP_SECONDS = 60.0  # of a looked-up clip


class Lookup:
    def __init__(self, moderation: Moderation, describe_frames: DescribeFrames):
        self.moderation = moderation
        self.describe_frames = describe_frames

    # -- files

    async def match_file(self, kind: ReferenceKind, data: bytes, fmt: str, tenant: str) -> list[LookupMatch]:
        found = _Found(self.moderation)
        memory = StreamMemory(self.moderation.signals, tenant, "", 0.0)
        if kind is ReferenceKind.IMAGE:
            picture = await asyncio.to_thread(decode_image, data, "chunk.data")
            frame = await asyncio.to_thread(squash, picture, self.moderation.media.decode.frame_size)
            await self._frame(found, memory, 0.0, frame, picture, tenant)
        else:
            clip = (AudioClip if kind is ReferenceKind.AUDIO else VideoClip)(data, fmt)

            async def each(at: float, frame: np.ndarray, full: np.ndarray | None) -> None:
                await self._frame(found, memory, at, frame, full, tenant)

            decoded = await decode_clip_full(clip, self.moderation.media.decode, MAX_LOOKUP_SECONDS, each)
            if decoded.audio.size:
                await asyncio.to_thread(self._audio, found, decoded.audio, tenant)
        await asyncio.to_thread(self._file, found, memory, data, tenant)
        return found.matches()

    async def _frame(
        self, found: _Found, memory: StreamMemory, at: float, frame: np.ndarray, full: np.ndarray | None, tenant: str
    ) -> None:
        descriptor = (await self.describe_frames([frame]))[0]
        segment = Segment("", "", Modality.FRAME, round(at, 3), round(at + 1.0, 3), tenant=tenant)
        live = LiveFrame(segment, frame, descriptor, full)
        await asyncio.to_thread(found.check, live, LiveInput.FRAME, memory.states)

    def _audio(self, found: _Found, audio: np.ndarray, tenant: str) -> None:
        """The clip's audio in the windows a stream's is checked in."""
        size, hop = round(AUDIO_WINDOW_S * SAMPLE_RATE), round(AUDIO_HOP_S * SAMPLE_RATE)
        for first in range(0, max(1, audio.size - size + hop), hop):
            window = audio[first : first + size]
            segment = Segment("", "", Modality.SOUND, first / SAMPLE_RATE, (first + window.size) / SAMPLE_RATE,
                              tenant=tenant)  # fmt: skip
            found.check(LiveAudio(segment, window), LiveInput.AUDIO, None)

    def _file(self, found: _Found, memory: StreamMemory, data: bytes, tenant: str) -> None:
        memory.feed(data)
        segment = Segment("", "", Modality.FRAME, 0.0, 0.0, tenant=tenant)
        for signal in self.moderation.reading(LiveInput.FILE):
            if signal.name in memory.states:
                found.check(LiveFile(segment, memory.states[signal.name]), LiveInput.FILE, memory.states, [signal])

    # -- hashes

    async def match_hashes(self, queries: Sequence[HashQuery], tenant: str) -> list[LookupMatch]:
        return await asyncio.to_thread(self._match_hashes, queries, tenant)

    def _match_hashes(self, queries: Sequence[HashQuery], tenant: str) -> list[LookupMatch]:
        signals = self.moderation.signals
        parsed: list[tuple[Signal[Any, Any], list[Any]]] = []
        for n, query in enumerate(queries):  # all checked before any is matched
            signal = signal_named(query.signal_type, signals)
            if signal is None:
                raise InvalidRequest(
                    f"hashes[{n}].signal_type {query.signal_type!r} is not one this server knows; use one of "
                    f"{known_types([s for s in signals if s.hash_kind is not None])}",
                    field=f"hashes[{n}].signal_type",
                )
            try:
                parsed.append((signal, signal.lookup_values(query.value)))
            except ValueError as exc:
                raise InvalidRequest(f"hashes[{n}].value: {exc}", field=f"hashes[{n}].value") from None
        matches: list[LookupMatch] = []
        segment = Segment("", "", Modality.FRAME, 0.0, 0.0, tenant=tenant)
        for n, (signal, values) in enumerate(parsed):
            found = _Found(self.moderation, query=n)
            memories = {signal.name: signal.stream_state()}
            for value in values:
                found.add(self.moderation.rules.match_items({signal.name: value}, segment, memories), segment)
            matches += found.matches()
        return matches


class _Found:
    """The items one lookup matched, each once, in the order first found."""

    def __init__(self, moderation: Moderation, query: int = -1):
        self.moderation = moderation
        self.query = query
        self._items: dict[str, LookupMatch] = {}

    def check(
        self,
        live: LiveFrame | LiveAudio | LiveFile,
        reads: LiveInput,
        memories: dict[str, Any] | None,
        signals: list[Signal[Any, Any]] | None = None,
    ) -> None:
        moderation = self.moderation
        segment = live.segment
        values = moderation.describe(live, signals or moderation.reading(reads), segment, archive=False)
        if values:
            self.add(moderation.rules.match_items(values, segment, memories), segment)

    def add(self, matches: Sequence[tuple[StoredItem, Sequence[Comparison]]], segment: Segment) -> None:
        for stored, comparisons in matches:
            seen = self._items.get(stored.item.item_id)
            if seen is not None:  # found before: add the signals that match only now (vPDQ, after a few frames)
                merged = {e.signal: e for e in seen.evidence}
                for c in comparisons:
                    before = merged.get(c.evidence.signal)
                    if c.evidence.matched and (before is None or not before.matched):
                        merged[c.evidence.signal] = c.evidence
                self._items[stored.item.item_id] = replace(seen, evidence=tuple(merged.values()))
                continue
            span = next((c.span for c in comparisons if c.span is not None), None)
            start, end = (segment.start, segment.end) if span is None else (segment.start + span[0],
                                                                             segment.start + span[1])  # fmt: skip
            item = self.moderation.counted(stored.item)
            evidence = tuple(c.evidence for c in comparisons)
            allow = self.moderation.rules.bank(item.tenant, item.bank).allow_list
            self._items[item.item_id] = LookupMatch(item, evidence, round(max(0.0, start), 3), round(end, 3),
                                                    self.query, allow)  # fmt: skip

    def matches(self) -> list[LookupMatch]:
        return list(self._items.values())
