"""One exception tree for the server. The servicer maps each class to a gRPC status code."""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil reports to a client. `retriable` tells a client whether to retry."""

    retriable = False


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


class Overloaded(VigilError):
    """Too much work queued; retry later with backoff."""

    retriable = True


class NotReady(VigilError):
    """Models are still loading."""

    retriable = True


class StoreUnavailable(VigilError):
    """The vector store cannot be reached."""

    retriable = True
