"""vigil-server: build the parts once, serve gRPC, stop cleanly on SIGINT/SIGTERM.

This is the one place the parts meet. `assemble` wires a model set (real, or fakes in tests)
to the store, the segment index, moderation and alert delivery, and returns the VigilService
the servicer talks to. `GrpcServer` listens and answers health checks at once, and serves the
Vigil API from the moment a service is handed to it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_models import ModelSet
from vigil_server.admission import Admission
from vigil_server.alerts import AlertHub
from vigil_server.calibrate import PROBE_TEXTS, Calibrator
from vigil_server.captions import CaptionHub
from vigil_server.decode import DecodeSettings
from vigil_server.index import SegmentIndex
from vigil_server.ingest import IngestParts
from vigil_server.logs import configure_logging
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
from vigil_server.service import VigilService
from vigil_server.servicer import ServerState, VigilServicer
from vigil_server.settings import ServerSettings, Settings, load_settings
from vigil_server.store import SegmentStore, StoreSettings, lite_uri
from vigil_server.types import Modality
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


def assemble(settings: Settings, models: ModelSet, extra_signals: Sequence[Signal[Any, Any]] = ()) -> VigilService:
    """Open the store and build every part around the models (blocking: run it in a thread).

    `extra_signals` join the registered moderation signals (signals.SIGNAL_TYPES), after them.
    """
    data_dir = settings.storage.data_dir
    uri = settings.storage.milvus_uri or lite_uri(data_dir)
    store = SegmentStore(StoreSettings(uri=uri, token=settings.storage.milvus_token), models.space.name,
                         models.text.dim, descriptor_dim=models.image.descriptor_dim)  # fmt: skip
    stored = store.count()
    log.info("store %s, collection %s, %d segments", uri, store.collection, stored)
    calibrator = load_calibrator(models.text.embed(list(PROBE_TEXTS)), data_dir, store, stored)
    index = SegmentIndex(store, calibrator, settings.workers.store)
    workers = ModelWorkers(models, settings.workers)
    spool = data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    decode = DecodeSettings(spool_dir=spool)
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
    parts = IngestParts(workers, index, moderation, alerts, decode, CaptionHub(settings.captions), settings.speech,
                        ingest=settings.ingest)  # fmt: skip
    return VigilService(parts, query, Admission(settings.server.max_streams), Lookup(moderation, describe_frames))


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
    for name, calibration in calibrator.snapshot().items():
        log.info("calibration %s: mean %.3f std %.3f", name, calibration.mean, calibration.std)
    return calibrator


class GrpcServer:
    """The listener: health and reflection from the start, the Vigil API once `serve` gets a service."""

    def __init__(self, settings: Settings):
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
        self.server = grpc.aio.server(options=options)
        self.state = ServerState(None, settings.ingest.frame_rate, server_settings.max_chunk_bytes)
        vigil_pb2_grpc.add_VigilServicer_to_server(VigilServicer(self.state), self.server)
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
            port: int = self.server.add_insecure_port(listen)
        except RuntimeError as exc:
            log.error("cannot listen on %s: %s", listen, exc)
            return 0
        if port:
            await self.server.start()
        return port

    async def serve(self, service: VigilService) -> None:
        self.state.service = service
        for name in ("", SERVICE_NAME):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def stop(self, grace_s: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)


async def serve(settings: Settings) -> int:
    server = GrpcServer(settings)
    port = await server.start()
    if port == 0:
        log.error("cannot listen on %s (in use, or not an address of this host)", settings.server.listen)
        return 2
    host = settings.server.listen.rsplit(":", 1)[0]
    print(f"vigil-server listening on {host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        models = await asyncio.to_thread(load_model_set, settings)
        service = await asyncio.to_thread(assemble, settings, models)
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


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    configure_logging(settings.server.log_level)
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
