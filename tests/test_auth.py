"""API keys on a real server (in process, fake models): missing, wrong and revoked keys, each role
against each RPC, health without a key, the key file re-read on change, and keys from the environment."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.api_keys import IMPLEMENTED, NOT_IMPLEMENTED, OPEN, KeySpec, call, replace_text, write_key_file
from tests.inprocess import InProcessServer
from vigil.v1 import vigil_pb2
from vigil_server import keys as keys_cli
from vigil_server.app import GrpcServer, is_loopback
from vigil_server.errors import PermissionDenied, Unauthenticated
from vigil_server.identity import ROLE_RPCS, KeyBook, KeyFileError, Role, env_keys, parse_key_file, token_digest
from vigil_server.settings import load_settings

KEYS = [
    KeySpec("cam", "acme", Role.PRODUCER),
    KeySpec("viewer", "acme", Role.READER),
    KeySpec("boss", "acme", Role.ADMIN),
    KeySpec("gone", "acme", Role.READER, revoked=True),
]
REFUSED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    return path, write_key_file(path, KEYS)


@pytest.fixture(scope="module")
def auth_server(
    tmp_path_factory: pytest.TempPathFactory, key_file: tuple[Path, dict[str, str]]
) -> Iterator[InProcessServer]:
    server = InProcessServer(tmp_path_factory.mktemp("auth-data"), ["--api-keys", str(key_file[0])]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def channel(auth_server: InProcessServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(auth_server.address) as ch:
        yield ch


def test_health_needs_no_key(auth_server: InProcessServer) -> None:
    assert auth_server.health() == 1  # SERVING
    assert auth_server.health("vigil.v1.Vigil") == 1


@pytest.mark.parametrize("method", [m.name for m in IMPLEMENTED])
def test_every_rpc_refuses_a_missing_wrong_or_revoked_key(
    channel: grpc.Channel, key_file: tuple[Path, dict[str, str]], method: str
) -> None:
    tokens = key_file[1]
    assert call(channel, method)[0] == grpc.StatusCode.UNAUTHENTICATED
    assert call(channel, method, token="vgl_not-a-key-this-server-knows")[0] == grpc.StatusCode.UNAUTHENTICATED
    assert call(channel, method, token=tokens["gone"])[0] == grpc.StatusCode.UNAUTHENTICATED


def test_refusals_say_what_to_do_and_never_log_the_token(
    channel: grpc.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "vgl_wrong-token-that-must-not-be-logged"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(grpc.RpcError) as missing:
        channel.unary_unary("/vigil.v1.Vigil/ListBanks")(b"", timeout=30)  # raw bytes: an empty request
    assert "authorization: Bearer" in (missing.value.details() or "")
    code, _ = call(channel, "Search", token=wrong)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert wrong not in caplog.text
    assert "Unauthenticated" in caplog.text  # the refusal itself is logged


@pytest.mark.parametrize("role", list(Role))
def test_each_role_against_each_rpc(channel: grpc.Channel, key_file: tuple[Path, dict[str, str]], role: Role) -> None:
    token = key_file[1][{Role.PRODUCER: "cam", Role.READER: "viewer", Role.ADMIN: "boss"}[role]]
    outcome = {m.name: call(channel, m.name, token=token)[0] for m in IMPLEMENTED}
    for method, code in outcome.items():
        if role is Role.ADMIN or method in ROLE_RPCS[role]:
            assert code not in REFUSED, f"{role.value} may call {method}, got {code}"
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, f"{role.value} may not call {method}, got {code}"
    assert outcome.get("Watch") in (OPEN, grpc.StatusCode.PERMISSION_DENIED)  # a permitted Watch stays open
    assert NOT_IMPLEMENTED == [] or set(NOT_IMPLEMENTED) <= {"DeleteStream", "DeleteSegments", "ListAlerts"}


def test_role_table_names_only_real_rpcs() -> None:
    names = {m.name for m in IMPLEMENTED} | set(NOT_IMPLEMENTED)
    assert set().union(*ROLE_RPCS.values()) <= names
    assert ROLE_RPCS[Role.PRODUCER] == {"Ingest"}


def test_a_refused_ingest_is_answered_before_its_body(
    channel: grpc.Channel, key_file: tuple[Path, dict[str, str]]
) -> None:
    """The key is checked before the request stream is read: a body that never comes does not hold the answer."""
    release = threading.Event()

    def never() -> Iterator[vigil_pb2.IngestRequest]:
        release.wait(60)
        yield vigil_pb2.IngestRequest()

    try:
        for token, expected in (("", grpc.StatusCode.UNAUTHENTICATED),
                                (key_file[1]["viewer"], grpc.StatusCode.PERMISSION_DENIED)):  # fmt: skip
            code, _ = call(channel, "Ingest", never(), token=token, timeout=30)
            assert code == expected
    finally:
        release.set()


def test_the_key_file_is_reread_when_it_changes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "keys.json"
    tokens = write_key_file(path, [KeySpec("a", "t1", Role.READER), KeySpec("b", "t1", Role.READER)])
    server = InProcessServer(tmp_path / "data", ["--api-keys", str(path)]).start()
    try:
        with grpc.insecure_channel(server.address) as ch:
            assert call(ch, "ListBanks", token=tokens["a"])[0] == grpc.StatusCode.OK
            # Revoke a, add c: both take effect on the next call, without a restart.
            tokens = write_key_file(path, [KeySpec("a", "t1", Role.READER, revoked=True),
                                           KeySpec("b", "t1", Role.READER), KeySpec("c", "t1", Role.ADMIN)],
                                    tokens=tokens)  # fmt: skip
            assert call(ch, "ListBanks", token=tokens["a"])[0] == grpc.StatusCode.UNAUTHENTICATED
            assert call(ch, "ListBanks", token=tokens["c"])[0] == grpc.StatusCode.OK
            # A broken edit keeps the previous book in force, and says so in the log.
            with caplog.at_level(logging.ERROR):
                replace_text(path, '{"keys": [ {"name": "half an edit"')
                assert call(ch, "ListBanks", token=tokens["c"])[0] == grpc.StatusCode.OK
                assert call(ch, "ListBanks", token=tokens["a"])[0] == grpc.StatusCode.UNAUTHENTICATED
            assert "key file not reloaded" in caplog.text
            # A role change counts too.
            write_key_file(path, [KeySpec("c", "t1", Role.PRODUCER)], tokens=tokens)
            assert call(ch, "ListBanks", token=tokens["c"])[0] == grpc.StatusCode.PERMISSION_DENIED
            assert call(ch, "ListBanks", token=tokens["b"])[0] == grpc.StatusCode.UNAUTHENTICATED
    finally:
        server.stop()


def test_keys_from_the_environment() -> None:
    env = {"VIGIL_API_KEY_CAM_1": "acme:producer:0123456789abcdef-token", "VIGIL_LISTEN": "x"}
    book = KeyBook(None, env_keys(env))
    caller = book.admit("Ingest", "0123456789abcdef-token")
    assert (caller.tenant, caller.role, caller.key_name) == ("acme", Role.PRODUCER, "cam-1")
    with pytest.raises(PermissionDenied):
        book.admit("Search", "0123456789abcdef-token")
    with pytest.raises(Unauthenticated):
        book.admit("Ingest", "")
    assert KeyBook.load("", {}) is None  # no file, no variable: auth off
    for bad in ("acme:producer:short", "acme:boss:0123456789abcdef-token", "a b:reader:0123456789abcdef-token"):
        with pytest.raises(KeyFileError) as error:
            env_keys({"VIGIL_API_KEY_X": bad})
        assert "short" not in str(error.value) and "0123456789abcdef" not in str(error.value)  # never the token


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"keys": {}}',
        '{"keys": [{"name": "a", "tenant": "t", "role": "reader", "sha256": "abc"}]}',  # not a digest
        '{"keys": [{"name": "a", "tenant": "t", "role": "root", "sha256": "' + "0" * 64 + '"}]}',
        '{"keys": [{"name": "a", "tenant": "t", "role": "reader", "sha256": "' + "0" * 64 + '", "token": "x"}]}',
        '{"keys": [], "tenants": {"t": {"max_streams": -1}}}',
        '{"keys": [], "tenants": {"t": {"max_streams": 1.5}}}',
        '{"keys": [], "tenants": {"t": {"max_sreams": 1}}}',
        '{"keys": [], "tenants": {"t": {"webhook": {"url": "https://x"}}}}',
        '{"keys": [], "tenants": {"bad tenant": {}}}',
    ],
)
def test_a_bad_key_file_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(KeyFileError):
        parse_key_file(text)


def test_a_key_file_with_policies() -> None:
    digest = "a" * 64
    table = parse_key_file(json.dumps({
        "keys": [{"name": "k", "tenant": "acme", "role": "admin", "sha256": digest}],
        "tenants": {"acme": {"max_streams": 2, "max_ingest_bytes_per_s": 1e6, "max_stored_segments": 10,
                             "retention_days": 30, "webhook": {"url": "https://hooks.example/v", "secret": "s3"}}},
    }))  # fmt: skip
    policy = table.policies["acme"]
    assert (policy.max_streams, policy.max_ingest_bytes_per_s, policy.max_stored_segments) == (2, 1e6, 10)
    assert policy.retention_days == 30 and policy.webhook is not None and policy.webhook.secret == b"s3"
    assert table.keys[digest].role is Role.ADMIN


def test_keys_new_prints_the_token_once_and_an_entry_with_its_digest(capsys: pytest.CaptureFixture[str]) -> None:
    assert keys_cli.main(["new", "--tenant", "acme", "--role", "reader", "--name", "dash-1"]) == 0
    out = capsys.readouterr()
    token, entry_line = out.out.strip().splitlines()
    entry = json.loads(entry_line)
    assert entry == {"name": "dash-1", "tenant": "acme", "role": "reader",
                     "sha256": hashlib.sha256(token.encode()).hexdigest()}  # fmt: skip
    assert token not in entry_line and token_digest(token) == entry["sha256"]
    table = parse_key_file(json.dumps({"keys": [entry]}))
    assert KeyBook(None, table.keys).admit("Search", token).tenant == "acme"


def test_a_server_with_a_broken_key_file_does_not_start(tmp_path: Path) -> None:
    (tmp_path / "keys.json").write_text("{")
    settings = load_settings(["--api-keys", str(tmp_path / "keys.json")], env={})
    with pytest.raises(KeyFileError):
        GrpcServer(settings)


def test_loopback_addresses() -> None:
    assert all(is_loopback(a) for a in ("127.0.0.1:50051", "localhost:1", "[::1]:5", "127.0.0.2:0"))
    assert not any(is_loopback(a) for a in ("0.0.0.0:50051", "[::]:1", "10.0.0.5:1", "vigil.example:443", ":80"))


@pytest.mark.parametrize("auth", [False, True])
def test_a_loud_warning_when_exposed_without_auth(tmp_path: Path, auth: bool) -> None:
    args = ["--listen", "0.0.0.0:0"]
    if auth:
        write_key_file(tmp_path / "keys.json", [KeySpec("a", "t", Role.ADMIN)])
        args += ["--api-keys", str(tmp_path / "keys.json")]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("vigil_server")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)

    async def start_and_stop() -> int:
        server = GrpcServer(load_settings(args, env={}))
        port = await server.start()
        await server.stop(0)
        return port

    try:
        assert asyncio.run(start_and_stop())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    text = stream.getvalue()
    assert ("AUTH IS OFF" in text) is not auth
    assert "NO TLS" in text


def test_no_warning_on_loopback(tmp_path: Path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("vigil_server")
    logger.addHandler(handler)

    async def start_and_stop() -> None:
        server = GrpcServer(load_settings(["--listen", "127.0.0.1:0"], env={}))
        assert await server.start()
        await server.stop(0)

    try:
        asyncio.run(start_and_stop())
    finally:
        logger.removeHandler(handler)
    assert "AUTH IS OFF" not in stream.getvalue()


def test_the_client_sends_its_token_on_every_call(
    auth_server: InProcessServer, key_file: tuple[Path, dict[str, str]]
) -> None:
    from vigil_client import VigilClient, VigilError

    with VigilClient(auth_server.address, token=key_file[1]["boss"]) as client:
        assert client.list_banks()[0] == []
        with client.watch() as watch:  # a server stream carries it too
            assert watch.wait_connected(30)
        assert client.health() == "SERVING"
    with VigilClient(auth_server.address, token=key_file[1]["viewer"]) as client, pytest.raises(VigilError) as error:
        client.add_query("a red door", threshold=4.0)
    assert error.value.code == grpc.StatusCode.PERMISSION_DENIED
    with VigilClient(auth_server.address) as client, pytest.raises(VigilError) as error:
        client.list_banks()
    assert error.value.code == grpc.StatusCode.UNAUTHENTICATED
