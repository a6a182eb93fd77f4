"""Alert delivery: flood control, then fan-out to every subscriber whose filter the alert passes.

Subscribers are Watch calls and the Ingest call of the alert's stream. Delivery is a plain
callback run on the event loop, so an Ingest call sees its alerts in order with its other events.

Flood control: after an alert for a (stream, query or item) pair is sent, further matches of the
pair within `window_s` are held back and counted. When the window ends with matches held back,
the latest of them is sent, carrying how many others were held back since the previous alert
(`Alert.suppressed`), and a new window starts. So a pair sends at most one alert per window and
no match goes unreported.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

from vigil_server.errors import Overloaded
from vigil_server.types import Alert, WatchFilter

log = logging.getLogger(__name__)

# Alerts a Watch call may have waiting before it is ended as too slow.
WATCH_QUEUE = 10_000

PairKey = tuple[str, str, str]  # tenant, stream, query or item id


@dataclass
class _Pair:
    window_ends: float  # monotonic time
    held: int = 0
    latest: Alert | None = None
    timer: asyncio.TimerHandle | None = None


class AlertHub:
    """Loop-bound: call every method from the event loop thread."""

    def __init__(self, window_s: float):
        self.window_s = window_s
        self._subscribers: dict[int, tuple[WatchFilter, Callable[[Alert], None]]] = {}
        self._ids = itertools.count()
        self._pairs: dict[PairKey, _Pair] = {}

    def subscribe(self, watch: WatchFilter, deliver: Callable[[Alert], None]) -> Callable[[], None]:
        """Call `deliver` for every alert that passes `watch`; returns the function that unsubscribes."""
        key = next(self._ids)
        self._subscribers[key] = (watch, deliver)

        def unsubscribe() -> None:
            self._subscribers.pop(key, None)

        return unsubscribe

    def watch(self, watch: WatchFilter) -> Subscription:
        """Alerts that pass `watch`, from this call on (the subscription is made before it returns)."""
        return Subscription(self, watch)

    def publish(self, alert: Alert) -> bool:
        """Send the alert, or hold it back under flood control; True when sent now."""
        now = time.monotonic()
        key = (alert.tenant, alert.stream_id, alert.match_id)
        pair = self._pairs.get(key)
        if pair is not None and now < pair.window_ends:
            pair.held += 1
            pair.latest = alert
            if pair.timer is None:
                pair.timer = asyncio.get_running_loop().call_at(_loop_time(pair.window_ends), self._window_ended, key)
            return False
        self._pairs[key] = _Pair(window_ends=now + self.window_s)
        self._send(alert)
        self._forget_old(now)
        return True

    def _window_ended(self, key: PairKey) -> None:
        pair = self._pairs.get(key)
        if pair is None or pair.latest is None:
            return
        latest = replace(pair.latest, suppressed=pair.held - 1)
        self._pairs[key] = _Pair(window_ends=time.monotonic() + self.window_s)
        self._send(latest)

    def _send(self, alert: Alert) -> None:
        for watch, deliver in list(self._subscribers.values()):
            if watch.passes(alert):
                try:
                    deliver(alert)
                except Exception:  # one broken subscriber must not starve the others
                    log.exception("delivering an alert failed")

    def _forget_old(self, now: float) -> None:
        """Drop pairs whose window ended with nothing held (bounded memory for many streams)."""
        if len(self._pairs) < 4096:
            return
        for key in [k for k, p in self._pairs.items() if p.window_ends <= now and p.latest is None]:
            del self._pairs[key]

    def close(self) -> None:
        for pair in self._pairs.values():
            if pair.timer is not None:
                pair.timer.cancel()
        self._pairs.clear()


class Subscription:
    """A Watch call's queue of alerts. Iterate it; `close()` (or the end of iteration) unsubscribes."""

    def __init__(self, hub: AlertHub, watch: WatchFilter):
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()
        self._overflowed = False
        self._unsubscribe = hub.subscribe(watch, self._deliver)

    def _deliver(self, alert: Alert) -> None:
        if self._queue.qsize() >= WATCH_QUEUE:
            self._overflowed = True
        else:
            self._queue.put_nowait(alert)

    async def __aiter__(self) -> AsyncIterator[Alert]:
        try:
            while True:
                if self._overflowed and self._queue.empty():
                    raise Overloaded(
                        f"more than {WATCH_QUEUE} alerts waited for this watcher and later ones were dropped; "
                        "read faster or narrow the filter, and reconnect"
                    )
                yield await self._queue.get()
        finally:
            self.close()

    def close(self) -> None:
        self._unsubscribe()


def _loop_time(monotonic_deadline: float) -> float:
    """asyncio's loop clock is time.monotonic on every platform Python supports; keep the mapping explicit."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
