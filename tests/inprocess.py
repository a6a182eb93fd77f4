"""The real server in the test process: a grpc.aio server on a real port, real ffmpeg and Milvus Lite,
and a model set of the caller's choice (tests/fakes.py by default: deterministic, no weights).

It runs on its own thread and event loop, so tests call it through ordinary blocking gRPC
clients, exactly as they call a `vigil-server` subprocess (tests/server_process.py), and it offers
the same methods: `start`, `wait_serving`, `health`, `children`, `alive`, `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.fakes import fake_model_set
from vigil_models import ModelSet
from vigil_server.app import GrpcServer, assemble
from vigil_server.logs import drop_lite_alloc_timestamp
from vigil_server.moderation import Signal
from vigil_server.service import VigilService
from vigil_server.settings import load_settings


class InProcessServer:
    def __init__(
        self,
        data_dir: Path,
        extra_args: Sequence[str] = (),
        models: ModelSet | None = None,
        signals: Sequence[Signal[Any, Any]] = (),
    ):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.models = models or fake_model_set()
        self.signals = list(signals)
        self.address = ""
        self.metrics_address = ""  # host:port of the metrics endpoint, with --metrics-listen
        self.service: VigilService | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread_id = 0  # the server thread's kernel id: its children are the server's

    def start(self, timeout: float = 60.0) -> InProcessServer:
        """Listen, build the service and serve; returns once SERVING."""
        logging.getLogger("grpc._server").addFilter(drop_lite_alloc_timestamp)  # as vigil-server's logging does
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), name="vigil-in-process", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("the in-process server did not start")
        if self._error is not None:
            raise RuntimeError("the in-process server failed to start") from self._error
        return self

    def wait_serving(self, timeout: float = 60.0) -> InProcessServer:
        return self  # start() returns once serving

    async def _run(self) -> None:
        args = ["--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir), "--grace", "2", *self.extra_args]
        settings = load_settings(args, env={})
        self._thread_id = threading.get_native_id()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = GrpcServer(settings)
        try:
            port = await server.start()
            assert port, "could not listen"
            self.address = f"127.0.0.1:{port}"
            metrics_at = server.start_metrics()
            self.metrics_address = f"{metrics_at[0]}:{metrics_at[1]}" if metrics_at else ""
            self.service = await asyncio.to_thread(
                assemble, settings, self.models, self.signals, server.metrics, server.keys
            )
            self.service.start()
            await server.serve(self.service)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            await server.stop(0)
            raise
        self._ready.set()
        await self._stop.wait()
        await server.stop(settings.server.grace_s)
        await asyncio.to_thread(self.service.stop)

    def stop(self, timeout: float = 30.0) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(timeout)
        self._thread = self._loop = self._stop = None

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self, service: str = "") -> int:
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)

    def children(self) -> list[str]:
        """Command names of the live processes the server started (the decoder's ffmpeg and ffprobe).

        The event loop thread starts them, so they are that thread's children; other children of the
        test process (a `vigil-server` subprocess of another fixture) are not the server's.
        """
        names = []
        with contextlib.suppress(FileNotFoundError):  # the server thread has ended
            for pid in Path(f"/proc/{os.getpid()}/task/{self._thread_id}/children").read_text().split():
                with contextlib.suppress(FileNotFoundError):  # it just exited
                    names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        return names
