"""Who is calling: the caller's tenant and role, for the call being served.

`current_caller` holds the Caller of the call in progress; grpc.aio runs each call in its own task,
so a value never leaks to another call. With auth off every call is the default tenant's admin.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from vigil_server.types import DEFAULT_TENANT


class Role(enum.Enum):
    PRODUCER = "producer"  # may ingest
    READER = "reader"  # may search, list and watch
    ADMIN = "admin"  # may do everything, including managing standing queries and banks, and deleting


@dataclass(frozen=True)
class Caller:
    tenant: str
    role: Role
    key_name: str = ""  # the API key's name (never the key); empty with auth off


@dataclass(frozen=True)
class Webhook:
    """Where a tenant's alerts are POSTed as JSON, signed with HMAC-SHA256 under `secret`."""

    url: str
    secret: bytes


@dataclass(frozen=True)
class TenantPolicy:
    """One tenant's limits and options; None: no limit of the tenant's own (the server-wide setting applies)."""

    max_streams: int | None = None  # concurrent Ingest calls
    max_ingest_bytes_per_s: float | None = None  # media bytes per second, over all its streams
    max_stored_segments: int | None = None  # segments stored, every modality
    retention_days: float | None = None  # older data is erased; None: the server-wide retention
    webhook: Webhook | None = None  # alerts are also POSTed here


class TenantPolicies(Protocol):
    """The tenants a server knows (from its key file) and each one's policy."""

    def policy(self, tenant: str) -> TenantPolicy: ...

    def tenants(self) -> Sequence[str]: ...


ANONYMOUS_ADMIN = Caller(DEFAULT_TENANT, Role.ADMIN)

current_caller: ContextVar[Caller] = ContextVar("current_caller", default=ANONYMOUS_ADMIN)


def current_tenant() -> str:
    return current_caller.get().tenant
