"""The connection flags every `vigil` command takes: --tls, --ca, --token (VIGIL_TOKEN), --cert, --key.

They may come before the command (`vigil --token T search ...`) or after it (`vigil search ... --token T`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from vigil_client.client import VigilClient


def _add(p: argparse.ArgumentParser, defaults: bool) -> None:
    def default(value: Any) -> Any:
        return value if defaults else argparse.SUPPRESS  # after the command: only what is given replaces the first

    group = p.add_argument_group("connection")
    group.add_argument(
        "--tls", action="store_true", default=default(False), help="use TLS (implied by --ca, --cert and --key)"
    )
    group.add_argument(
        "--ca",
        metavar="PEM",
        default=default(os.environ.get("VIGIL_CA", "")),
        help="CA that signed the server's certificate (default: VIGIL_CA, else the system's)",
    )
    group.add_argument(
        "--token",
        metavar="KEY",
        default=default(os.environ.get("VIGIL_TOKEN", "")),
        help="API key, sent as `authorization: Bearer` (default: VIGIL_TOKEN)",
    )
    group.add_argument("--cert", metavar="PEM", default=default(""), help="client certificate, for mTLS")
    group.add_argument("--key", metavar="PEM", default=default(""), help="private key of --cert")


def add_connection_flags(p: argparse.ArgumentParser) -> None:
    """Give `p` and every (sub)command under it the connection flags."""
    _add(p, defaults=True)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                _spread(command)


def _spread(p: argparse.ArgumentParser) -> None:
    _add(p, defaults=False)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                _spread(command)


def connect(args: argparse.Namespace, timeout: float | None = None) -> VigilClient:
    """A client for the parsed flags (--server and the connection flags); exits 2 on an unreadable certificate."""
    try:
        return VigilClient(
            args.server, timeout, tls=args.tls, ca=args.ca, token=args.token, cert=args.cert, key=args.key
        )
    except ValueError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
