"""What a failed call says beyond its status code: the google.rpc error details Vigil sends.

The server puts a `google.rpc.Status` in the trailing metadata under `grpc-status-details-bin`
(the gRPC richer error model); `error_details` reads the parts a client acts on. Errors from
servers or proxies that send no details read as empty.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class ErrorDetails:
    # (field, description) for each request field at fault, e.g. ("config.stream_id", "...").
    field_violations: tuple[tuple[str, str], ...] = ()
    # Seconds to wait before retrying; None when the server did not say the call may be retried.
    retry_after_s: float | None = None


def error_details(error: grpc.RpcError) -> ErrorDetails:
    """The details of a failed call's error (sync `grpc.RpcError` or `grpc.aio.AioRpcError`)."""
    trailing = getattr(error, "trailing_metadata", None)
    metadata = trailing() if callable(trailing) else None
    raw = next((value for key, value in metadata or () if key == DETAILS_KEY), None)
    if not isinstance(raw, bytes):
        return ErrorDetails()
    status = status_pb2.Status.FromString(raw)
    violations: list[tuple[str, str]] = []
    retry_after_s: float | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations += [(v.field, v.description) for v in bad.field_violations]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_after_s = retry.retry_delay.ToNanoseconds() / 1e9
    return ErrorDetails(tuple(violations), retry_after_s)


class VigilError(Exception):
    """A call failed; `code` is the gRPC status code, the message says why."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.details = message

    @classmethod
    def of(cls, exc: grpc.RpcError) -> VigilError:
        return cls(exc.code(), exc.details() or "")
