"""Webhooks: a tenant's alerts POSTed as signed JSON to its URL, in order, retried, never dropped by a restart.

A tenant has a webhook when its policy says so (identity.TenantPolicy.webhook, from the key file)
or, for the default tenant of a server without one, by the --webhook-* flags. Only https:// URLs
are allowed, and http:// to a loopback address (for tests and local relays).

Each delivery is one HTTPS POST of one alert as JSON (`alert_json`: every field of the Alert, the
thumbnail as base64 in `thumbnail_jpeg_base64`), with the headers

    Content-Type: application/json
    Vigil-Delivery: <tenant>/<sequence>        (the same on every retry: an idempotency key)
    Vigil-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body under the tenant's secret>

A receiver verifies it by computing hmac.new(secret, f"{t}.".encode() + body, "sha256").hexdigest()
and comparing it with v1 (hmac.compare_digest), and by refusing a t too far from its own clock.

Delivery is a durable watcher per tenant: it reads the alert store (review.AlertLog) after its
cursor, a page at a time, POSTs each alert, and moves its cursor on (persisted in the moderation
database) once the alert was delivered or dead-lettered; new alerts wake it. So alerts are sent in
sequence order, and those raised while the receiver was down or the server stopped are sent when
it comes back. A failed POST (no answer, or a status other than 2xx) is retried with exponential
backoff (`attempts` tries, waits of 0.5 s, 1 s, 2 s, ... up to 30 s); then the alert is
dead-lettered: kept in `webhook_dead` (tenant, sequence, alert id, last error) and counted. The
POST runs in a thread: neither the event loop nor the alert fan-out ever waits for a receiver.
Alerts the store could not keep (no sequence) are not sent by webhook.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vigil_server.identity import TenantPolicies, Webhook
from vigil_server.moderation.review import AlertLog
from vigil_server.moderation.rules_db import RulesDb
from vigil_server.settings import WebhookSettings
from vigil_server.types import DEFAULT_TENANT, Alert, AlertFilter, WatchFilter

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_cursor (tenant TEXT PRIMARY KEY, sequence INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_dead (
    tenant TEXT NOT NULL, sequence INTEGER NOT NULL, alert_id TEXT NOT NULL, url TEXT NOT NULL,
    attempts INTEGER NOT NULL, error TEXT NOT NULL, at REAL NOT NULL
);
"""
SIGNATURE_HEADER = "Vigil-Signature"
DELIVERY_HEADER = "Vigil-Delivery"
PAGE = 50  # stored alerts read at a time
FIRST_BACKOFF_S = 0.5
MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class WebhookOptions:
    attempts: int = 5  # tries per alert before it is dead-lettered
    timeout_s: float = 10.0  # per POST
    ca_file: str = ""  # a PEM bundle for a private CA; empty: the system's
    first_backoff_s: float = FIRST_BACKOFF_S


def check_url(url: str) -> str:
    """The URL, if a webhook may use it: https://, or http:// to a loopback address; ValueError otherwise."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return url
    raise ValueError(f"webhook URL {url[:80]!r}: use https:// (http:// only to a loopback address)")


def read_secret(path: str) -> bytes:
    """A webhook secret from a file (its bytes, without a trailing newline); ValueError when empty."""
    secret = Path(path).read_bytes().rstrip(b"\r\n")
    if not secret:
        raise ValueError(f"the webhook secret file {path} is empty")
    return secret


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The Vigil-Signature header value of a body sent at `timestamp` (unix seconds)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def alert_json(a: Alert) -> bytes:
    """The body of a webhook POST: the alert as JSON."""
    return json.dumps(
        {
            "alert_id": a.alert_id, "sequence": a.sequence, "tenant": a.tenant, "kind": a.kind.value,
            "stream_id": a.stream_id, "start": a.start, "end": a.end, "modality": a.modality.value,
            "segment_id": a.segment_id, "match_id": a.match_id, "label": a.label, "bank": a.bank,
            "external_id": a.external_id, "methods": [m.value for m in a.methods], "score": a.score,
            "cosine": a.cosine, "hash_distance": a.hash_distance, "fingerprint_score": a.fingerprint_score,
            "text": a.text, "suppressed": a.suppressed, "from_archive": a.from_archive, "raised_at": a.raised_at,
            "evidence": [{"signal": e.signal, "method": e.method.value if e.method else None, "value": e.value,
                          "matched": e.matched} for e in a.evidence],
            "thumbnail_jpeg_base64": base64.b64encode(a.thumbnail_jpeg).decode(),
        },
        separators=(",", ":"),
    ).encode()  # fmt: skip


class Webhooks:
    """Loop-bound (start, the hub's callback); the POSTs and database work run in threads.

    Counters (plain attributes, for metrics): `delivered` alerts, `failed` POST attempts,
    `dead_lettered` alerts given up on (those kept in the database, since the first start).
    """

    def __init__(
        self,
        store: AlertLog,
        db: RulesDb,
        webhook_of: Callable[[str], Webhook | None],
        tenants: Callable[[], Sequence[str]],
        options: WebhookOptions = WebhookOptions(),
    ):
        self.store = store
        self.db = db
        self.webhook_of = webhook_of
        self.tenants = tenants
        self.options = options
        self._context = ssl.create_default_context(cafile=options.ca_file or None)
        with db.transaction() as conn:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
        self.delivered = 0
        self.failed = 0
        self.dead_lettered = int(db.read("SELECT COUNT(*) FROM webhook_dead")[0][0])
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._wakes: dict[str, asyncio.Event] = {}
        self._closed = False

    def start(self) -> None:
        """Catch up every tenant that has a webhook (from its cursor; a new webhook starts after the last alert)."""
        last = self.store.last_sequence()
        for tenant in {*self.tenants(), *self._known_tenants()}:
            if self.webhook_of(tenant) is not None:
                self._ensure(tenant, last)

    def _known_tenants(self) -> list[str]:
        return [row[0] for row in self.db.read("SELECT tenant FROM webhook_cursor")]

    def sent(self, alert: Alert) -> None:
        """The alert hub sent (and stored) an alert: wake its tenant's delivery."""
        if alert.sequence and not self._closed and self.webhook_of(alert.tenant) is not None:
            self._ensure(alert.tenant, alert.sequence - 1)
            self._wakes[alert.tenant].set()

    def _ensure(self, tenant: str, start_after: int) -> None:
        if tenant not in self._tasks:
            self._wakes[tenant] = asyncio.Event()
            self._tasks[tenant] = asyncio.get_running_loop().create_task(
                self._run(tenant, start_after), name=f"webhook-{tenant}"
            )

    def close(self) -> None:
        self._closed = True
        for task in self._tasks.values():
            task.get_loop().call_soon_threadsafe(task.cancel)

    async def _run(self, tenant: str, start_after: int) -> None:
        wake = self._wakes[tenant]
        cursor = await asyncio.to_thread(self._cursor, tenant, start_after)
        while not self._closed:
            try:
                wake.clear()
                page = await asyncio.to_thread(
                    self.store.page, AlertFilter(WatchFilter(tenant=tenant), after_sequence=cursor), PAGE
                )
                for alert in page:
                    hook = self.webhook_of(tenant)
                    if hook is not None:
                        await self._deliver(tenant, hook, alert)
                    cursor = alert.sequence
                    await asyncio.to_thread(self._save_cursor, tenant, cursor)
                if not page:
                    await wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database (a full disk): try again shortly
                if self._closed:
                    return
                log.exception("webhook delivery for tenant %s failed; retrying", tenant)
                await asyncio.sleep(1.0)

    async def _deliver(self, tenant: str, hook: Webhook, alert: Alert) -> None:
        body = alert_json(alert)
        error = ""
        for attempt in range(self.options.attempts):
            if attempt:
                await asyncio.sleep(min(self.options.first_backoff_s * 2 ** (attempt - 1), MAX_BACKOFF_S))
            error = await asyncio.to_thread(self._post, tenant, hook, alert.sequence, body)
            if not error:
                self.delivered += 1
                return
            self.failed += 1
            log.info("webhook POST of alert %s (tenant %s) failed, try %d of %d: %s", alert.alert_id, tenant,
                     attempt + 1, self.options.attempts, error)  # fmt: skip
        self.dead_lettered += 1
        log.warning("webhook: alert %s (tenant %s, sequence %d) dead-lettered after %d tries: %s",
                    alert.alert_id, tenant, alert.sequence, self.options.attempts, error)  # fmt: skip
        await asyncio.to_thread(self._dead, tenant, hook, alert, error)

    def _post(self, tenant: str, hook: Webhook, sequence: int, body: bytes) -> str:
        """POST once; the error, or "" when the receiver answered 2xx (blocking)."""
        try:
            url = check_url(hook.url)
        except ValueError as exc:
            return str(exc)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "vigil-webhooks/1",
            DELIVERY_HEADER: f"{tenant}/{sequence}",
            SIGNATURE_HEADER: sign(hook.secret, body, int(time.time())),
        }
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        context = self._context if url.startswith("https:") else None
        try:
            with urllib.request.urlopen(request, timeout=self.options.timeout_s, context=context) as response:
                response.read(1 << 16)
                return "" if 200 <= response.status < 300 else f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:  # URLError, timeouts, TLS errors
            return f"{type(exc).__name__}: {str(exc)[:200]}"

    def _cursor(self, tenant: str, start_after: int) -> int:
        rows = self.db.read("SELECT sequence FROM webhook_cursor WHERE tenant = ?", (tenant,))
        if rows:
            return int(rows[0][0])
        self._save_cursor(tenant, start_after)
        return start_after

    def _save_cursor(self, tenant: str, sequence: int) -> None:
        with self.db.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO webhook_cursor (tenant, sequence) VALUES (?, ?)", (tenant, sequence))

    def _dead(self, tenant: str, hook: Webhook, alert: Alert, error: str) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO webhook_dead (tenant, sequence, alert_id, url, attempts, error, at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (tenant, alert.sequence, alert.alert_id, hook.url[:500], self.options.attempts, error[:500],
                 time.time()),
            )  # fmt: skip

    def dead_letters(self, tenant: str) -> int:
        """Alerts of the tenant given up on (blocking)."""
        return int(self.db.read("SELECT COUNT(*) FROM webhook_dead WHERE tenant = ?", (tenant,))[0][0])


def build_webhooks(
    settings: WebhookSettings, store: AlertLog, db: RulesDb, policies: TenantPolicies | None
) -> Webhooks | None:
    """The webhooks of the tenants' policies and of the --webhook-* flags (the default tenant's, unless its
    policy names one); None when there can be none. ValueError for a bad flag."""
    default: Webhook | None = None
    if settings.url:
        check_url(settings.url)
        if not settings.secret_file:
            raise ValueError("--webhook-url needs --webhook-secret-file (the HMAC secret)")
        default = Webhook(settings.url, read_secret(settings.secret_file))
    if default is None and policies is None:
        return None

    def webhook_of(tenant: str) -> Webhook | None:
        hook = policies.policy(tenant).webhook if policies is not None else None
        return hook or (default if tenant == DEFAULT_TENANT else None)

    def tenants() -> Sequence[str]:
        return [*(policies.tenants() if policies is not None else ()), DEFAULT_TENANT]

    return Webhooks(store, db, webhook_of, tenants, WebhookOptions(attempts=settings.attempts, ca_file=settings.ca))
