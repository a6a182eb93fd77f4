"""Prometheus metrics: one `Metrics` per server, with a registry of its own, served on `--metrics-listen`.

The parts record through `Metrics`'s small methods (app.assemble hands the object to each part
that records); nothing here is global, so two servers in one process (the tests) never share a
series. Recording is cheap and never per sample: a segment stored, a batch run, a finished RPC,
an alert. Queue depths are read at scrape time from the queues themselves (`watch_queue`). A
stream's lag gauge exists while the stream is ingested and is removed when it ends, so a series
per stream id does not outlive its stream. Label values that a client chooses (tenant, stream id)
are cut to `MAX_LABEL` characters.

Every metric, its labels and its meaning are listed in the README's Observability section
(tests/test_metrics.py checks the list against this registry).
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil_server.types import Modality

__all__ = [
    "MAX_LABEL",
    "AlertCounts",
    "DecodeTimes",
    "Metrics",
    "MetricsServer",
    "QueueGauge",
    "WebhookCounts",
    "parse_listen",
]

log = logging.getLogger(__name__)

# The longest tenant or stream id kept in a label value.
MAX_LABEL = 80
# Seconds: from sub-millisecond model calls to a minute-long Whisper batch or a stalled store.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Stretches of decoded audio remembered per stream (blocks of about 0.5 s: over half an hour).
DECODE_TIMES_KEPT = 4096
# Items per batch: powers of two up to the store worker's 256.
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


@dataclass(frozen=True)
class QueueGauge:
    """A bounded queue whose depth is read at scrape time."""

    name: str  # the `queue` label, e.g. "text", "store"
    depth: Callable[[], int]  # items waiting now
    capacity: int  # items that may wait before producers wait (or fail)


class _Queues(Collector):
    """Collects vigil_queue_depth and vigil_queue_capacity from the queues watched (at scrape time)."""

    def __init__(self) -> None:
        self._queues: dict[str, QueueGauge] = {}
        self._lock = threading.Lock()

    def add(self, queue: QueueGauge) -> None:
        with self._lock:
            self._queues[queue.name] = queue

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("vigil_queue_depth", "items waiting in a worker's queue", labels=["queue"])
        capacity = GaugeMetricFamily(
            "vigil_queue_capacity", "items a worker's queue holds before producers wait", labels=["queue"]
        )
        with self._lock:
            queues = list(self._queues.values())
        for queue in queues:
            depth.add_metric([queue.name], queue.depth())
            capacity.add_metric([queue.name], queue.capacity)
        yield depth
        yield capacity


class AlertCounts(Protocol):
    """Alert delivery's running counts (alerts.AlertHub keeps them as plain attributes)."""

    raised: int  # alerts published by moderation
    held: int  # of them, held back by flood control
    delivered: int  # sent to the subscribers (once each, whatever the number of subscribers)
    store_failures: int  # delivered without being stored (the store failed)


class WebhookCounts(Protocol):
    """Webhook delivery's running counts (webhooks.Webhooks keeps them as plain attributes)."""

    delivered: int  # alerts POSTed and answered 2xx
    failed: int  # POST attempts that failed (each is retried, or its alert dead-lettered)
    dead_lettered: int  # alerts given up on after every attempt


class _Counts(Collector):
    """Counters read at scrape time from a part's plain integer attributes: (attribute, name, help) each."""

    def __init__(self, families: tuple[tuple[str, str, str], ...]):
        self.families = families
        self.counts: object | None = None  # the part, once it is built

    def collect(self) -> Iterator[Metric]:
        counts = self.counts
        for attribute, name, documentation in self.families:
            yield CounterMetricFamily(name, documentation, value=getattr(counts, attribute) if counts else 0)


ALERT_COUNTERS = (
    ("raised", "vigil_alerts_raised", "alerts raised by moderation (before flood control)"),
    ("held", "vigil_alerts_held", "alerts held back by flood control"),
    ("delivered", "vigil_alerts_delivered", "alerts sent to subscribers after flood control, once each"),
    ("store_failures", "vigil_alerts_store_failures", "alerts delivered without being stored (the store failed)"),
)
WEBHOOK_COUNTERS = (
    ("delivered", "vigil_webhook_delivered", "alerts POSTed to a tenant's webhook and answered 2xx"),
    ("failed", "vigil_webhook_failed_attempts", "webhook POSTs that failed (retried, or dead-lettered)"),
    ("dead_lettered", "vigil_webhook_dead_lettered", "alerts given up on after every webhook attempt"),
)


def _label(value: str) -> str:
    return value[:MAX_LABEL]


class Metrics:
    """Every metric of one server, in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.streams = Gauge("vigil_streams_active", "Ingest calls in progress", registry=r)
        self.segments = Counter("vigil_segments_stored", "segments stored", ["modality"], registry=r)
        self.segment_latency = Histogram(
            "vigil_segment_latency_seconds",
            "seconds from a segment's media leaving the decoder to its row being stored",
            ["modality"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "vigil_batch_size", "items in each batch a worker runs", ["worker"], buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "vigil_batch_seconds",
            "seconds each batch took on a worker (a model call; a Milvus write for the store worker)",
            ["worker"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "vigil_stream_lag_seconds",
            "how far behind real time a stream's media is handled (overload.py), while the stream is ingested",
            ["tenant", "stream", "media"],
            registry=r,
        )
        self.frames_dropped = Counter(
            "vigil_frames_dropped", "sampled frames of live streams dropped to catch up with real time", registry=r
        )
        self.rpcs = Counter("vigil_rpcs", "finished RPCs by method and status code", ["method", "code"], registry=r)
        self._queues = _Queues()
        r.register(self._queues)
        self._alerts = _Counts(ALERT_COUNTERS)
        r.register(self._alerts)
        self._webhooks = _Counts(WEBHOOK_COUNTERS)
        r.register(self._webhooks)
        for modality in Modality:  # every modality shows, at 0 until its first segment
            self.segments.labels(modality.value)

    # -- recording

    def watch_queue(self, queue: QueueGauge) -> None:
        """Report this queue's depth at every scrape (a later queue of the same name replaces it)."""
        self._queues.add(queue)

    def batch_run(self, worker: str, size: int, seconds: float) -> None:
        self.batch_size.labels(worker).observe(size)
        self.batch_seconds.labels(worker).observe(seconds)

    def stream_started(self) -> None:
        self.streams.inc()

    def stream_ended(self, tenant: str, stream_id: str) -> None:
        self.streams.dec()
        for media in ("frames", "speech"):
            with contextlib.suppress(KeyError):  # no lag was reported for it
                self.lag.remove(_label(tenant), _label(stream_id), media)

    def stream_lag(self, tenant: str, stream_id: str, frames_s: float, speech_s: float) -> None:
        tenant, stream_id = _label(tenant), _label(stream_id)
        self.lag.labels(tenant, stream_id, "frames").set(frames_s)
        self.lag.labels(tenant, stream_id, "speech").set(speech_s)

    def segment_stored(self, modality: Modality, seconds: float | None) -> None:
        """A segment's row is stored, `seconds` after its media left the decoder (None: not measured)."""
        self.segments.labels(modality.value).inc()
        if seconds is not None:
            self.segment_latency.labels(modality.value).observe(seconds)

    def frame_dropped(self) -> None:
        self.frames_dropped.inc()

    def watch_alerts(self, counts: AlertCounts) -> None:
        """Report alert delivery's counts (raised, held, delivered, store failures) at every scrape."""
        self._alerts.counts = counts

    def watch_webhooks(self, counts: WebhookCounts) -> None:
        """Report webhook delivery's counts (delivered, failed attempts, dead-lettered) at every scrape."""
        self._webhooks.counts = counts

    def rpc_finished(self, method: str, code: str) -> None:
        """An RPC ended with this status code's name ("OK", "INVALID_ARGUMENT", ...)."""
        self.rpcs.labels(method, code).inc()

    def names(self) -> set[str]:
        """The name of every metric family in the registry (for the docs check)."""
        return {family.name for family in self.registry.collect()}


def parse_listen(listen: str) -> tuple[str, int]:
    """("host", port) from "host:port" or "[v6]:port"; ValueError when it is not one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"expected host:port, got {listen[:MAX_LABEL]!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


class MetricsServer:
    """The HTTP endpoint (`/metrics`, any path) of a registry, on a daemon thread."""

    def __init__(self, metrics: Metrics, listen: str):
        self.host, self._port = parse_listen(listen)
        self._metrics = metrics
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Listen and serve; returns the port (the one picked when asked for port 0). OSError when it cannot."""
        self._server, self._thread = start_http_server(self._port, self.host, registry=self._metrics.registry)
        return int(self._server.server_port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self._server = self._thread = None


class DecodeTimes:
    """When each stretch of one stream's media left the decoder, to time its segments from decode to stored.

    `decoded(end_s)` as each block comes out (media seconds from the start of the stream, in order);
    `since(media_s)` gives the seconds since the block holding `media_s` came out. Bounded: media
    older than the last DECODE_TIMES_KEPT blocks is not timed (None)."""

    def __init__(self, kept: int = DECODE_TIMES_KEPT, now: Callable[[], float] = time.monotonic):
        self._ends: deque[float] = deque(maxlen=kept)
        self._times: deque[float] = deque(maxlen=kept)
        self._now = now

    def decoded(self, end_s: float) -> None:
        self._ends.append(end_s)
        self._times.append(self._now())

    def since(self, media_s: float) -> float | None:
        at = bisect.bisect_left(self._ends, media_s - 1e-6)  # the first block ending at or after media_s
        if at == len(self._ends) or (at == 0 and len(self._ends) == self._ends.maxlen):
            return None  # not decoded yet, or already forgotten
        return self._now() - self._times[at]
