"""Run the real `vigil-server` as a subprocess on a free port, for tests and benchmarks."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

PR_SET_PDEATHSIG = 1  # prctl(2): the signal a child gets when the thread that started it dies
# Python statements a child runs first: be killed when the starting thread dies, so a test run killed by a
# timeout leaves no server behind (Linux; elsewhere the server outlives a killed parent). This runs in the
# child's own interpreter, not in a `preexec_fn`: forking a process whose gRPC threads are busy and running
# Python before exec left the child's gRPC poller on closed descriptors ("epoll_wait error: Bad file
# descriptor") and the server never started, about once per CI run.
DIE_WITH_PARENT = (
    "import ctypes, signal\n"
    "try:\n"
    f"    ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, signal.SIGKILL)\n"
    "except (OSError, AttributeError):\n"
    "    pass\n"
)
SERVER = [sys.executable, "-c", DIE_WITH_PARENT + "import runpy\nrunpy.run_module('vigil_server.app', "
          "run_name='__main__', alter_sys=True)\n"]  # fmt: skip
LISTENING = re.compile(r"vigil-server listening on (\S+)")


class ServerProcess:
    """`start()` returns once the server listens; `wait_serving()` once its models are loaded."""

    def __init__(self, data_dir: Path, model_cache: Path, extra_args: Sequence[str] = ()):
        self.data_dir = data_dir
        self.model_cache = model_cache
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen[str] | None = None
        self.address = ""
        self.log: list[str] = []

    def command(self) -> list[str]:
        """The server's command line; it must print LISTENING's line once it listens."""
        return [*SERVER, "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir),
                "--model-cache", str(self.model_cache), *self.extra_args]  # fmt: skip

    def start(self, timeout: float = 60.0) -> ServerProcess:
        self.proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        found = threading.Event()

        def pump() -> None:
            assert self.proc is not None and self.proc.stdout is not None
            for line in self.proc.stdout:
                self.log.append(line)
                if (m := LISTENING.search(line)) and not found.is_set():
                    self.address = m.group(1)
                    found.set()
            found.set()

        threading.Thread(target=pump, daemon=True).start()
        if not found.wait(timeout) or not self.address:
            self.stop()
            raise RuntimeError("vigil-server did not start:\n" + "".join(self.log))
        return self

    def health(self, service: str = "") -> int:
        with grpc.insecure_channel(self.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return int(stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status)

    def wait_serving(self, timeout: float = 180.0) -> ServerProcess:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError("vigil-server exited:\n" + "".join(self.log))
            try:
                if self.health() == health_pb2.HealthCheckResponse.SERVING:
                    return self
            except grpc.RpcError as exc:  # a server busy loading models may answer late: ask again
                if exc.code() not in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                    raise
            time.sleep(0.25)
        raise TimeoutError("vigil-server never became SERVING:\n" + "".join(self.log))

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def children(self) -> list[str]:
        """Command names of the server's live child processes (ffmpeg, ffprobe, ...)."""
        assert self.proc is not None
        names = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            for pid in (task / "children").read_text().split():
                with contextlib.suppress(FileNotFoundError):  # it just exited
                    names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        return names

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
