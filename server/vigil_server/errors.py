"""One exception tree for the server; rpc.py maps each class to a gRPC status code.

Every error carries what a client needs to act on it: the message (what went wrong and what to
change), `field` (the request field at fault, when one is), `retriable` and `retry_after_s` (how
long to wait before the first retry; None exactly when the error is not retriable). This module
knows nothing about gRPC: the stages below the transport raise these errors.
"""

from __future__ import annotations

import errno
import sqlite3

# OS errors that mean the data directory cannot take more bytes: no space, over quota, over a file-size limit.
FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class VigilError(Exception):
    """Base of every error Vigil reports to a client.

    `field` names the request field at fault in the proto's terms, e.g. "config.stream_id" or
    "examples[2].image"; empty when no one field is. `retriable` tells a client whether the same
    request may succeed later, and `retry_after_s` how long to wait first.
    """

    retriable: bool = False
    retry_after_s: float | None = None

    def __init__(self, message: str = "", *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class InvalidRequest(VigilError):
    """The request is malformed: a missing config, a bad field, a sequence gap."""


class InvalidMedia(VigilError):
    """The media bytes cannot be decoded in the stated format."""


class NotFound(VigilError):
    """An id names nothing stored."""


class AlreadyExists(VigilError):
    """The stream id is already being ingested by another call."""


class TooLarge(VigilError):
    """A chunk or a query is over its size limit."""


class IdleTimeout(VigilError):
    """A client stream sent nothing for longer than the server waits (--stream-idle-timeout)."""


class Unsupported(VigilError):
    """The server's configuration cannot do what was asked (e.g. frame descriptions without a label-space model)."""


class Overloaded(VigilError):
    """Too much work queued; retry later with backoff.

    1 s: a full batching queue drains within a few batches.
    """

    retriable = True
    retry_after_s = 1.0


class NotReady(VigilError):
    """Models are still loading.

    5 s: loading takes tens of seconds; polling faster only adds load (the health service tells
    a client the moment the server is SERVING).
    """

    retriable = True
    retry_after_s = 5.0


class StoreUnavailable(VigilError):
    """The vector store cannot be reached.

    2 s: the store adapter has already retried with its own short backoff before raising this.
    """

    retriable = True
    retry_after_s = 2.0


class Unauthenticated(VigilError):
    """No API key, or one the server does not know or has revoked."""


class PermissionDenied(VigilError):
    """The caller's role may not call this RPC."""


class LimitReached(VigilError):
    """A tenant is at one of its limits; `limit` names it (max_streams, max_ingest_bytes_per_s, max_stored_segments).

    Retriable when waiting helps (a stream slot frees, the byte rate recovers): then `retry_after_s` says how long.
    """

    def __init__(self, message: str, *, limit: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.limit = limit
        self.retry_after_s = retry_after_s
        self.retriable = retry_after_s is not None


class StorageFull(VigilError):
    """The server's data directory (its disk, quota or file-size limit) cannot take more bytes.

    60 s: space comes back only when an operator frees it or retention deletes old data.
    """

    retriable = True
    retry_after_s = 60.0


def storage_full(error: BaseException) -> StorageFull | None:
    """StorageFull for a disk-full error of the OS or SQLite (or one that caused `error`), else None."""
    seen: set[int] = set()
    cause: BaseException | None = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        full = isinstance(cause, OSError) and cause.errno in FULL_ERRNOS
        full = full or (isinstance(cause, sqlite3.OperationalError) and _sqlite_full(cause))
        if full:
            return StorageFull("the server's storage is full (no space left in its data directory); free disk "
                               "space, delete old streams or shorten retention, then retry")  # fmt: skip
        cause = cause.__cause__ or cause.__context__
    return None


def _sqlite_full(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorname", "") == "SQLITE_FULL" or "database or disk is full" in str(error)
