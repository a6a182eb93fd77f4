"""Client streams that stop sending: the call ends once the next message takes longer than
--stream-idle-timeout, so a client that sends a header (or a config) and then nothing holds no
stream slot, memory or handler for ever. The error is IdleTimeout (DEADLINE_EXCEEDED, naming the flag)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar

from vigil_server.errors import IdleTimeout

T = TypeVar("T")


async def not_idle(items: AsyncIterator[T], idle_s: float, what: str, field: str, advice: str) -> AsyncIterator[T]:
    """The items; IdleTimeout when the next `what` takes more than `idle_s` seconds to arrive."""
    pending = aiter(items)
    while True:
        try:
            async with asyncio.timeout(idle_s):
                item = await anext(pending)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise IdleTimeout(
                f"no {what} arrived for {idle_s:g} s (the server's --stream-idle-timeout), so the call ended; {advice}",
                field=field,
            ) from None
        yield item
