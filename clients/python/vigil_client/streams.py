"""A server-streaming call as an iterator that a caller can cancel from any thread (Watch, WatchCaptions)."""

from __future__ import annotations

import threading
from typing import Any, Generic, TypeVar

import grpc

from vigil_client.errors import VigilError

T = TypeVar("T")


class ServerStream(Generic[T]):
    """Iterate it for the call's messages, converted by `convert`; it runs until cancelled.

    Call `cancel()` (from any thread, e.g. a signal handler or a timer) or leave a `with` block
    around it; iteration then stops without an error. Other failures raise VigilError.
    """

    def __init__(self, call: Any):
        self._call = call
        self._cancelled = False
        self._headers = threading.Event()
        self._waiter: threading.Thread | None = None

    def convert(self, message: Any) -> T:
        raise NotImplementedError

    def __iter__(self) -> ServerStream[T]:
        return self

    def __next__(self) -> T:
        try:
            message = next(self._call)
        except grpc.RpcError as exc:
            if self._cancelled and exc.code() == grpc.StatusCode.CANCELLED:
                raise StopIteration from None
            raise VigilError.of(exc) from None
        return self.convert(message)

    def __enter__(self) -> ServerStream[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def cancel(self) -> None:
        """End the call; a blocked iteration returns. Safe to call more than once and from any thread."""
        self._cancelled = True
        self._call.cancel()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until the server has answered the call with its response headers; True when it has.

        Vigil sends them as soon as it has registered the watcher: from then on every event reaches it.
        False when `timeout` seconds passed first or the call ended (iterate to see its error)."""
        if self._waiter is None:

            def wait() -> None:
                self._call.initial_metadata()  # blocks until the headers come or the call ends
                if not self._call.done():
                    self._headers.set()

            self._waiter = threading.Thread(target=wait, name="vigil-stream-headers", daemon=True)
            self._waiter.start()
        self._waiter.join(timeout)
        return self._headers.is_set()
