"""Webhooks through the in-process server: a local receiver (HTTP on loopback, and HTTPS with a
self-signed certificate made by openssl) gets each alert as JSON, signed; the test checks the
signature with hmac; failed POSTs are retried, then dead-lettered; a restart does not drop one."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import shutil
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.alert_helpers import make_alert, publish
from tests.api_keys import KeySpec, write_key_file
from tests.inprocess import InProcessServer
from tests.polling import wait_until
from vigil_server.identity import Role, Webhook
from vigil_server.settings import WebhookSettings
from vigil_server.webhooks import build_webhooks, check_url

SECRET = b"a shared secret for the test"


class Receiver:
    """An HTTP(S) server on loopback; `fail` says how many POSTs to answer 500 first (None: always)."""

    def __init__(self, fail: int | None = 0, context: ssl.SSLContext | None = None):
        self.fail = fail
        self.requests: list[tuple[dict[str, str], bytes]] = []  # every POST, answered or failed
        self.accepted: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k: v for k, v in self.headers.items()}
                receiver.requests.append((headers, body))
                failing = receiver.fail is None or len(receiver.requests) <= receiver.fail
                if not failing:
                    receiver.accepted.append((headers, body))
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if context is not None:
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        scheme = "https" if context is not None else "http"
        host = "localhost" if context is not None else "127.0.0.1"
        self.url = f"{scheme}://{host}:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verified(headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, as the README tells it."""
    fields = dict(part.split("=", 1) for part in headers["Vigil-Signature"].split(","))
    expected = hmac.new(SECRET, f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret"
    path.write_bytes(SECRET + b"\n")
    return path


def start(data: Path, receiver: Receiver, secret_file: Path, *extra: str) -> InProcessServer:
    args = ["--alert-window", "0", "--webhook-url", receiver.url, "--webhook-secret-file", str(secret_file), *extra]
    return InProcessServer(data, args).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_each_alert_is_posted_as_signed_json(tmp_path: Path, receiver: Receiver, secret_file: Path) -> None:
    server = start(tmp_path / "data", receiver, secret_file)
    try:
        alerts = [make_alert("wh", f"q{i}") for i in range(3)]
        publish(server, *alerts)
        assert wait_until(lambda: len(receiver.accepted) == 3), receiver.requests
        bodies = [json.loads(body) for _, body in receiver.accepted]
        assert [b["alert_id"] for b in bodies] == [a.alert_id for a in alerts]  # in sequence order
        assert all(verified(h, body) for h, body in receiver.accepted)
        headers, raw = receiver.accepted[0]
        assert headers["Content-Type"] == "application/json"
        assert headers["Vigil-Delivery"] == f"default/{bodies[0]['sequence']}" and bodies[0]["sequence"] > 0
        assert base64.b64decode(bodies[0]["thumbnail_jpeg_base64"]) == alerts[0].thumbnail_jpeg
        assert bodies[0]["evidence"][0] == {"signal": "pdq", "method": "pdq", "value": 12.0, "matched": True}
        assert bodies[0]["methods"] == ["pdq"] and bodies[0]["hash_distance"] == 12
        # A tampered body or another secret does not verify.
        assert not verified(headers, raw.replace(b"wh", b"xx"))
        assert server.service is not None
        hooks = server.service.alerts._sinks[0]
        assert (hooks.delivered, hooks.failed, hooks.dead_lettered) == (3, 0, 0)  # type: ignore[attr-defined]
        # Another tenant has no webhook (no key file): its alerts are not posted.
        publish(server, make_alert("wh", "q", tenant="tenant-b"))
        time.sleep(1.0)
        assert len(receiver.requests) == 3
    finally:
        server.stop()


def test_a_failed_post_is_retried_then_dead_lettered(tmp_path: Path, secret_file: Path) -> None:
    flaky = Receiver(fail=2)
    server = start(tmp_path / "data", flaky, secret_file, "--webhook-attempts", "3")
    try:
        alert = make_alert("retry", "q1")
        publish(server, alert)
        assert wait_until(lambda: len(flaky.accepted) == 1), flaky.requests
        assert len(flaky.requests) == 3  # two failures, then the retry that worked
        assert len({h["Vigil-Delivery"] for h, _ in flaky.requests}) == 1
        assert all(json.loads(body)["alert_id"] == alert.alert_id for _, body in flaky.requests)
        assert server.service is not None
        hooks = server.service.alerts._sinks[0]
        assert (hooks.delivered, hooks.failed, hooks.dead_lettered) == (1, 2, 0)  # type: ignore[attr-defined]
        # A receiver that never answers 2xx: after 3 tries the alert is dead-lettered, and the next one goes on.
        flaky.fail = None
        doomed, after = make_alert("retry", "q2"), make_alert("retry", "q3")
        publish(server, doomed)
        assert wait_until(lambda: hooks.dead_lettered == 1)  # type: ignore[attr-defined]
        assert len(flaky.requests) == 6
        assert hooks.dead_letters("default") == 1  # type: ignore[attr-defined]
        flaky.fail = 0
        publish(server, after)
        assert wait_until(lambda: len(flaky.accepted) == 2)
        assert json.loads(flaky.accepted[-1][1])["alert_id"] == after.alert_id
    finally:
        server.stop()
        flaky.close()
    # The dead letter is kept across a restart.
    server = start(tmp_path / "data", flaky, secret_file)
    try:
        assert server.service is not None
        assert server.service.alerts._sinks[0].dead_lettered == 1  # type: ignore[attr-defined]
    finally:
        server.stop()


def test_a_restart_does_not_drop_a_delivery(tmp_path: Path, secret_file: Path) -> None:
    down = Receiver(fail=None)
    server = start(tmp_path / "data", down, secret_file, "--webhook-attempts", "20")
    try:
        pending = make_alert("later", "q1")
        publish(server, pending)
        assert wait_until(lambda: len(down.requests) >= 1)
    finally:
        server.stop()  # still retrying: not delivered, not dead-lettered
        down.close()
    up = Receiver()
    try:
        server = start(tmp_path / "data", up, secret_file)
        try:
            assert wait_until(lambda: len(up.accepted) == 1), up.requests
            assert json.loads(up.accepted[0][1])["alert_id"] == pending.alert_id
            assert verified(*up.accepted[0])
        finally:
            server.stop()
    finally:
        up.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_https_with_a_private_ca(tmp_path: Path, secret_file: Path) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],
                   check=True, capture_output=True)  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    secure = Receiver(context=context)
    try:
        server = start(tmp_path / "data", secure, secret_file, "--webhook-ca", str(cert))
        try:
            publish(server, make_alert("tls", "q1"))
            assert wait_until(lambda: len(secure.accepted) == 1)
            assert verified(*secure.accepted[0])
        finally:
            server.stop()
        # Without the CA the certificate is not trusted: nothing is accepted, the alert is dead-lettered.
        server = start(tmp_path / "data2", secure, secret_file, "--webhook-attempts", "1")
        try:
            publish(server, make_alert("tls", "q2"))
            assert server.service is not None
            hooks = server.service.alerts._sinks[0]
            assert wait_until(lambda: hooks.dead_lettered == 1)  # type: ignore[attr-defined]
            assert len(secure.accepted) == 1
        finally:
            server.stop()
    finally:
        secure.close()


def test_webhook_urls_must_be_https_or_loopback(tmp_path: Path, secret_file: Path) -> None:
    assert check_url("https://hooks.example.com/x") and check_url("http://127.0.0.1:9/x")
    assert check_url("http://[::1]:9/x") and check_url("http://localhost/x")
    for bad in ["http://hooks.example.com/x", "http://10.0.0.1/x", "ftp://127.0.0.1/x", "https:///x", "nonsense"]:
        with pytest.raises(ValueError, match="https"):
            check_url(bad)
    with pytest.raises(ValueError, match="secret"):
        build_webhooks(WebhookSettings(url="https://hooks.example.com/x"), None, None, None)  # type: ignore[arg-type]
    assert build_webhooks(WebhookSettings(), None, None, None) is None  # type: ignore[arg-type]
    assert Webhook("https://x", b"s").secret == b"s"


def test_a_tenants_webhook_from_the_key_file(tmp_path: Path, receiver: Receiver) -> None:
    """With API keys, each tenant's webhook comes from its policy in the key file: only its alerts go there,
    signed with its secret, and a tenant without one posts nothing."""
    keys = tmp_path / "keys.json"
    write_key_file(keys, [KeySpec("acme-admin", "acme", Role.ADMIN), KeySpec("other-admin", "other", Role.ADMIN)],
                   tenants={"acme": {"webhook": {"url": receiver.url, "secret": SECRET.decode()}}})  # fmt: skip
    server = InProcessServer(tmp_path / "data", ["--alert-window", "0", "--api-keys", str(keys)]).start()
    try:
        acme = [make_alert("cam", f"q{i}", tenant="acme") for i in range(2)]
        publish(server, acme[0], make_alert("cam", "q9", tenant="other"), acme[1])
        assert wait_until(lambda: len(receiver.accepted) == 2), receiver.requests
        time.sleep(1.0)  # room for a wrong delivery of the other tenant's alert
        assert len(receiver.requests) == 2
        bodies = [json.loads(body) for _, body in receiver.accepted]
        assert [b["alert_id"] for b in bodies] == [a.alert_id for a in acme]
        assert all(verified(h, body) for h, body in receiver.accepted)
        assert all(h["Vigil-Delivery"].startswith("acme/") for h, _ in receiver.accepted)
    finally:
        server.stop()
