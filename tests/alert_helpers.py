"""Alerts put straight into an in-process server's alert hub (flood control, the store, delivery), on its loop."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import TypeVar

from tests.inprocess import InProcessServer
from vigil_server.types import Alert, AlertKind, Evidence, MatchMethod, Modality

T = TypeVar("T")


def on_loop(server: InProcessServer, call: Callable[[], T]) -> T:
    """Run `call` on the server's event loop thread and return its result."""
    loop = server._loop
    assert loop is not None

    async def run() -> T:
        return call()

    return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout=60)


def make_alert(
    stream: str = "s1",
    match: str = "q1",
    kind: AlertKind = AlertKind.QUERY,
    bank: str = "",
    tenant: str = "default",
    raised_at: float = 1000.0,
    start: float = 0.0,
) -> Alert:
    evidence = (Evidence("pdq", MatchMethod.PDQ, 12.0, True), Evidence("copy_descriptor", None, 0.5, False))
    return Alert(uuid.uuid4().hex, kind, stream, start, start + 1.0, Modality.FRAME, "seg-" + uuid.uuid4().hex[:8],
                 match, "label of " + match, bank=bank, external_id="ext", evidence=evidence, score=4.5, cosine=0.3,
                 text="words", thumbnail_jpeg=b"\xff\xd8jpeg" + uuid.uuid4().bytes, raised_at=raised_at,
                 tenant=tenant)  # fmt: skip


def publish(server: InProcessServer, *alerts: Alert) -> list[bool]:
    """Publish on the server's loop, as ingest does; True for each alert sent now (not held back)."""
    assert server.service is not None
    hub = server.service.alerts
    return on_loop(server, lambda: [hub.publish(a) for a in alerts])
