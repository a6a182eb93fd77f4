"""Who is calling: API keys, their tenant and role, and each tenant's policy.

`current_caller` holds the Caller of the call in progress; grpc.aio runs each call in its own task,
so a value never leaks to another call. With auth off every call is the default tenant's admin.

A `KeyBook` holds the API keys of a key file (JSON, each key stored as the SHA-256 hex of its
token, never the token) and of the environment (`VIGIL_API_KEY_<NAME>=tenant:role:token`), and
the tenants' policies from the key file. It re-reads the file when the file changes, so a
revoked key stops working without a restart; a file that no longer parses leaves the previous
book in force and logs an error. `KeyBook.admit` is what rpc.py asks on every Vigil RPC.

Key file:

    {"keys": [{"name": "cam-1", "tenant": "acme", "role": "producer", "sha256": "<64 hex>"},
              {"name": "old", "tenant": "acme", "role": "reader", "sha256": "<64 hex>", "revoked": true}],
     "tenants": {"acme": {"max_streams": 4, "max_ingest_bytes_per_s": 2000000, "max_stored_segments": 1000000,
                          "retention_days": 30, "webhook": {"url": "https://...", "secret": "..."}}}}
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from vigil_server.errors import PermissionDenied, Unauthenticated
from vigil_server.types import DEFAULT_TENANT

log = logging.getLogger(__name__)

ENV_KEY_PREFIX = "VIGIL_API_KEY_"  # VIGIL_API_KEY_<NAME>=tenant:role:token
TOKEN_PREFIX = "vgl_"  # minted tokens start with it, so a leaked one is easy to search for
MIN_TOKEN_CHARS = 16
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # key names and tenant names
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class Role(enum.Enum):
    PRODUCER = "producer"  # may ingest
    READER = "reader"  # may search, list and watch
    ADMIN = "admin"  # may do everything, including managing standing queries and banks, and deleting


# The RPCs each role may call. An admin may call every RPC; an RPC listed nowhere is admin-only.
ROLE_RPCS: dict[Role, frozenset[str]] = {
    Role.PRODUCER: frozenset({"Ingest"}),
    Role.READER: frozenset(
        [
            "Search",
            "ListSegments",
            "WatchCaptions",
            "ListStandingQueries",
            "ListBankItems",
            "ExportHashes",
            "Watch",
            "MatchFile",
            "MatchHashes",
            "ListBanks",
            "ListAlerts",
        ]
    ),
    Role.ADMIN: frozenset(),
}


def may_call(role: Role, method: str) -> bool:
    return role is Role.ADMIN or method in ROLE_RPCS[role]


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


NO_POLICY = TenantPolicy()


class TenantPolicies(Protocol):
    """The tenants a server knows (from its key file) and each one's policy."""

    def policy(self, tenant: str) -> TenantPolicy: ...

    def tenants(self) -> Sequence[str]: ...


class Guard(Protocol):
    """Who a call's bearer token belongs to, if that caller may call `method` (rpc.py asks it on every RPC)."""

    def admit(self, method: str, token: str) -> Caller: ...


ANONYMOUS_ADMIN = Caller(DEFAULT_TENANT, Role.ADMIN)

current_caller: ContextVar[Caller] = ContextVar("current_caller", default=ANONYMOUS_ADMIN)


def current_tenant() -> str:
    return current_caller.get().tenant


class KeyFileError(ValueError):
    """The key file or a VIGIL_API_KEY_* variable cannot be used; the message says where and why."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    tenant: str
    role: Role
    revoked: bool = False


@dataclass(frozen=True)
class KeyTable:
    """One reading of the key file and the environment."""

    keys: Mapping[str, ApiKey] = field(default_factory=dict)  # by the SHA-256 hex of the token
    policies: Mapping[str, TenantPolicy] = field(default_factory=dict)  # by tenant


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def mint_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def key_entry(name: str, tenant: str, role: Role, token: str) -> dict[str, str]:
    """The key file entry for a token (its digest, never the token)."""
    return {"name": _name(name, "name"), "tenant": _name(tenant, "tenant"), "role": role.value,
            "sha256": token_digest(token)}  # fmt: skip


def _name(value: object, where: str) -> str:
    if not isinstance(value, str) or not NAME.fullmatch(value):
        raise KeyFileError(f"{where}: a name of 1-64 letters, digits, '_', '.' or '-' (starting with a letter "
                           f"or digit), got {str(value)[:80]!r}")  # fmt: skip
    return value


def _role(value: object, where: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise KeyFileError(f"{where}: role must be one of {', '.join(r.value for r in Role)}") from None


def _limit(spec: Mapping[str, Any], name: str, where: str, kind: type) -> Any:
    value = spec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 or value != value:
        raise KeyFileError(f"{where}.{name}: a positive number, got {str(value)[:80]!r}")
    if kind is int and value != int(value):
        raise KeyFileError(f"{where}.{name}: a whole number, got {value!r}")
    return kind(value)


def _policy(spec: object, where: str) -> TenantPolicy:
    fields = {"max_streams", "max_ingest_bytes_per_s", "max_stored_segments", "retention_days", "webhook"}
    if not isinstance(spec, dict) or not set(spec) <= fields:
        raise KeyFileError(f"{where}: an object with some of {', '.join(sorted(fields))}")
    webhook = None
    if spec.get("webhook") is not None:
        hook = spec["webhook"]
        if (
            not isinstance(hook, dict)
            or set(hook) != {"url", "secret"}
            or not all(isinstance(v, str) and v for v in hook.values())
        ):
            raise KeyFileError(f"{where}.webhook: an object with a non-empty url and secret")
        webhook = Webhook(hook["url"], hook["secret"].encode())
    return TenantPolicy(
        max_streams=_limit(spec, "max_streams", where, int),
        max_ingest_bytes_per_s=_limit(spec, "max_ingest_bytes_per_s", where, float),
        max_stored_segments=_limit(spec, "max_stored_segments", where, int),
        retention_days=_limit(spec, "retention_days", where, float),
        webhook=webhook,
    )


def parse_key_file(text: str, source: str = "key file") -> KeyTable:
    """The keys and policies of a key file's text; KeyFileError names what is wrong (never a token)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise KeyFileError(f"{source}: not JSON ({exc})") from None
    if not isinstance(doc, dict) or not set(doc) <= {"keys", "tenants"}:
        raise KeyFileError(f'{source}: a JSON object with "keys" (a list) and optionally "tenants" (an object)')
    keys: dict[str, ApiKey] = {}
    names: set[str] = set()
    entries = doc.get("keys", [])
    if not isinstance(entries, list):
        raise KeyFileError(f'{source}: "keys" must be a list')
    for i, entry in enumerate(entries):
        where = f"{source}: keys[{i}]"
        if not isinstance(entry, dict) or not {"name", "tenant", "role", "sha256"} <= set(entry) <= {
            "name", "tenant", "role", "sha256", "revoked"
        }:  # fmt: skip
            raise KeyFileError(f"{where}: an object with name, tenant, role, sha256 and optionally revoked")
        digest = entry["sha256"]
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
            raise KeyFileError(f"{where}.sha256: the SHA-256 of the token as 64 lower-case hex digits")
        name = _name(entry["name"], f"{where}.name")
        if name in names or digest in keys:
            raise KeyFileError(f"{where}: a second key with the name {name!r} or the same token")
        if not isinstance(entry.get("revoked", False), bool):
            raise KeyFileError(f"{where}.revoked: true or false")
        names.add(name)
        keys[digest] = ApiKey(name, _name(entry["tenant"], f"{where}.tenant"), _role(entry["role"], f"{where}.role"),
                              entry.get("revoked", False))  # fmt: skip
    tenants = doc.get("tenants", {})
    if not isinstance(tenants, dict):
        raise KeyFileError(f'{source}: "tenants" must be an object of tenant name -> policy')
    policies = {_name(t, f"{source}: tenants"): _policy(p, f"{source}: tenants.{t}") for t, p in tenants.items()}
    return KeyTable(keys, policies)


def env_keys(env: Mapping[str, str]) -> dict[str, ApiKey]:
    """Keys from VIGIL_API_KEY_<NAME>=tenant:role:token variables, by token digest."""
    keys: dict[str, ApiKey] = {}
    for var in sorted(env):
        if not var.startswith(ENV_KEY_PREFIX):
            continue
        name = _name(var.removeprefix(ENV_KEY_PREFIX).lower().replace("_", "-"), var)
        tenant, _, rest = env[var].partition(":")
        role, _, token = rest.partition(":")
        if len(token) < MIN_TOKEN_CHARS:
            raise KeyFileError(f"{var}: tenant:role:token with a token of at least {MIN_TOKEN_CHARS} characters "
                               "(`vigil-server keys new` makes one)")  # fmt: skip
        keys[token_digest(token)] = ApiKey(name, _name(tenant, f"{var} tenant"), _role(role, f"{var} role"))
    return keys


class KeyBook:
    """The API keys and tenant policies the server knows; implements Guard and TenantPolicies.

    `path` None: the environment's keys only. The file is checked for changes (its size, time and
    inode) on every call, which costs one stat.
    """

    def __init__(self, path: Path | None, environment_keys: Mapping[str, ApiKey] | None = None):
        self.path = path
        self._env = dict(environment_keys or {})
        self._seen: tuple[int, int, int] | None = None
        self._table = KeyTable(self._env)
        if path is not None:
            self._table = self._read()  # a bad file at start is an error (KeyFileError): the server must not start

    @classmethod
    def load(cls, path: str, env: Mapping[str, str]) -> KeyBook | None:
        """The key book of `--api-keys` and the environment; None when neither has a key (auth off)."""
        from_env = env_keys(env)
        if not path and not from_env:
            return None
        return cls(Path(path) if path else None, from_env)

    def _signature(self) -> tuple[int, int, int]:
        assert self.path is not None
        st = os.stat(self.path)
        return st.st_mtime_ns, st.st_size, st.st_ino

    def _read(self) -> KeyTable:
        assert self.path is not None
        try:
            seen = self._signature()
            table = parse_key_file(self.path.read_text(), str(self.path))
        except OSError as exc:
            raise KeyFileError(f"{self.path}: cannot read it ({exc.strerror or exc})") from None
        clash = set(table.keys) & set(self._env)
        if clash:
            raise KeyFileError(f"{self.path}: a key's token is also in a VIGIL_API_KEY_* variable")
        self._seen = seen
        return KeyTable({**table.keys, **self._env}, table.policies)

    def refresh(self) -> None:
        """Re-read the key file if it changed; keep the previous book (and log why) if it cannot be used."""
        if self.path is None:
            return
        try:
            seen: tuple[int, int, int] | None = self._signature()
        except OSError:
            seen = None
        if seen == self._seen:
            return
        try:
            self._table = self._read()
        except KeyFileError as exc:
            self._seen = seen  # log a broken file once, not on every call
            log.error("key file not reloaded, the previous keys stay in force: %s", exc)
            return
        log.info("key file reloaded: %d keys, %d tenant policies", len(self._table.keys), len(self._table.policies))

    def admit(self, method: str, token: str) -> Caller:
        self.refresh()
        if not token:
            raise Unauthenticated("this server needs an API key: send `authorization: Bearer <token>` metadata "
                                  "(vigil --token, or VIGIL_TOKEN)")  # fmt: skip
        key = self._table.keys.get(token_digest(token))
        if key is None or key.revoked:
            raise Unauthenticated("the API key is not valid (unknown or revoked); ask the server's admin for one")
        if not may_call(key.role, method):
            raise PermissionDenied(f"key {key.name!r} has role {key.role.value}, which may not call {method}")
        return Caller(key.tenant, key.role, key.name)

    def policy(self, tenant: str) -> TenantPolicy:
        self.refresh()
        return self._table.policies.get(tenant, NO_POLICY)

    def tenants(self) -> Sequence[str]:
        self.refresh()
        return sorted({*self._table.policies, *(k.tenant for k in self._table.keys.values())})


class OpenDoor:
    """Auth off: every call is the default tenant's admin, with no tenant policies."""

    def admit(self, method: str, token: str) -> Caller:
        return ANONYMOUS_ADMIN

    def policy(self, tenant: str) -> TenantPolicy:
        return NO_POLICY

    def tenants(self) -> Sequence[str]:
        return [DEFAULT_TENANT]


OPEN_DOOR = OpenDoor()
