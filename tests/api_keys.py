"""Test helpers for auth: key files with fresh tokens, and any Vigil RPC called by name with a token."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from google.protobuf.message import Message

from vigil.v1 import vigil_pb2
from vigil_server.identity import Role, key_entry, mint_token
from vigil_server.servicer import VigilServicer

SERVICE = vigil_pb2.DESCRIPTOR.services_by_name["Vigil"]
# RPCs the servicer implements (the generated base answers the rest UNIMPLEMENTED, without a handler of ours).
IMPLEMENTED = [m for m in SERVICE.methods if m.name in VigilServicer.__dict__]
NOT_IMPLEMENTED = [m.name for m in SERVICE.methods if m.name not in VigilServicer.__dict__]
OPEN = "OPEN"  # a streaming call that the server accepted and kept open (its response headers came)


@dataclass(frozen=True)
class KeySpec:
    name: str
    tenant: str
    role: Role
    revoked: bool = False


def write_key_file(path: Path, keys: Sequence[KeySpec], tenants: Mapping[str, Any] | None = None,
                   tokens: Mapping[str, str] | None = None) -> dict[str, str]:  # fmt: skip
    """Write a key file (atomically: a new inode) and return name -> token; `tokens` reuses earlier tokens."""
    made = dict(tokens or {})
    entries = []
    for spec in keys:
        token = made.setdefault(spec.name, mint_token())
        entry: dict[str, Any] = key_entry(spec.name, spec.tenant, spec.role, token)
        if spec.revoked:
            entry["revoked"] = True
        entries.append(entry)
    doc: dict[str, Any] = {"keys": entries}
    if tenants:
        doc["tenants"] = tenants
    replace_text(path, json.dumps(doc, indent=1))
    return made


def replace_text(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def metadata(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")] if token else []


def call(channel: grpc.Channel, method: str, request: Message | Iterable[Message] | None = None, token: str = "",
         timeout: float = 30.0) -> tuple[grpc.StatusCode | str, list[Message]]:  # fmt: skip
    """Call `method` of the Vigil service (request: its input message, default empty; a client stream: an iterable).

    Returns (status code, responses). A server stream whose response headers come while it is still running is
    cancelled and returns (OPEN, []); the server had accepted it.
    """
    m = SERVICE.methods_by_name[method]
    input_class = getattr(vigil_pb2, m.input_type.name)
    output_class = getattr(vigil_pb2, m.output_type.name)
    if request is None:
        request = iter([input_class()]) if m.client_streaming else input_class()
    path = f"/{SERVICE.full_name}/{method}"
    kinds = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }
    kind = kinds[(m.client_streaming, m.server_streaming)]
    stub = kind(path, request_serializer=input_class.SerializeToString, response_deserializer=output_class.FromString)
    if not m.server_streaming:
        try:
            return grpc.StatusCode.OK, [stub(request, metadata=metadata(token), timeout=timeout)]
        except grpc.RpcError as exc:
            return exc.code(), []
    responses = stub(request, metadata=metadata(token), timeout=timeout)
    try:
        responses.initial_metadata()  # blocks until the server accepted the call or ended it
        if not responses.done() and method != "Ingest":
            responses.cancel()
            return OPEN, []
        return grpc.StatusCode.OK, list(responses)
    except grpc.RpcError as exc:
        return exc.code(), []
