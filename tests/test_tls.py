"""TLS and mTLS on the listener, with certificates this test makes with the `openssl` CLI: the client
and CLI connect with the CA, and fail without it; with --tls-client-ca a client needs a certificate
that CA signed. The in-process server has fake models; the listener and handshakes are real."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from tests.api_keys import KeySpec, write_key_file
from tests.inprocess import InProcessServer
from vigil_client import VigilClient, VigilError, cli
from vigil_server.app import GrpcServer
from vigil_server.identity import Role
from vigil_server.settings import load_settings


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # a client certificate signed by another CA
    stranger_key: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(d: Path, name: str) -> None:
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             cwd=d)  # fmt: skip


def _leaf(d: Path, name: str, ca: str, extensions: str) -> None:
    (d / f"{name}.ext").write_text(extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext", cwd=d)  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("pki")
    _ca(d, "ca")
    _ca(d, "other-ca")
    _leaf(d, "server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    _leaf(d, "client", "ca", "extendedKeyUsage=clientAuth\n")
    _leaf(d, "stranger", "other-ca", "extendedKeyUsage=clientAuth\n")
    return Pki(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key",
               d / "stranger.pem", d / "stranger.key", d / "other-ca.pem")  # fmt: skip


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[tuple[InProcessServer, str]]:
    """TLS and API keys together: the token travels inside TLS."""
    keys = tmp_path_factory.mktemp("tls-keys") / "keys.json"
    token = write_key_file(keys, [KeySpec("ops", "acme", Role.ADMIN)])["ops"]
    args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--api-keys", str(keys)]
    server = InProcessServer(tmp_path_factory.mktemp("tls-data"), args).start()
    yield server, token
    server.stop()


@pytest.fixture(scope="module")
def mtls_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[InProcessServer]:
    args = ["--tls-cert", str(pki.server_cert), "--tls-key", str(pki.server_key), "--tls-client-ca", str(pki.ca)]
    server = InProcessServer(tmp_path_factory.mktemp("mtls-data"), args).start()
    yield server
    server.stop()


def _fails(client: VigilClient) -> grpc.StatusCode:
    with client, pytest.raises(VigilError) as error:
        client.list_banks()
    return error.value.code


def test_tls_with_the_ca_and_a_token(tls_server: tuple[InProcessServer, str], pki: Pki) -> None:
    server, token = tls_server
    with VigilClient(server.address, timeout=30, ca=str(pki.ca), token=token) as client:
        assert client.health() == "SERVING"
        banks, _ = client.list_banks()
        assert banks == []
        with client.watch() as watch:  # a server stream over TLS, with the token
            assert watch.wait_connected(30)
    # TLS but no token: the listener lets the handshake through, auth still refuses the call.
    assert _fails(VigilClient(server.address, timeout=30, ca=str(pki.ca))) == grpc.StatusCode.UNAUTHENTICATED


def test_tls_refuses_clients_that_cannot_check_or_do_not_speak_it(
    tls_server: tuple[InProcessServer, str], pki: Pki
) -> None:
    server, token = tls_server
    # The system's roots do not know the test CA; another CA does not either: the handshake fails.
    assert _fails(VigilClient(server.address, timeout=30, tls=True, token=token)) == grpc.StatusCode.UNAVAILABLE
    assert _fails(VigilClient(server.address, timeout=30, ca=str(pki.other_ca), token=token)) == (
        grpc.StatusCode.UNAVAILABLE
    )
    assert _fails(VigilClient(server.address, timeout=30, token=token)) == grpc.StatusCode.UNAVAILABLE  # plaintext


def test_mtls_needs_a_client_certificate_the_ca_signed(mtls_server: InProcessServer, pki: Pki) -> None:
    address = mtls_server.address
    with VigilClient(address, timeout=30, ca=str(pki.ca), cert=str(pki.client_cert), key=str(pki.client_key)) as c:
        assert c.health() == "SERVING"
        assert c.list_banks()[0] == []
    assert _fails(VigilClient(address, timeout=30, ca=str(pki.ca))) == grpc.StatusCode.UNAVAILABLE  # no certificate
    stranger = VigilClient(address, timeout=30, ca=str(pki.ca), cert=str(pki.stranger_cert),
                           key=str(pki.stranger_key))  # fmt: skip
    assert _fails(stranger) == grpc.StatusCode.UNAVAILABLE


def test_the_cli_takes_tls_ca_token_cert_and_key(
    tls_server: tuple[InProcessServer, str], mtls_server: InProcessServer, pki: Pki,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    server, token = tls_server
    assert cli.main(["--server", server.address, "--ca", str(pki.ca), "--token", token, "health"]) == 0
    monkeypatch.setenv("VIGIL_TOKEN", token)  # the default of --token
    assert cli.main(["--server", server.address, "bank", "list", "--ca", str(pki.ca)]) == 0
    monkeypatch.delenv("VIGIL_TOKEN")
    assert cli.main(["--server", server.address, "bank", "list", "--ca", str(pki.ca)]) == 1
    assert "UNAUTHENTICATED" in capsys.readouterr().err
    assert cli.main(["--server", mtls_server.address, "health", "--ca", str(pki.ca), "--cert", str(pki.client_cert),
                     "--key", str(pki.client_key)]) == 0  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--server", server.address, "health", "--ca", str(pki.ca.with_name("missing.pem"))])
    assert exit_.value.code == 2


def test_bad_tls_settings_stop_the_server_at_start(pki: Pki, tmp_path: Path) -> None:
    for args in (["--tls-cert", str(pki.server_cert)], ["--tls-client-ca", str(pki.ca)],
                 ["--tls-cert", str(tmp_path / "none.pem"), "--tls-key", str(pki.server_key)]):  # fmt: skip
        with pytest.raises(ValueError, match="--tls"):
            GrpcServer(load_settings(args, env={}))
