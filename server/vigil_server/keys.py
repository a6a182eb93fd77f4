"""`vigil-server keys new`: mint an API key, print its token once and the key file entry that holds its digest."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from vigil_server.identity import KeyFileError, Role, key_entry, mint_token


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="vigil-server keys", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new", help="mint a key: the token goes to the client, the entry to the key file")
    new.add_argument("--name", required=True, help="the key's name (logs show it, never the token)")
    new.add_argument("--tenant", required=True, help="the tenant whose data the key reaches")
    new.add_argument("--role", required=True, choices=[r.value for r in Role])
    args = p.parse_args(argv)
    token = mint_token()
    try:
        entry = key_entry(args.name, args.tenant, Role(args.role), token)
    except KeyFileError as exc:
        p.error(str(exc))
    print(token)
    print(json.dumps(entry))
    print("line 1: the token, shown once: give it to the client (--token or VIGIL_TOKEN); it is stored nowhere.\n"
          "line 2: add it to the \"keys\" list of the key file (--api-keys); the server picks it up at once.",
          file=sys.stderr)  # fmt: skip
    return 0
