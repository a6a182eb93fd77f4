"""Admission: which Ingest calls may run. One call per (tenant, stream id), at most `max_streams` at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from vigil_server.errors import AlreadyExists, Overloaded


class Admission:
    def __init__(self, max_streams: int):
        self.max_streams = max_streams
        self._active: set[tuple[str, str]] = set()

    @contextmanager
    def stream(self, tenant: str, stream_id: str) -> Iterator[None]:
        """Hold a stream slot for the duration of the block, or raise without holding one."""
        key = (tenant, stream_id)
        if key in self._active:
            raise AlreadyExists(
                f"stream {stream_id!r} is already being ingested by another call", field="config.stream_id"
            )
        if len(self._active) >= self.max_streams:
            raise Overloaded(f"{self.max_streams} streams are already being ingested; retry later")
        self._active.add(key)
        try:
            yield
        finally:
            self._active.discard(key)

    @property
    def active(self) -> int:
        return len(self._active)
