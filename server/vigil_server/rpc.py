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

Requests that do not decode (garbage bytes, a string field that is not UTF-8) reach no handler as
an exception inside grpcio (which would answer UNKNOWN): `add_service` registers the handlers with
deserializers that return a `Malformed` marker instead, and the decorators abort INVALID_ARGUMENT
for it, for each message of a client stream too. Every status message is cut to MAX_MESSAGE_CHARS.

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
from types import ModuleType
from typing import Any, NoReturn, TypeVar, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from vigil_server.errors import (
    AlreadyExists,
    IdleTimeout,
    InvalidMedia,
    InvalidRequest,
    LimitReached,
    NotFound,
    NotReady,
    Overloaded,
    PermissionDenied,
    StorageFull,
    StoreUnavailable,
    TooLarge,
    Unauthenticated,
    Unsupported,
    VigilError,
    storage_full,
)
from vigil_server.identity import ANONYMOUS_ADMIN, Caller, Guard, current_caller

__all__ = ["STATUS", "Malformed", "add_service", "current_stream", "rich_status", "status_of", "streaming", "unary"]

log = logging.getLogger(__name__)

# The status of each error class; a class not listed takes its nearest listed base's, else INTERNAL.
STATUS: dict[type[VigilError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidMedia: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    StorageFull: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Unsupported: grpc.StatusCode.FAILED_PRECONDITION,
    IdleTimeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    NotReady: grpc.StatusCode.UNAVAILABLE,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
    Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    LimitReached: grpc.StatusCode.RESOURCE_EXHAUSTED,
}

current_stream: ContextVar[str] = ContextVar("current_stream", default="")
# A status message longer than this is cut (a client's metadata limit is 8 KiB in all).
MAX_MESSAGE_CHARS = 1024

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
    message = _bounded(str(error) or type(error).__name__)
    status = status_pb2.Status(code=status_of(error).value[0], message=message)
    if error.field:
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field[:200], description=message)
        status.details.add().Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    if error.retry_after_s is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromNanoseconds(round(error.retry_after_s * 1e9))
        status.details.add().Pack(retry)
    return status


def _bounded(message: str) -> str:
    """A status message of at most MAX_MESSAGE_CHARS (a safety net: messages echo little client input)."""
    return message if len(message) <= MAX_MESSAGE_CHARS else message[: MAX_MESSAGE_CHARS - 3] + "..."


class Malformed:
    """What a tolerant deserializer returns for bytes that are not a valid message of its type."""

    __slots__ = ("message_name",)

    def __init__(self, message_name: str):
        self.message_name = message_name

    def error(self) -> InvalidRequest:
        return InvalidRequest(f"the request is not a valid {self.message_name}: it does not decode (corrupt "
                              "protobuf bytes, or a string field that is not UTF-8)")  # fmt: skip


def _tolerant(message_class: Any) -> Callable[[bytes], Any]:
    name = message_class.DESCRIPTOR.name

    def deserialize(data: bytes) -> Any:
        try:
            return message_class.FromString(data)
        except Exception:  # noqa: BLE001 - protobuf's DecodeError, or anything else the bytes provoke
            return Malformed(name)

    return deserialize


def add_service(servicer: object, server: grpc.aio.Server, messages: ModuleType, service_name: str) -> None:
    """Register `servicer`'s methods for every method of the service `service_name` of the generated
    module `messages`, with tolerant deserializers (in place of the generated `add_*Servicer_to_server`)."""
    service = messages.DESCRIPTOR.services_by_name[service_name]
    kinds = {
        (False, False): grpc.unary_unary_rpc_method_handler,
        (False, True): grpc.unary_stream_rpc_method_handler,
        (True, False): grpc.stream_unary_rpc_method_handler,
        (True, True): grpc.stream_stream_rpc_method_handler,
    }
    handlers = {}
    for method in service.methods:
        response_class = getattr(messages, method.output_type.name)
        handlers[method.name] = kinds[(method.client_streaming, method.server_streaming)](
            getattr(servicer, method.name),
            request_deserializer=_tolerant(getattr(messages, method.input_type.name)),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


async def _decoded(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A client stream's messages; InvalidRequest at the first that did not decode."""
    async for request in requests:
        if isinstance(request, Malformed):
            raise request.error()
        yield request


def _checked(request: Any) -> Any:
    """The request, or a client stream's messages checked as they come; InvalidRequest when it did not decode."""
    if isinstance(request, Malformed):
        raise request.error()
    if hasattr(request, "__aiter__"):
        return _decoded(request)
    return request


def bearer_token(metadata: Any) -> str:
    """The token of an `authorization: Bearer <token>` metadata entry; empty when there is none."""
    for key, value in metadata or ():
        if key == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    return ""


def _admit(servicer: object, method: str, context: grpc.aio.ServicerContext) -> None:
    """Set `current_caller` from the call's API key, as the servicer's `guard` judges it (none: auth off).

    Raises Unauthenticated or PermissionDenied before the handler runs, so a refused call's body is never read.
    """
    guard: Guard | None = getattr(servicer, "guard", None)
    caller: Caller = ANONYMOUS_ADMIN
    if guard is not None:
        caller = guard.admit(method, bearer_token(context.invocation_metadata()))
    current_caller.set(caller)


def _finished(servicer: object, method: str, context: grpc.aio.ServicerContext, code: grpc.StatusCode | None) -> None:
    """Tell the servicer's `rpc_finished` (the metrics) how the call ended; `code` None: the context's (an abort's)."""
    observe: Callable[[str, str], None] | None = getattr(servicer, "rpc_finished", None)
    if observe is None:
        return
    if code is None:
        code = context.code()
    observe(method, code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN")


async def _abort(context: grpc.aio.ServicerContext, method: str, error: Exception) -> NoReturn:
    stream = current_stream.get()
    if not isinstance(error, VigilError) and (full := storage_full(error)) is not None:
        log.error("%s failed (stream=%r): the data directory is full: %s", method, stream, error)
        error = full
    if isinstance(error, VigilError):
        log.info("%s failed (stream=%r): %s: %s", method, stream, type(error).__name__, error)
        status = rich_status(error)
    else:
        log.error("%s failed (stream=%r): unexpected %s", method, stream, type(error).__name__, exc_info=error)
        message = f"internal error in {method}; the server log has the details"
        status = status_pb2.Status(code=grpc.StatusCode.INTERNAL.value[0], message=message)
    status.message = _bounded(status.message)
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
        code: grpc.StatusCode | None = grpc.StatusCode.OK  # None: an abort's, read from the context
        try:
            _admit(self, method.__name__, context)
            return await method(self, _checked(request), context)
        except grpc.aio.BaseError:
            code = None
            raise  # AbortError from the handler's own context.abort, and the runtime's other signals
        except Exception as error:  # noqa: BLE001 - every failure must end as a status; BaseExceptions pass
            code = None
            await _abort(context, method.__name__, error)
        except BaseException:
            code = grpc.StatusCode.CANCELLED  # the call was cancelled (or the server is going down)
            raise
        finally:
            _finished(self, method.__name__, context, code)

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
        code: grpc.StatusCode | None = grpc.StatusCode.OK  # as in unary
        try:
            _admit(self, method.__name__, context)
            responses = cast(AsyncGenerator[Response, None], method(self, _checked(request), context))
            async with contextlib.aclosing(responses):
                async for response in responses:
                    yield response
        except grpc.aio.BaseError:
            code = None
            raise  # as in unary
        except Exception as error:  # noqa: BLE001 - as in unary
            code = None
            await _abort(context, method.__name__, error)
        except BaseException:
            code = grpc.StatusCode.CANCELLED  # as in unary; GeneratorExit too: the response stream was closed
            raise
        finally:
            _finished(self, method.__name__, context, code)

    return handler
