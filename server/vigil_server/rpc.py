"""Decorators for servicer methods: the one place where exceptions become gRPC statuses.

Every decorated RPC either finishes normally or ends through exactly one `context.abort`:

- a VigilError aborts with its status from STATUS, its message, and a `google.rpc.Status` in the
  trailing metadata (`grpc-status-details-bin`) holding a `BadRequest` field violation when
  `error.field` is set and a `RetryInfo` when `error.retry_after_s` is; it is logged at INFO;
- any other Exception is logged with its traceback, the method and the stream id, and aborts
  INTERNAL with a generic message: its text never reaches the client;
- grpc.aio's own exceptions pass through untouched. `context.abort` ends the handler by raising
  `grpc.aio.AbortError` (the runtime checks it gets back that very object); a second abort raises
  `grpc.aio.UsageError`, and reads and writes on a finished call raise `UsageError`,
  `ExecuteBatchError` or a private `_ServerStoppedError`. All derive from `grpc.aio.BaseError`,
  which the runtime handles itself. `asyncio.CancelledError`, `GeneratorExit`, `KeyboardInterrupt`
  and `SystemExit` are not Exceptions and are never caught.

`current_stream` holds the id of the stream a call works on, for the log lines. Handlers set it
once they know it; grpc.aio runs each call in its own task, so a value never leaks to another call.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vigil_server.errors import (
    AlreadyExists,
    InvalidMedia,
    InvalidRequest,
    NotFound,
    NotReady,
    Overloaded,
    StoreUnavailable,
    TooLarge,
    Unsupported,
    VigilError,
)

__all__ = ["STATUS", "current_stream", "rich_status", "status_of", "streaming", "unary"]

log = logging.getLogger(__name__)

# The status of each error class; a class not listed takes its nearest listed base's, else INTERNAL.
STATUS: dict[type[VigilError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidMedia: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unsupported: grpc.StatusCode.FAILED_PRECONDITION,
    NotReady: grpc.StatusCode.UNAVAILABLE,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
}

current_stream: ContextVar[str] = ContextVar("current_stream", default="")

Servicer = TypeVar("Servicer")
Request = TypeVar("Request")
Response = TypeVar("Response")


def status_of(error: VigilError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


def rich_status(error: VigilError) -> status_pb2.Status:
    """The google.rpc.Status a client reads from `grpc-status-details-bin`."""
    message = str(error) or type(error).__name__
    status = status_pb2.Status(code=status_of(error).value[0], message=message)
    if error.field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field, description=message)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    if error.retry_after_s is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromNanoseconds(round(error.retry_after_s * 1e9))
        status.details.add().Pack(retry)
    return status


async def _abort(context: grpc.aio.ServicerContext, method: str, error: Exception) -> NoReturn:
    stream = current_stream.get()
    if isinstance(error, VigilError):
        log.info("%s failed (stream=%r): %s: %s", method, stream, type(error).__name__, error)
        status = rich_status(error)
    else:
        log.error("%s failed (stream=%r): unexpected %s", method, stream, type(error).__name__, exc_info=error)
        message = f"internal error in {method}; the server log has the details"
        status = status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message=message)
    abort = rpc_status.to_status(status)
    await context.abort(abort.code, abort.details, trailing_metadata=abort.trailing_metadata)
    raise AssertionError("context.abort returned instead of raising")


def unary(
    method: Callable[[Servicer, Request, grpc.aio.ServicerContext], Awaitable[Response]],
) -> Callable[[Servicer, Request, grpc.aio.ServicerContext], Coroutine[Any, Any, Response]]:
    """For `async def` methods that return one response (unary-unary and stream-unary)."""
    if not inspect.iscoroutinefunction(method):
        raise TypeError(f"@unary needs an `async def` method that returns; use @streaming for {method.__name__}")

    @functools.wraps(method)
    async def handler(self: Servicer, request: Request, context: grpc.aio.ServicerContext) -> Response:
        try:
            return await method(self, request, context)
        except grpc.aio.BaseError:
            raise  # AbortError from the handler's own context.abort, and the runtime's other signals
        except Exception as error:  # noqa: BLE001 - every failure must end as a status; BaseExceptions pass
            await _abort(context, method.__name__, error)

    return handler


def streaming(
    method: Callable[[Servicer, Request, grpc.aio.ServicerContext], AsyncIterator[Response]],
) -> Callable[[Servicer, Request, grpc.aio.ServicerContext], AsyncGenerator[Response, None]]:
    """For async-generator methods that yield responses (unary-stream and stream-stream).

    The method's generator is closed as soon as this one is, so its cleanup runs in the call's task.
    """
    if not inspect.isasyncgenfunction(method):
        raise TypeError(f"@streaming needs an async generator method; use @unary for {method.__name__}")

    @functools.wraps(method)
    async def handler(
        self: Servicer, request: Request, context: grpc.aio.ServicerContext
    ) -> AsyncGenerator[Response, None]:
        try:
            responses = cast(AsyncGenerator[Response, None], method(self, request, context))
            async with contextlib.aclosing(responses):
                async for response in responses:
                    yield response
        except grpc.aio.BaseError:
            raise  # as in unary
        except Exception as error:  # noqa: BLE001 - as in unary
            await _abort(context, method.__name__, error)

    return handler
