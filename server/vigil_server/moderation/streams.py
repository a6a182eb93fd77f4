"""What moderation remembers of one stream, for the signals that match over time or over the whole file.

Each signal with a `stream_state()` (vPDQ: its window of recent frames; MD5 and SHA-256: the
running digest of the stream's bytes) gets one per stream. Ingest makes a StreamMemory when a
stream starts, feeds it every chunk (`feed`) and hands it to every frame check and to the check at
the end of the stream; lookups make a throwaway one per looked-up file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vigil_server.moderation.signals import LiveInput, Signal


class StreamMemory:
    """What the signals remember of one stream: their stream_state(), by signal name."""

    def __init__(self, signals: Sequence[Signal[Any, Any]], tenant: str, stream_id: str, time_offset: float):
        self.tenant = tenant
        self.stream_id = stream_id
        self.time_offset = time_offset
        self.states = {s.name: state for s in signals if (state := s.stream_state()) is not None}
        self._readers = [self.states[s.name] for s in signals if s.reads is LiveInput.FILE and s.name in self.states]

    @property
    def reads_files(self) -> bool:
        return bool(self._readers)

    def feed(self, data: bytes) -> None:
        """The stream's next bytes, for signals that read the whole file (blocking for big chunks)."""
        for reader in self._readers:
            reader.update(data)
