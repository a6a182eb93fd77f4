"""One exception tree for the server; rpc.py maps each class to a gRPC status code.

Every error carries what a client needs to act on it: the message (what went wrong and what to
change), `field` (the request field at fault, when one is), `retriable` and `retry_after_s` (how
long to wait before the first retry; None exactly when the error is not retriable). This module
knows nothing about gRPC: the stages below the transport raise these errors.
"""

from __future__ import annotations


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
