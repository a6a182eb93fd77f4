"""vigil-server: start the gRPC server, load the models, serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

import grpc
import numpy as np
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_server.calibrate import PROBE_TEXTS, Calibrator
from vigil_server.decode import DecodeSettings
from vigil_server.moderation import ModerationSettings
from vigil_server.pipeline import Pipeline, PipelineSettings
from vigil_server.servicer import ServerState, VigilServicer
from vigil_server.settings import Settings, load_settings
from vigil_server.store import SegmentStore, StoreSettings, lite_uri
from vigil_server.types import Modality
from vigil_server.watchlist import Thresholds
from vigil_server.watchlist_db import WatchlistDb

log = logging.getLogger("vigil_server")

SERVICE_NAME = vigil_pb2.DESCRIPTOR.services_by_name["Vigil"].full_name
# Room for protobuf framing around the largest chunk.
MESSAGE_OVERHEAD = 64 << 10
# Query media (images, clips) may be up to 16 MiB.
MAX_QUERY_MESSAGE = (16 << 20) + MESSAGE_OVERHEAD
# Stored segments sampled per modality to rebuild a lost calibration file.
REBUILD_SAMPLE = 2000


def build_pipeline(settings: Settings) -> Pipeline:
    """Load models and open the store (blocking: run it in a thread)."""
    import torch  # imported here so `vigil-server --help` stays fast

    from vigil_models import load_models, pick_device

    device = pick_device(settings.device)
    if device.type == "cpu" and settings.cpu_threads:
        torch.set_num_threads(settings.cpu_threads)
    log.info("loading models on %s: space=%s speech=%s", device, settings.space, settings.speech_model)
    models = load_models(
        settings.space,
        settings.speech_model,
        device,
        settings.model_cache,
        settings.cpu_threads,
        clip_model=settings.clip_model,
        clap_model=settings.clap_model,
    )
    uri = settings.milvus_uri or lite_uri(settings.data_dir)
    store = SegmentStore(
        StoreSettings(uri=uri, token=settings.milvus_token),
        models.space.name,
        models.space.dim,
        descriptor_dim=models.image.descriptor_dim,
    )
    stored = store.count()
    log.info("store %s, collection %s, %d segments", uri, store.collection, stored)
    calibrator = load_calibrator(models.text.embed(list(PROBE_TEXTS)), settings, store, stored)
    spool = settings.data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    pipeline_settings = PipelineSettings(
        decode=DecodeSettings(spool_dir=spool),
        max_streams=settings.max_streams,
        moderation=ModerationSettings(settings.archive_window_s, settings.alert_window_s),
        thresholds=Thresholds(query_score=settings.query_threshold, bank_cosine=settings.bank_min_cosine),
    )
    watchlist_db = WatchlistDb(
        settings.data_dir / f"watchlist-{store.collection}.sqlite3", store.dim, store.descriptor_dim
    )
    return Pipeline(models, store, calibrator, pipeline_settings, watchlist_db)


def load_calibrator(probes: np.ndarray, settings: Settings, store: SegmentStore, stored: int) -> Calibrator:
    """Calibration statistics from the data dir; rebuilt from a sample of the store when missing."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.data_dir / f"calibration-{store.collection}.json"
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


async def serve(settings: Settings) -> int:
    options = [
        ("grpc.max_receive_message_length", max(settings.max_chunk_bytes + MESSAGE_OVERHEAD, MAX_QUERY_MESSAGE)),
        ("grpc.max_send_message_length", 16 << 20),
        ("grpc.so_reuseport", 0),  # a second server on the same port must fail, not share it
        # Ping idle connections (a Watch call may be quiet for hours) so vanished clients are noticed.
        ("grpc.keepalive_time_ms", 60_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
    ]
    server = grpc.aio.server(options=options)
    state = ServerState(None, settings.default_frame_rate, settings.max_chunk_bytes)
    vigil_pb2_grpc.add_VigilServicer_to_server(VigilServicer(state), server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [SERVICE_NAME, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME], server
    )
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
    try:
        port = server.add_insecure_port(settings.listen)
    except RuntimeError as exc:
        port = 0
        log.error("cannot listen on %s: %s", settings.listen, exc)
    if port == 0:
        log.error("cannot listen on %s (in use, or not an address of this host)", settings.listen)
        return 2
    await server.start()
    host = settings.listen.rsplit(":", 1)[0]
    print(f"vigil-server listening on {host}:{port}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        pipeline = await asyncio.to_thread(build_pipeline, settings)
    except Exception as exc:  # noqa: BLE001 - any start-up failure ends the process with a clear line
        log.error("start-up failed: %s: %s", type(exc).__name__, exc)
        await server.stop(0)
        return 1
    pipeline.start()
    state.pipeline = pipeline
    for name in ("", SERVICE_NAME):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("serving")
    await stop.wait()
    log.info("shutting down (grace %.0f s)", settings.grace_s)
    await health_servicer.enter_graceful_shutdown()
    await server.stop(settings.grace_s)
    await asyncio.to_thread(pipeline.stop)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    settings = load_settings(argv)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("faiss").setLevel(logging.WARNING)  # Milvus Lite announces its CPU kernels
    # Milvus Lite's embedded server logs a traceback for an RPC it does not implement; harmless.
    logging.getLogger("grpc._server").addFilter(lambda record: "AllocTimestamp" not in record.getMessage())
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    return asyncio.run(serve(settings))


if __name__ == "__main__":
    sys.exit(main())
