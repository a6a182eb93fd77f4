"""How a client reaches a server: plaintext or TLS (optionally with a client certificate: mTLS), and the
API key sent as `authorization: Bearer <token>` metadata on every call.

The token travels as call metadata through a channel interceptor, so it is sent on plaintext
channels too (a server on localhost, or behind a proxy that terminates TLS); across a network use TLS.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

ChannelOptions = Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class Connection:
    """TLS and identity options of a client; the defaults: plaintext, no key."""

    tls: bool = False  # TLS, checked against `ca` (else the system's roots); implied by ca, cert or key
    ca: str = ""  # PEM file of the CA that signed the server's certificate
    token: str = ""  # API key, sent as `authorization: Bearer <token>` on every call
    cert: str = ""  # PEM client certificate chain, for a server that asks for one (mTLS)
    key: str = ""  # PEM private key of `cert`

    def __repr__(self) -> str:  # never show the token
        return (
            f"Connection(tls={self.uses_tls}, ca={self.ca!r}, token={'***' if self.token else ''!r}, "
            f"cert={self.cert!r})"
        )

    @property
    def uses_tls(self) -> bool:
        return self.tls or bool(self.ca or self.cert or self.key)


def _read(path: str, what: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror or exc}") from None


def open_channel(target: str, connection: Connection, options: ChannelOptions = ()) -> grpc.Channel:
    """A channel to `target` as `connection` says; ValueError when a certificate file cannot be read."""
    if bool(connection.cert) != bool(connection.key):
        raise ValueError("a client certificate needs both --cert and --key")
    if connection.uses_tls:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(connection.ca, "CA certificate"),
            private_key=_read(connection.key, "client key"),
            certificate_chain=_read(connection.cert, "client certificate"),
        )
        channel = grpc.secure_channel(target, credentials, options=list(options))
    else:
        channel = grpc.insecure_channel(target, options=list(options))
    if connection.token:
        return grpc.intercept_channel(channel, BearerToken(connection.token))
    return channel


class _CallDetails(
    collections.namedtuple(
        "_CallDetails", ["method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"]
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class BearerToken(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds `authorization: Bearer <token>` to the metadata of every call."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _details(self, details: grpc.ClientCallDetails) -> _CallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return _CallDetails(
            details.method,
            details.timeout,
            metadata,
            details.credentials,
            getattr(details, "wait_for_ready", None),
            getattr(details, "compression", None),
        )

    def intercept_unary_unary(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Callable[..., Any], details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Callable[..., Any], details: Any, requests: Iterator[Any]) -> Any:
        return continuation(self._details(details), requests)
