"""The moderation commands of `vigil`: standing queries, reference banks, and watching for alerts.

vigil query add "lighthouse keeper" --modality speech --threshold 4 --negative "a lighthouse tour"
vigil query list --json
vigil bank add logo.png --bank logos --label "banned logo" --external-id case-7
vigil bank import hashes.csv --bank shared-list       # PDQ, typed (pdq, vpdq, video_md5, ...) or a vPDQ file
vigil bank export --bank shared-list -o hashes.csv [--format typed | --format vpdq --item ID]
vigil watch --bank logos --json --thumbnails alerts/
vigil watch --resume-file last-alert.txt             # a restarted watcher misses nothing (--resume-after N: once)
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vigil_client.cli_connection import connect
from vigil_client.client import AlertWatch, VigilClient
from vigil_client.errors import VigilError
from vigil_client.media import KINDS, MODALITIES, media_kind
from vigil_client.moderation import AlertInfo, BankItemInfo, Example, StandingQueryInfo

Command = Callable[[argparse.Namespace], int]
INTERRUPTED = 130  # exit status after Ctrl-C, as shells report SIGINT


def _reports_errors(what: str) -> Callable[[Command], Command]:
    """Failed calls print the gRPC status and message and exit 1; unusable input (files, values) exits 2."""

    def wrap(command: Command) -> Command:
        @functools.wraps(command)
        def run(args: argparse.Namespace) -> int:
            try:
                return command(args)
            except VigilError as exc:
                print(f"vigil: {what} failed: {exc}", file=sys.stderr)
                return 1
            except (OSError, ValueError) as exc:
                print(f"vigil: {exc}", file=sys.stderr)
                return 2

        return run

    return wrap


def _example(value: str) -> Example:
    """An --example or --negative: an existing file, else text. A value named like a media file must exist."""
    path = Path(value)
    if path.is_file():
        return path
    if media_kind(path) is not None:
        raise ValueError(f"no such file: {value}")
    return value


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "alert"


def describe_query(q: StandingQueryInfo) -> str:
    where = ",".join(q.modalities) or "all modalities"
    streams = ",".join(q.stream_ids) or "all streams"
    examples = f" +{q.example_count} examples" if q.example_count else ""
    negatives = f" -{q.negative_count} negatives" if q.negative_count else ""
    words = [*(repr(k) for k in q.keywords), *([f"/{q.regex}/"] if q.regex else [])]
    keywords = f"  words {' '.join(words)} ({q.keyword_rule})" if words else ""
    threshold = "" if words and q.keyword_rule == "only" else f"  threshold {q.threshold:g}"
    return f"{q.query_id}{threshold}  {where}  {streams}{examples}{negatives}{keywords}  {q.label or q.text!r}"


def describe_item(item: BankItemInfo) -> str:
    external = f" ({item.external_id})" if item.external_id else ""
    hashes = f"  {item.pdq_hashes} PDQ" if item.pdq_hashes else ""
    audio = f"  {item.fingerprint_seconds:.1f} s fingerprinted" if item.fingerprint_seconds else ""
    frames = f"  {item.signals['vpdq']:g} vPDQ frames" if item.signals.get("vpdq") else ""
    reviews = f"  {item.confirmed} confirmed, {item.dismissed} dismissed" if item.confirmed or item.dismissed else ""
    return f"{item.item_id}  {item.bank}  {item.kind:8}  {item.label!r}{external}{hashes}{audio}{frames}{reviews}"


def describe_alert(a: AlertInfo) -> str:
    """One line for people: where, what matched, how, and the evidence text."""
    if a.kind == "query":
        what, how = f"query {a.label!r}", f"score {a.score:.2f}"
    else:
        external = f" ({a.external_id})" if a.external_id else ""
        what = f"bank {a.bank} {a.label!r}{external}"
        details = {
            "pdq": f"pdq {a.hash_distance}",
            "fingerprint": f"fingerprint {a.fingerprint_score or 0.0:.2f}",
            "embedding": f"embedding {a.cosine:.3f}",
        }  # vpdq and exact are named as they are
        how = ", ".join(details.get(m, m) for m in a.methods)
    flags = (" archive" if a.from_archive else "") + (f" +{a.suppressed} held back" if a.suppressed else "")
    flags += " replayed" if a.replayed else ""
    text = f"  {a.text!r}" if a.text else ""
    return f"ALERT [{a.modality:6}] {a.stream_id} {a.start:8.2f}-{a.end:8.2f} s  {what}  {how}{flags}{text}"


@_reports_errors("query add")
def cmd_query_add(args: argparse.Namespace) -> int:
    examples = [_example(value) for value in args.example]
    negatives = [_example(value) for value in args.negative]
    if not args.text and not examples and not args.keyword and not args.regex and not args.min_explicit_score:
        print("vigil: query add takes TEXT, or at least one --example, --keyword, --regex or --min-explicit-score",
              file=sys.stderr)  # fmt: skip
        return 2
    with connect(args) as client:
        query = client.add_query(args.text or "", examples=examples, negatives=negatives, modalities=args.modality,
                                 stream_ids=args.stream, threshold=args.threshold, label=args.label,
                                 keywords=args.keyword, regex=args.regex, keyword_rule=args.keyword_rule,
                                 min_explicit_score=args.min_explicit_score)  # fmt: skip
    print(json.dumps(query.as_json()) if args.json else describe_query(query))
    return 0


@_reports_errors("query list")
def cmd_query_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        queries = client.list_queries()
    for query in queries:
        print(json.dumps(query.as_json()) if args.json else describe_query(query))
    return 0


@_reports_errors("query remove")
def cmd_query_remove(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.remove_query(args.id)
    print(f"removed query {args.id}")
    return 0


@_reports_errors("bank add")
def cmd_bank_add(args: argparse.Namespace) -> int:
    with connect(args) as client:
        added = client.add_bank_item(args.path, bank=args.bank, kind=args.kind, format=args.format, label=args.label,
                                     external_id=args.external_id, archive_window=args.archive_window)  # fmt: skip
    if args.json:
        print(json.dumps({**added.item.as_json(), "archive_alerts": added.archive_alerts}))
    else:
        print(f"{describe_item(added.item)}  {added.archive_alerts} archive alerts")
    return 0


@_reports_errors("bank list")
def cmd_bank_list(args: argparse.Namespace) -> int:
    with connect(args) as client:
        items = client.list_bank_items(args.bank)
    for item in items:
        print(json.dumps(item.as_json()) if args.json else describe_item(item))
    return 0


@_reports_errors("bank remove")
def cmd_bank_remove(args: argparse.Namespace) -> int:
    with connect(args) as client:
        client.remove_bank_item(args.id)
    print(f"removed bank item {args.id}")
    return 0


@_reports_errors("bank import")
def cmd_bank_import(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    with connect(args) as client:
        done = client.import_hashes(text, bank=args.bank, label=args.label, archive_window=args.archive_window,
                                    signal_type=args.type, external_id=args.external_id)  # fmt: skip
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(done.signals.items()))
    print(f"imported {done.imported} hashes ({kinds}) into bank {args.bank}; {done.archive_alerts} archive alerts")
    return 0


@_reports_errors("bank export")
def cmd_bank_export(args: argparse.Namespace) -> int:
    with connect(args) as client:
        text = client.export_hashes(args.bank, format=args.format, item_id=args.item)
    if args.output and args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _announce_when_connected(watch: AlertWatch, server: str) -> None:
    if watch.wait_connected():
        print(f"vigil: watching {server} for alerts", file=sys.stderr, flush=True)


def sequence_number(text: str) -> int:
    """An alert sequence number (argparse type): a whole number, 0 or more."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"expected an alert sequence number (0 or more), got {text!r}")
    return int(text)


def resume_point(resume_file: str | None, resume_after: int | None) -> int | None:
    """Where a watch resumes: after the sequence number in `resume_file` when that file exists, else after
    `resume_after` (None: live alerts only). ValueError when the file holds no sequence number."""
    if resume_file and Path(resume_file).exists():
        text = Path(resume_file).read_text(encoding="utf-8").strip()
        try:
            return sequence_number(text)
        except argparse.ArgumentTypeError:
            raise ValueError(f"{resume_file} holds no alert sequence number: {text[:40]!r}") from None
    return resume_after


def remember_sequence(path: Path, sequence: int) -> None:
    """Write the last printed alert's sequence number to `path`, whole or not at all (written aside, then
    renamed over it), so that a watcher killed at any moment resumes from a number it printed."""
    aside = path.with_name(path.name + ".partial")
    aside.write_text(f"{sequence}\n", encoding="utf-8")
    os.replace(aside, path)


def _open_watch(client: VigilClient, args: argparse.Namespace, resume_after: int | None) -> AlertWatch:
    return client.watch(args.stream, args.bank, args.query, resume_after=resume_after)


def cmd_watch(args: argparse.Namespace) -> int:
    if args.count is not None and args.count < 1:
        print("vigil: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        resume_after = resume_point(args.resume_file, args.resume_after)
    except (OSError, ValueError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    resume_file = Path(args.resume_file) if args.resume_file else None
    thumbnails = Path(args.thumbnails) if args.thumbnails else None
    if thumbnails:
        thumbnails.mkdir(parents=True, exist_ok=True)
    seen = 0
    with connect(args) as client, _open_watch(client, args, resume_after) as watch:
        threading.Thread(target=_announce_when_connected, args=(watch, args.server), daemon=True).start()
        try:
            for alert in watch:
                if thumbnails and alert.thumbnail_jpeg:
                    (thumbnails / f"{_safe_name(alert.alert_id)}.jpg").write_bytes(alert.thumbnail_jpeg)
                print(json.dumps(alert.as_json()) if args.json else describe_alert(alert), flush=True)
                if resume_file:
                    remember_sequence(resume_file, alert.sequence)
                seen += 1
                if args.count is not None and seen >= args.count:
                    return 0
        except VigilError as exc:
            print(f"vigil: watch failed: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return INTERRUPTED
        except BrokenPipeError:  # e.g. `vigil watch | head -1`: the reader is gone, so are we
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
        except OSError as exc:  # the resume file or a thumbnail could not be written
            print(f"vigil: watch stopped: {exc}", file=sys.stderr)
            return 1
    print(f"vigil: the server ended the watch after {seen} alerts", file=sys.stderr)
    return 1 if args.count is not None else 0


def add_moderation_commands(sub: Any) -> Any:
    """Add `query`, `bank` and `watch` to the `vigil` subcommands (`sub`, from add_subparsers); returns the
    subcommands of `bank`, for cli_hash_sharing to add to."""
    json_help = "one JSON object per line"
    query = sub.add_parser("query", help="standing queries: alert when new segments match").add_subparsers(
        dest="action", required=True
    )
    add = query.add_parser("add", help="register a standing query; prints it with its id")
    add.add_argument("text", nargs="?", help="what to look for (optional with --example)")
    add.add_argument("--example", action="append", default=[], metavar="PATH_OR_TEXT",
                     help="more of what to look for: an image, audio or video file, or text (repeatable)")  # fmt: skip
    add.add_argument("--negative", action="append", default=[], metavar="PATH_OR_TEXT",
                     help="what not to alert on: a file or text (repeatable)")  # fmt: skip
    add.add_argument("--modality", action="append", default=[], choices=sorted(MODALITIES), help="(repeatable)")
    add.add_argument("--stream", action="append", default=[], metavar="ID", help="only this stream (repeatable)")
    add.add_argument("--threshold", type=float, default=0.0, help="minimum calibrated score (default: server's)")
    add.add_argument("--label", default="", help="a name for people (default: the text)")
    add.add_argument("--keyword", action="append", default=[], metavar="WORD",
                     help="fire on this exact word or phrase said or shown (repeatable)")  # fmt: skip
    add.add_argument("--regex", default="", help="fire on this regular expression (on word boundaries)")
    add.add_argument("--min-explicit-score", type=float, default=0.0, metavar="SCORE",
                     help="fire only on frames scoring at least this (0-1); alone: on the score")  # fmt: skip
    add.add_argument("--keyword-rule", choices=["", "only", "and_embedding"], default="",
                     help="only: the words alone fire it (default without TEXT); and_embedding: "
                          "the words and the threshold (default with TEXT)")  # fmt: skip
    add.add_argument("--json", action="store_true", help=json_help)
    add.set_defaults(run=cmd_query_add)
    listing = query.add_parser("list", help="list standing queries")
    listing.add_argument("--json", action="store_true", help=json_help)
    listing.set_defaults(run=cmd_query_list)
    remove = query.add_parser("remove", help="remove a standing query")
    remove.add_argument("id")
    remove.set_defaults(run=cmd_query_remove)

    bank = sub.add_parser("bank", help="reference banks: known pictures, audio and video to alert on").add_subparsers(
        dest="action", required=True
    )
    add = bank.add_parser("add", help="add a picture, audio or video file to a bank; prints the item")
    add.add_argument("path", help="the file")
    add.add_argument("--bank", required=True, help="bank name")
    add.add_argument("--kind", choices=KINDS, help="default: from the file's extension")
    add.add_argument("--format", help="container of audio and video (default: from the extension)")
    add.add_argument("--label", default="", help="a name for people")
    add.add_argument("--external-id", default="", help="your own id for the item, e.g. a case number")
    add.add_argument("--archive-window", type=float, default=0.0, metavar="SECONDS",
                     help="archive searched for the item (0: server default, negative: none)")  # fmt: skip
    add.add_argument("--json", action="store_true", help=json_help)
    add.set_defaults(run=cmd_bank_add)
    listing = bank.add_parser("list", help="list bank items")
    listing.add_argument("--bank", default="", help="only this bank")
    listing.add_argument("--json", action="store_true", help=json_help)
    listing.set_defaults(run=cmd_bank_list)
    remove = bank.add_parser("remove", help="remove a bank item")
    remove.add_argument("id")
    remove.set_defaults(run=cmd_bank_remove)
    imports = bank.add_parser("import", help="load a hash list (PDQ, typed: pdq/vpdq/video_md5/..., a vPDQ file)")
    imports.add_argument("file", help="the hash list, or - for stdin")
    imports.add_argument("--bank", required=True, help="bank name")
    imports.add_argument("--label", default="", help="label for lines that carry none")
    imports.add_argument(
        "--type",
        default="",
        metavar="SIGNAL_TYPE",
        help="signal type of lines that name none (default pdq; vpdq: the file is one video's hash)",
    )
    imports.add_argument("--external-id", default="", help="external id for lines that carry none")
    imports.add_argument("--archive-window", type=float, default=0.0, metavar="SECONDS",
                         help="archive searched for the hashes (0: server default, negative: none)")  # fmt: skip
    imports.set_defaults(run=cmd_bank_import)
    export = bank.add_parser("export", help="print the hashes of a bank (or all) as an importable list")
    export.add_argument("--bank", default="", help="only this bank")
    export.add_argument("--format", choices=("pdq", "typed", "vpdq"), default="pdq",
                        help="pdq: PDQ hashes (default); typed: every hash, each line naming its signal type; "
                        "vpdq: one video item's vPDQ file (with --item)")  # fmt: skip
    export.add_argument("--item", default="", metavar="ID", help="only this item")
    export.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    export.set_defaults(run=cmd_bank_export)

    watch = sub.add_parser("watch", help="print alerts as they are raised, one per line, until Ctrl-C")
    watch.add_argument("--stream", action="append", default=[], metavar="ID", help="only this stream (repeatable)")
    watch.add_argument("--bank", action="append", default=[], metavar="NAME", help="only this bank (repeatable)")
    watch.add_argument("--query", action="append", default=[], metavar="ID", help="only this query (repeatable)")
    watch.add_argument("--json", action="store_true", help=json_help)
    watch.add_argument("--thumbnails", metavar="DIR", help="write each alert's frame to DIR/<alert_id>.jpg")
    watch.add_argument("--count", type=int, metavar="N", help="exit after N alerts")
    watch.add_argument("--resume-after", type=sequence_number, metavar="SEQUENCE",
                       help="first replay the stored alerts with a larger sequence number (0: all), "
                       "then go on live")  # fmt: skip
    watch.add_argument("--resume-file", metavar="PATH",
                       help="resume after the sequence number in PATH when it exists (else --resume-after, else "
                       "live), and write each printed alert's sequence number to it: restarted with the same "
                       "file, a watcher misses nothing")  # fmt: skip
    watch.set_defaults(run=cmd_watch)
    return bank
