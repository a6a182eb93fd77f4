"""vigil-server: build the parts once, serve gRPC, stop cleanly on SIGINT/SIGTERM.

This is the one place the parts meet. `assemble` wires a model set (real, or fakes in tests)
to the store, the segment index, moderation and alert delivery, and returns the VigilService
the servicer talks to. `GrpcServer` listens and answers health checks at once, and serves the
Vigil API from the moment a service is handed to it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigil.v1 import vigil_pb2
from vigil_models import ModelSet
from vigil_server.admission import Admission
from vigil_server.alerts import AlertHub
from vigil_server.calibrate import PROBE_TEXTS, Calibrator
from vigil_server.captions import CaptionHub
from vigil_server.decode import DecodeSettings
from vigil_server.erasure import Eraser
from vigil_server.identity import KeyBook, KeyFileError, TenantPolicies, current_caller
from vigil_server.index import SegmentIndex
from vigil_server.ingest import IngestParts
from vigil_server.logs import configure_logging
from vigil_server.metrics import MAX_LABEL, Metrics, MetricsServer, QueueGauge
from vigil_server.moderation import (
    AlertLog,
    BankBook,
    ItemMediaLoader,
    Lookup,
    Moderation,
    RulesDb,
    Signal,
    SignalContext,
    build_signals,
    migrate_v1,
)
from vigil_server.moderation.signals import PdqSignal
from vigil_server.query import QueryEmbedder
from vigil_server.retention import Retention
from vigil_server.rpc import add_service, current_stream
from vigil_server.service import VigilService
from vigil_server.servicer import ServerState, VigilServicer
from vigil_server.settings import SecuritySettings, ServerSettings, Settings, load_settings
from vigil_server.store import SegmentStore, StoreSettings, lite_uri
from vigil_server.types import Modality
from vigil_server.webhooks import build_webhooks
from vigil_server.wire import MAX_QUERY_MEDIA_BYTES
from vigil_server.workers import ModelWorkers

log = logging.getLogger("vigil_server")

SERVICE_NAME = vigil_pb2.DESCRIPTOR.services_by_name["Vigil"].full_name
# Room for protobuf framing around the largest chunk.
MESSAGE_OVERHEAD = 64 << 10
# Query media (images, clips) may be up to MAX_QUERY_MEDIA_BYTES.
MAX_QUERY_MESSAGE = MAX_QUERY_MEDIA_BYTES + MESSAGE_OVERHEAD
# Stored segments sampled per modality to rebuild a lost calibration file.
REBUILD_SAMPLE = 2000


def load_model_set(settings: Settings) -> ModelSet:
    """Load the configured models (blocking: run it in a thread)."""
    import torch  # imported here so `vigil-server --help` stays fast

    from vigil_models import load_models, pick_device
    from vigil_models.threads import plan_threads

    m = settings.models
    device = pick_device(m.device)
    threads = plan_threads(m.cpu_threads)  # the models' worker threads run at once: small pools (threads.py)
    torch.set_num_threads(threads.torch_intra)
    try:
        torch.set_num_interop_threads(threads.torch_interop)
    except RuntimeError:  # only possible before torch's first parallel work, i.e. once per process
        log.debug("torch inter-op threads already set: %d", torch.get_num_interop_threads())
    log.info("loading models on %s: space=%s speech=%s; CPU threads per runtime: %s",
             device, m.space, m.speech_model, threads)  # fmt: skip
    return load_models(m.space, m.speech_model, device, m.model_cache, m.cpu_threads,
                       clip_model=m.clip_model, clap_model=m.clap_model,
                       read_text=settings.ingest.on_screen_text == "on", people=settings.ingest.people == "on",
                       explicit=settings.ingest.explicit_score == "on")  # fmt: skip


def assemble(
    settings: Settings,
    models: ModelSet,
    extra_signals: Sequence[Signal[Any, Any]] = (),
    metrics: Metrics | None = None,
    policies: TenantPolicies | None = None,
) -> VigilService:
    """Open the store and build every part around the models (blocking: run it in a thread).

    `extra_signals` join the registered moderation signals (signals.SIGNAL_TYPES), after them. The parts
    record into `metrics` (the listener's, GrpcServer.metrics; None: a registry of their own that nobody reads).
    `policies`: the tenants' own settings (GrpcServer.keys; None: none), here their retention periods.
    """
    metrics = metrics if metrics is not None else Metrics()
    data_dir = settings.storage.data_dir
    uri = settings.storage.milvus_uri or lite_uri(data_dir)
    store = SegmentStore(StoreSettings(uri=uri, token=settings.storage.milvus_token), models.space.name,
                         models.text.dim, descriptor_dim=models.image.descriptor_dim)  # fmt: skip
    stored = store.count()
    log.info("store %s, collection %s, %d segments", uri, store.collection, stored)
    calibrator = load_calibrator(models.text.embed(list(PROBE_TEXTS)), data_dir, store, stored)
    index = SegmentIndex(store, calibrator, settings.workers.store)
    workers = ModelWorkers(models, settings.workers)
    for worker in [*workers.batch_workers, index.batch_worker]:  # queue depths at scrape time, batches as they run
        metrics.watch_queue(QueueGauge(worker.name, worker.queued, worker.max_pending))
        worker.on_batch = metrics.batch_run
    spool = data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    limits = settings.limits
    decode = DecodeSettings(spool_dir=spool, max_spool_bytes=limits.max_spool_bytes,
                            stall_s=limits.decode_stall_timeout_s)  # fmt: skip
    query = QueryEmbedder(workers, index, decode, settings.speech)

    async def describe_frames(frames: list[np.ndarray]) -> np.ndarray:
        return np.stack([d for _, d in await workers.embed_frames(frames, wait=False)])

    context = SignalContext(settings.moderation, describe_frames, index.search_copies, index.descriptor_dim)
    signals = [*build_signals(context), *extra_signals]
    db = RulesDb(data_dir / f"watchlist-{store.collection}.sqlite3", index.dim)
    migrate_v1(db, {s.name: s for s in signals})
    pdq = next((s for s in signals if isinstance(s, PdqSignal)), None)
    media = ItemMediaLoader(decode, pdq.distinct_frames if pdq is not None else list)  # a video's distinct frames
    alert_log = AlertLog(db)  # the alert store: flood control and Watch read it too
    moderation = Moderation(db, signals, index.calibration, query.embed, media, settings.moderation, BankBook(db),
                            alert_log)  # fmt: skip
    alerts = AlertHub(settings.moderation.alert_window_s, alert_log)
    webhooks = build_webhooks(settings.webhooks, alert_log, db, policies)
    if webhooks is not None:
        alerts.add_sink(webhooks)  # started and closed with the hub
        metrics.watch_webhooks(webhooks)
    metrics.watch_alerts(alerts)
    captions = CaptionHub(settings.captions)
    parts = IngestParts(workers, index, moderation, alerts, decode, captions, settings.speech,
                        ingest=settings.ingest, metrics=metrics, limits=limits)  # fmt: skip
    admission = Admission(settings.server.max_streams)
    eraser = Eraser(index, db, alert_log, captions, admission)
    retention = Retention(eraser, settings.retention, policies)
    return VigilService(parts, query, admission, Lookup(moderation, describe_frames), eraser, retention)


def load_calibrator(probes: np.ndarray, data_dir: Any, store: SegmentStore, stored: int) -> Calibrator:
    """Calibration statistics from the data dir; rebuilt from a sample of the store when missing."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / f"calibration-{store.collection}.json"
    calibrator = Calibrator(probes, path)
    if stored and not path.exists():
        log.info("no calibration file: rebuilding it from up to %d stored segments per modality", REBUILD_SAMPLE)
        for modality in Modality:
            vectors = store.sample_vectors(modality, REBUILD_SAMPLE)
            if len(vectors):
                calibrator.observe(modality, vectors)
        calibrator.save()
    elif stored:
        top_up_calibration(calibrator, store)
    for name, calibration in calibrator.snapshot().items():
        log.info("calibration %s: mean %.3f std %.3f", name, calibration.mean, calibration.std)
    return calibrator


def top_up_calibration(calibrator: Calibrator, store: SegmentStore) -> None:
    """Observe the segments stored after the calibration file was last saved (a killed server's last ones)."""
    topped = 0
    for modality in Modality:
        missing = store.count_modality(modality) - calibrator.segments(modality)
        if missing > 0:
            vectors = store.sample_vectors(modality, min(missing, REBUILD_SAMPLE), calibrator.saved_at_ms)
            if len(vectors):
                calibrator.observe(modality, vectors)
                topped += len(vectors)
    if topped:
        log.info("calibration: %d stored segments were not in the file (not saved before a stop); added", topped)
        calibrator.save()


def server_credentials(security: SecuritySettings) -> grpc.ServerCredentials | None:
    """TLS credentials of --tls-cert and --tls-key (mTLS with --tls-client-ca); None: plaintext.

    ValueError names the flag whose file is missing or unreadable.
    """
    if not security.tls_cert and not security.tls_key and not security.tls_client_ca:
        return None
    if not security.tls_cert or not security.tls_key:
        raise ValueError("TLS needs both --tls-cert and --tls-key (--tls-client-ca alone is not enough)")

    def read(flag: str, path: str) -> bytes:
        try:
            return Path(path).read_bytes()
        except OSError as exc:
            raise ValueError(f"--{flag} {path}: cannot read it ({exc.strerror or exc})") from None

    pair = (read("tls-key", security.tls_key), read("tls-cert", security.tls_cert))
    client_ca = read("tls-client-ca", security.tls_client_ca) if security.tls_client_ca else None
    return grpc.ssl_server_credentials([pair], root_certificates=client_ca, require_client_auth=client_ca is not None)


def is_loopback(listen: str) -> bool:
    """Whether host:port names only this machine (127.0.0.0/8, ::1, localhost)."""
    host = listen.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name, or empty (every address)


class GrpcServer:
    """The listener: health and reflection from the start, the Vigil API once `serve` gets a service.

    `env` holds VIGIL_API_KEY_* keys (identity.py); a bad key file or TLS file raises KeyFileError or ValueError.
    """

    def __init__(self, settings: Settings, env: Mapping[str, str] | None = None):
        server_settings: ServerSettings = settings.server
        options = [
            ("grpc.max_receive_message_length",
             max(server_settings.max_chunk_bytes + MESSAGE_OVERHEAD, MAX_QUERY_MESSAGE)),
            ("grpc.max_send_message_length", 16 << 20),
            ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
            # Ping idle connections (a Watch call may be quiet for hours) so vanished clients are noticed.
            ("grpc.keepalive_time_ms", 60_000),
            ("grpc.keepalive_timeout_ms", 20_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.max_pings_without_data", 0),
        ]  # fmt: skip
        self.settings = settings
        self.keys = KeyBook.load(settings.security.api_keys, env or {})
        self.credentials = server_credentials(settings.security)
        self.server = grpc.aio.server(options=options)
        self.state = ServerState(None, settings.ingest.frame_rate, server_settings.max_chunk_bytes, self.keys,
                                 stream_idle_timeout_s=settings.limits.stream_idle_timeout_s)  # fmt: skip
        self.metrics = Metrics()  # every part records here (assemble); served on --metrics-listen (start_metrics)
        self.state.on_rpc_finished = self.metrics.rpc_finished
        self._metrics_server: MetricsServer | None = None
        # Not the generated add_VigilServicer_to_server: requests that do not decode get INVALID_ARGUMENT (rpc.py).
        add_service(VigilServicer(self.state), self.server, vigil_pb2, "Vigil")
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        health_name = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name
        reflection.enable_server_reflection([SERVICE_NAME, health_name, reflection.SERVICE_NAME], self.server)

    async def start(self) -> int:
        """Listen (NOT_SERVING until `serve`); returns the port, or 0 when the address cannot be used."""
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        listen = self.settings.server.listen
        try:
            if self.credentials is None:
                port: int = self.server.add_insecure_port(listen)
            else:
                port = self.server.add_secure_port(listen, self.credentials)
        except RuntimeError as exc:
            log.error("cannot listen on %s: %s", listen, exc)
            return 0
        self._warn_if_exposed(listen)
        if port:
            await self.server.start()
        return port

    def _warn_if_exposed(self, listen: str) -> None:
        security = self.settings.security
        log.info("auth %s; %s", "on" if self.keys else "off",
                 "mTLS" if security.tls_client_ca else "TLS" if self.credentials else "plaintext")  # fmt: skip
        if is_loopback(listen):
            return
        if self.keys is None:
            log.warning("!!! AUTH IS OFF on %s, which other machines can reach: anyone who reaches the port can "
                        "read, change and delete everything. Give --api-keys (README: Security). !!!",
                        listen)  # fmt: skip
        if self.credentials is None:
            log.warning("!!! NO TLS on %s, which other machines can reach: media, results%s cross the network in "
                        "plain text. Give --tls-cert and --tls-key (README: Security). !!!",
                        listen, " and API keys" if self.keys else "")  # fmt: skip

    async def serve(self, service: VigilService) -> None:
        self.state.service = service
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def start_metrics(self) -> tuple[str, int] | None:
        """Serve the metrics on --metrics-listen: (host, port), or None when off; OSError or ValueError if it cannot."""
        listen = self.settings.observability.metrics_listen
        if not listen:
            return None
        self._metrics_server = MetricsServer(self.metrics, listen)
        return self._metrics_server.host, self._metrics_server.start()

    async def stop(self, grace_s: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        if self._metrics_server is not None:
            await asyncio.to_thread(self._metrics_server.stop)
            self._metrics_server = None


async def serve(settings: Settings, env: Mapping[str, str] | None = None) -> int:
    try:
        server = GrpcServer(settings, env)
    except (KeyFileError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 2
    port = await server.start()
    if port == 0:
        log.error("cannot listen on %s (in use, or not an address of this host)", settings.server.listen)
        return 2
    host = settings.server.listen.rsplit(":", 1)[0]
    print(f"vigil-server listening on {host}:{port}", flush=True)
    try:
        metrics_at = server.start_metrics()
    except (OSError, ValueError) as exc:
        log.error("cannot serve metrics on %s: %s", settings.observability.metrics_listen, exc)
        await server.stop(0)
        return 2
    if metrics_at is not None:
        print(f"vigil-server metrics on http://{metrics_at[0]}:{metrics_at[1]}/metrics", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        models = await asyncio.to_thread(load_model_set, settings)
        service = await asyncio.to_thread(assemble, settings, models, (), server.metrics, server.keys)
    except Exception as exc:  # noqa: BLE001 - any start-up failure ends the process with a clear line
        log.error("start-up failed: %s: %s", type(exc).__name__, exc)
        await server.stop(0)
        return 1
    service.start()
    await server.serve(service)
    log.info("serving")
    await stop.wait()
    grace = settings.server.grace_s
    log.info("shutting down (grace %.0f s)", grace)
    await server.stop(grace)
    await asyncio.to_thread(service.stop)
    return 0


def call_ids() -> dict[str, str]:
    """The tenant and stream of the call being served, those known (the JSON log lines carry them)."""
    ids = {}
    caller = current_caller.get(None)  # set for every call to the Vigil API (rpc.py), auth on or off
    if caller is not None:
        ids["tenant"] = caller.tenant
    stream = current_stream.get()
    if stream:
        ids["stream"] = stream[:MAX_LABEL]
    return ids


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["keys"]:
        from vigil_server.keys import main as keys_main

        return keys_main(args[1:])
    settings = load_settings(args)
    configure_logging(settings.server.log_level, settings.observability.log_format, call_ids)
    return asyncio.run(serve(settings, os.environ))


if __name__ == "__main__":
    sys.exit(main())
