"""Who is calling: the caller's tenant and role, for the call being served.

`current_caller` holds the Caller of the call in progress; grpc.aio runs each call in its own task,
so a value never leaks to another call. With auth off every call is the default tenant's admin.
"""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass

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


ANONYMOUS_ADMIN = Caller(DEFAULT_TENANT, Role.ADMIN)

current_caller: ContextVar[Caller] = ContextVar("current_caller", default=ANONYMOUS_ADMIN)


def current_tenant() -> str:
    return current_caller.get().tenant
