"""The hash-sharing commands of `vigil`: lookups, bank settings, alert reviews.

vigil match suspect.mp4                          # which bank items does this file match? nothing is stored
vigil match --pdq f8f8...  --md5 d41d...         # or these hashes (repeatable); --vpdq FILE for a vPDQ file
vigil bank settings shared-list --allow-list --threshold pdq=20
vigil bank banks --json
vigil alert review 3f2a... --dismiss --reviewer ana --note "press footage"
vigil alert list --stream cam-1 --review-state unreviewed --json   # stored alerts, oldest first
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from vigil_client.cli_connection import connect
from vigil_client.cli_moderation import _reports_errors, describe_alert, describe_item, sequence_number
from vigil_client.hash_sharing import AlertRecordInfo, BankInfo, LookupMatchInfo
from vigil_client.media import KINDS
from vigil_client.moderation import REVIEW_STATES, AlertInfo

# CLI flag -> signal type name sent to the server
HASH_FLAGS = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256"}


def describe_match(m: LookupMatchInfo) -> str:
    how = ", ".join(f"{e.signal} {e.value:g}" for e in m.evidence if e.matched) or "-"
    where = f"  {m.start:.2f}-{m.end:.2f} s" if m.end > 0 else ""
    flag = "  allow-list" if m.allow_list else ""
    query = f"  hash #{m.query}" if m.query >= 0 else ""
    return f"MATCH {describe_item(m.item)}  [{how}]{where}{query}{flag}"


def describe_bank(b: BankInfo) -> str:
    state = ("enabled" if b.enabled else "disabled") + (", allow-list" if b.allow_list else "")
    thresholds = " ".join(f"{k}={v:g}" for k, v in sorted(b.thresholds.items()))
    suppressed = f"  {b.suppressed} kept back" if b.allow_list else ""
    return f"{b.bank}  {b.items} items  {state}{'  ' + thresholds if thresholds else ''}{suppressed}"


def describe_record(r: AlertRecordInfo) -> str:
    note = f"  {r.note!r}" if r.note else ""
    what = f"{r.bank or r.kind} {r.match_id} on {r.stream_id}"
    return f"{r.alert_id}  {r.verdict or 'unreviewed'} by {r.reviewer or '-'}  {what}{note}"


def describe_stored_alert(a: AlertInfo) -> str:
    """describe_alert's line after the alert's sequence number and id, then its latest review."""
    review = f"  {a.verdict} by {a.reviewer or '-'}" if a.verdict else "  unreviewed"
    return f"#{a.sequence} {a.alert_id}  {describe_alert(a)}{review}"


@_reports_errors("match")
def cmd_match(args: argparse.Namespace) -> int:
    hashes = [(HASH_FLAGS[flag], value) for flag in HASH_FLAGS for value in getattr(args, flag)]
    hashes += [("vpdq", Path(path).read_text(encoding="utf-8")) for path in args.vpdq]
    if bool(args.path) == bool(hashes):
        print("vigil: match takes a FILE, or hashes (--pdq, --md5, --sha256, --vpdq), not both", file=sys.stderr)
        return 2
    with connect(args) as client:
        if args.path:
            matches = client.match_file(args.path, kind=args.kind, format=args.format)
        else:
            matches = client.match_hashes(hashes)
    for m in matches:
        print(json.dumps(m.as_json()) if args.json else describe_match(m))
    if not args.json:
        print(f"vigil: {len(matches)} matching bank items", file=sys.stderr)
    return 0


def _threshold(text: str) -> tuple[str, float]:
    name, sep, value = text.partition("=")
    try:
        if not (sep and name):
            raise ValueError
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SIGNAL=VALUE such as pdq=20, got {text!r}") from None


@_reports_errors("bank settings")
def cmd_bank_settings(args: argparse.Namespace) -> int:
    with connect(args) as client:
        bank = client.set_bank(args.bank, enabled=args.enabled, allow_list=args.allow_list,
                               thresholds=dict(args.threshold), clear_thresholds=args.clear_threshold)  # fmt: skip
    print(json.dumps(bank.as_json()) if args.json else describe_bank(bank))
    return 0


@_reports_errors("bank banks")
def cmd_bank_banks(args: argparse.Namespace) -> int:
    with connect(args) as client:
        banks, defaults = client.list_banks()
    for bank in banks:
        print(json.dumps(bank.as_json()) if args.json else describe_bank(bank))
    if not args.json:
        print("vigil: server thresholds " + " ".join(f"{k}={v:g}" for k, v in sorted(defaults.items())),
              file=sys.stderr)  # fmt: skip
    return 0


@_reports_errors("alert review")
def cmd_alert_review(args: argparse.Namespace) -> int:
    with connect(args) as client:
        record = client.review_alert(args.id, args.verdict, reviewer=args.reviewer, note=args.note)
    print(json.dumps(record.as_json()) if args.json else describe_record(record))
    return 0


@_reports_errors("alert list")
def cmd_alert_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        alerts = client.list_alerts(args.stream, args.bank, args.query, raised_after=args.raised_after,
                                    raised_before=args.raised_before, review_state=args.review_state,
                                    after_sequence=args.after_sequence)  # fmt: skip
        for alert in alerts:  # printed a page at a time, as they come
            print(json.dumps(alert.as_json()) if args.json else describe_stored_alert(alert), flush=True)
    return 0


def add_hash_sharing_commands(sub: Any, bank: Any) -> None:
    """Add `match` and `alert` to the `vigil` subcommands, and `settings` and `banks` to `vigil bank`."""
    json_help = "one JSON object per line"
    match = sub.add_parser("match", help="which bank items a file or hashes match (nothing is stored or alerted)")
    match.add_argument("path", nargs="?", help="a picture, audio or video file")
    match.add_argument("--kind", choices=KINDS, help="default: from the file's extension")
    match.add_argument("--format", help="container of audio and video (default: from the extension)")
    for flag, signal in HASH_FLAGS.items():
        match.add_argument(f"--{flag}", action="append", default=[], metavar="HEX",
                           help=f"a {signal} hash (repeatable)")  # fmt: skip
    match.add_argument("--vpdq", action="append", default=[], metavar="FILE",
                       help="a vPDQ hash: Meta's vPDQ file (repeatable)")  # fmt: skip
    match.add_argument("--json", action="store_true", help=json_help)
    match.set_defaults(run=cmd_match)

    settings = bank.add_parser("settings", help="enable or disable a bank, make it an allow-list, set thresholds")
    settings.add_argument("bank", help="bank name")
    on = settings.add_mutually_exclusive_group()
    on.add_argument("--enable", dest="enabled", action="store_const", const=True, default=None)
    on.add_argument("--disable", dest="enabled", action="store_const", const=False)
    allow = settings.add_mutually_exclusive_group()
    allow.add_argument("--allow-list", dest="allow_list", action="store_const", const=True, default=None,
                       help="matches raise no alert and keep other banks' alerts off the same media")  # fmt: skip
    allow.add_argument("--block-list", dest="allow_list", action="store_const", const=False)
    settings.add_argument("--threshold", action="append", type=_threshold, default=[], metavar="SIGNAL=VALUE",
                          help="override a signal's threshold: pdq=BITS, vpdq=PERCENT, copy_descriptor=COSINE, "
                          "chromaprint=SCORE (repeatable)")  # fmt: skip
    settings.add_argument("--clear-threshold", action="append", default=[], metavar="SIGNAL",
                          help="use the server's threshold again (repeatable)")  # fmt: skip
    settings.add_argument("--json", action="store_true", help=json_help)
    settings.set_defaults(run=cmd_bank_settings)
    banks = bank.add_parser("banks", help="list banks with their settings and counters")
    banks.add_argument("--json", action="store_true", help=json_help)
    banks.set_defaults(run=cmd_bank_banks)

    alert = sub.add_parser("alert", help="list and review stored alerts").add_subparsers(dest="action", required=True)
    review = alert.add_parser("review", help="confirm or dismiss an alert (a dismissed item is not alerted again "
                              "on that stream)")  # fmt: skip
    review.add_argument("id", help="the alert id")
    verdict = review.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--confirm", dest="verdict", action="store_const", const="confirmed")
    verdict.add_argument("--dismiss", dest="verdict", action="store_const", const="dismissed")
    review.add_argument("--reviewer", default="", help="who reviewed it")
    review.add_argument("--note", default="", help="why")
    review.add_argument("--json", action="store_true", help=json_help)
    review.set_defaults(run=cmd_alert_review)
    listing = alert.add_parser("list", help="stored alerts, oldest first (by sequence number), one per line")
    listing.add_argument("--stream", action="append", default=[], metavar="ID", help="only this stream (repeatable)")
    listing.add_argument("--bank", action="append", default=[], metavar="NAME", help="only this bank (repeatable)")
    listing.add_argument("--query", action="append", default=[], metavar="ID", help="only this query (repeatable)")
    listing.add_argument("--review-state", choices=[s for s in REVIEW_STATES if s], help="default: every alert")
    listing.add_argument("--after-sequence", type=sequence_number, default=0, metavar="N",
                         help="only alerts with a larger sequence number")  # fmt: skip
    listing.add_argument("--raised-after", type=float, default=0.0, metavar="UNIX_SECONDS",
                         help="only alerts raised at or after this time")  # fmt: skip
    listing.add_argument("--raised-before", type=float, default=0.0, metavar="UNIX_SECONDS",
                         help="only alerts raised before this time")  # fmt: skip
    listing.add_argument("--json", action="store_true", help=json_help)
    listing.set_defaults(run=cmd_alert_list)
