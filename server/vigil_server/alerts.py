"""Alert delivery: flood control, the alert store, then fan-out to every subscriber whose filter the alert passes.

Subscribers are Watch calls and the Ingest call of the alert's stream; sinks (webhooks.py) get
every alert sent.
Delivery is a plain callback run on the event loop, so an Ingest call sees its alerts in order
with its other events.

Flood control: after an alert for a (stream, query or item) pair is sent, further matches of the
pair within `window_s` are held back and counted. When the window ends with matches held back,
the latest of them is sent, carrying how many others were held back since the previous alert
(`Alert.suppressed`), and a new window starts. So a pair sends at most one alert per window and
no match goes unreported. Holds are persisted in the store (the latest alert, the count, the
window's end in wall-clock time): `start` picks them up after a restart, and sends at once those
whose window ended while the server was down.

The store (review.AlertLog) keeps every alert before it is sent and gives it its sequence. The
store is written here, on the event loop, so that sequences are given in the order alerts are
delivered: a watcher that saw sequence N has seen every earlier alert its filter passes, which is
what makes Watch's `resume_after` lose nothing. Each write is one small SQLite transaction (WAL).
If the store fails (a full disk), the alert is still delivered, without a sequence, and counted.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Protocol

from vigil_server.errors import Overloaded
from vigil_server.types import Alert, AlertFilter, WatchFilter

log = logging.getLogger(__name__)

# Alerts a Watch call may have waiting before it is ended as too slow.
WATCH_QUEUE = 10_000
# Stored alerts read at a time when a Watch call replays.
REPLAY_PAGE = 100

PairKey = tuple[str, str, str]  # tenant, stream, query or item id


class AlertStore(Protocol):
    """Where alerts are kept (review.AlertLog is one). Blocking."""

    def store(self, alert: Alert) -> Alert: ...

    def hold(self, alert: Alert, window_ends: float, held: int) -> None: ...

    def release(self, alert: Alert) -> Alert | None: ...

    def holds(self) -> list[tuple[Alert, float, int]]: ...

    def page(self, f: AlertFilter, limit: int) -> list[Alert]: ...


class Sink(Protocol):
    """Gets every alert sent, whatever its tenant (webhooks.Webhooks is one); loop-bound."""

    def start(self) -> None: ...

    def sent(self, alert: Alert) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Pair:
    window_ends: float  # monotonic time
    held: int = 0
    latest: Alert | None = None
    timer: asyncio.TimerHandle | None = None


class AlertHub:
    """Loop-bound: call every method from the event loop thread.

    Counters (plain attributes, for metrics): `raised` alerts published, `held` of them held back by
    flood control, `delivered` sent to subscribers (a released hold counts once), `store_failures`.
    """

    def __init__(self, window_s: float, store: AlertStore | None = None):
        self.window_s = window_s
        self.store = store
        self._subscribers: dict[int, tuple[WatchFilter, Callable[[Alert], None]]] = {}
        self._ids = itertools.count()
        self._pairs: dict[PairKey, _Pair] = {}
        self._sinks: list[Sink] = []
        self.raised = 0
        self.held = 0
        self.delivered = 0
        self.store_failures = 0

    def add_sink(self, sink: Sink) -> None:
        """Hand every alert sent to `sink` too (after its subscribers); started and closed with the hub."""
        self._sinks.append(sink)

    def start(self) -> None:
        """Start the sinks, and pick up the persisted holds: send those whose window has ended, time the
        others (on the loop)."""
        for sink in self._sinks:
            sink.start()
        if self.store is None:
            return
        loop = asyncio.get_running_loop()
        holds = self.store.holds()
        for alert, window_ends, held in holds:
            key = (alert.tenant, alert.stream_id, alert.match_id)
            remaining = window_ends - time.time()
            pair = _Pair(window_ends=time.monotonic() + max(0.0, remaining), held=held, latest=alert)
            self._pairs[key] = pair
            if remaining <= 0:
                self._window_ended(key)
            else:
                pair.timer = loop.call_at(_loop_time(pair.window_ends), self._window_ended, key)
        if holds:
            log.info("flood control: %d held alert(s) picked up from the store", len(holds))

    def subscribe(self, watch: WatchFilter, deliver: Callable[[Alert], None]) -> Callable[[], None]:
        """Call `deliver` for every alert that passes `watch`; returns the function that unsubscribes."""
        key = next(self._ids)
        self._subscribers[key] = (watch, deliver)

        def unsubscribe() -> None:
            self._subscribers.pop(key, None)

        return unsubscribe

    def watch(self, watch: WatchFilter, resume_after: int | None = None) -> Subscription:
        """Alerts that pass `watch`, from this call on (the subscription is made before it returns); with
        `resume_after`, the stored ones with a larger sequence first."""
        return Subscription(self, watch, resume_after)

    def publish(self, alert: Alert) -> bool:
        """Store and send the alert, or hold it back under flood control; True when sent now."""
        self.raised += 1
        now = time.monotonic()
        key = (alert.tenant, alert.stream_id, alert.match_id)
        pair = self._pairs.get(key)
        if pair is not None and now < pair.window_ends:
            pair.held += 1
            pair.latest = alert
            self.held += 1
            self._keep_hold(pair, alert)
            if pair.timer is None:
                pair.timer = asyncio.get_running_loop().call_at(_loop_time(pair.window_ends), self._window_ended, key)
            return False
        self._pairs[key] = _Pair(window_ends=now + self.window_s)
        self._send(self._stored(alert))
        self._forget_old(now)
        return True

    def _keep_hold(self, pair: _Pair, alert: Alert) -> None:
        if self.store is None:
            return
        try:
            self.store.hold(alert, time.time() + (pair.window_ends - time.monotonic()), pair.held)
        except Exception:  # the hold still works in memory; only a restart would lose it
            self.store_failures += 1
            log.exception("keeping a flood-control hold failed")

    def _stored(self, alert: Alert) -> Alert:
        if self.store is None:
            return alert
        try:
            return self.store.store(alert)
        except Exception:  # delivered without a sequence rather than lost
            self.store_failures += 1
            log.exception("storing alert %s failed; it is delivered without a sequence", alert.alert_id)
            return alert

    def _window_ended(self, key: PairKey) -> None:
        pair = self._pairs.get(key)
        if pair is None or pair.latest is None:
            return
        latest = replace(pair.latest, suppressed=pair.held - 1)
        self._pairs[key] = _Pair(window_ends=time.monotonic() + self.window_s)
        released: Alert | None = latest
        if self.store is not None:
            try:
                released = self.store.release(latest)
            except Exception:
                self.store_failures += 1
                log.exception("storing alert %s failed; it is delivered without a sequence", latest.alert_id)
        if released is not None:  # None: the hold was erased meanwhile
            self._send(released)

    def _send(self, alert: Alert) -> None:
        self.delivered += 1
        for watch, deliver in list(self._subscribers.values()):
            if watch.passes(alert):
                try:
                    deliver(alert)
                except Exception:  # one broken subscriber must not starve the others
                    log.exception("delivering an alert failed")
        for sink in self._sinks:
            try:
                sink.sent(alert)
            except Exception:
                log.exception("handing an alert on failed")

    def _forget_old(self, now: float) -> None:
        """Drop pairs whose window ended with nothing held (bounded memory for many streams)."""
        if len(self._pairs) < 4096:
            return
        for key in [k for k, p in self._pairs.items() if p.window_ends <= now and p.latest is None]:
            del self._pairs[key]

    def close(self) -> None:
        """Stop the timers and the sinks; persisted holds stay in the store for the next start."""
        for sink in self._sinks:
            sink.close()
        for pair in self._pairs.values():
            if pair.timer is not None:
                pair.timer.cancel()
        self._pairs.clear()


class Subscription:
    """A Watch call's queue of alerts. Iterate it; `close()` (or the end of iteration) unsubscribes.

    With `resume_after`, iteration first replays the stored alerts with a larger sequence that pass
    the filter (`replayed`), page by page, then goes on with live alerts, dropping those the replay
    already sent. The subscription is made before the replay reads the store, and sequences are
    given in delivery order, so nothing falls between the two and nothing comes twice.
    """

    def __init__(self, hub: AlertHub, watch: WatchFilter, resume_after: int | None = None):
        self._queue: asyncio.Queue[Alert] = asyncio.Queue()
        self._overflowed = False
        self._watch = watch
        self._store = hub.store
        self._resume_after = resume_after
        self._unsubscribe = hub.subscribe(watch, self._deliver)

    def _deliver(self, alert: Alert) -> None:
        if self._queue.qsize() >= WATCH_QUEUE:
            self._overflowed = True
        else:
            self._queue.put_nowait(alert)

    async def __aiter__(self) -> AsyncIterator[Alert]:
        try:
            replayed = 0  # the largest sequence replayed
            if self._resume_after is not None and self._store is not None:
                after = self._resume_after
                while True:
                    page = await asyncio.to_thread(self._store.page, AlertFilter(self._watch, after_sequence=after),
                                                   REPLAY_PAGE)  # fmt: skip
                    for alert in page:
                        yield replace(alert, replayed=True, review=None)
                        after = replayed = alert.sequence
                    if len(page) < REPLAY_PAGE:
                        break
            while True:
                if self._overflowed and self._queue.empty():
                    raise Overloaded(
                        f"more than {WATCH_QUEUE} alerts waited for this watcher and later ones were dropped; "
                        "read faster or narrow the filter, and reconnect with resume_after"
                    )
                alert = await self._queue.get()
                if 0 < alert.sequence <= replayed:
                    continue  # sent by the replay
                yield alert
        finally:
            self.close()

    def close(self) -> None:
        self._unsubscribe()


def _loop_time(monotonic_deadline: float) -> float:
    """asyncio's loop clock is time.monotonic on every platform Python supports; keep the mapping explicit."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
