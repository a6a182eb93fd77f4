"""`vigil`: stream media into a Vigil server, search it, and watch it for what you are looking for.

vigil ingest talk.ts --stream cam-1
ffmpeg -i rtsp://... -f mpegts - | vigil ingest - --stream cam-1
vigil search "a cat on a sofa" --top-k 5 --json
vigil query add "someone selling fireworks" --modality speech --threshold 4
vigil bank add logo.png --bank logos --label "banned logo"
vigil watch --json
vigil transcript cam-1 --format vtt -o cam-1.vtt
vigil captions talk.ts --stream talk --format srt -o talk.srt
vigil delete cam-1 --start 30 --end 90                  # erase a stretch (without --start/--end: the stream)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from vigil_client.cli_captions import add_caption_commands
from vigil_client.cli_connection import add_connection_flags, connect
from vigil_client.cli_hash_sharing import add_hash_sharing_commands
from vigil_client.cli_moderation import _reports_errors, add_moderation_commands, describe_alert
from vigil_client.client import DEFAULT_CHUNK_BYTES, DEFAULT_SERVER, SegmentInfo
from vigil_client.errors import VigilError
from vigil_client.media import FORMAT_BY_EXTENSION, MODALITIES, MediaBytes, read_chunks
from vigil_client.moderation import AlertInfo


def _describe(segment: SegmentInfo) -> str:
    text = f"  {segment.text}".replace("\n", " | ") if segment.text else ""  # on-screen text: one line per line read
    return f"[{segment.modality:6}] {segment.stream_id} {segment.start:8.2f}-{segment.end:8.2f} s{text}"


def _open(path: str) -> BinaryIO:
    return sys.stdin.buffer if path == "-" else open(path, "rb")


def _pacing(args: argparse.Namespace) -> str:
    """--pacing, or by default: a regular file is an upload, a pipe or stdin may be live (the server tells)."""
    if args.pacing is not None:
        return "" if args.pacing == "auto" else str(args.pacing)
    return "upload" if args.path != "-" and Path(args.path).is_file() else ""


def cmd_ingest(args: argparse.Namespace) -> int:
    fmt = args.format
    if fmt is None:
        fmt = "mpegts" if args.path == "-" else FORMAT_BY_EXTENSION.get(Path(args.path).suffix.lower())
        if fmt is None:
            print(f"vigil: cannot tell the format of {args.path}; pass --format", file=sys.stderr)
            return 2
    stream_id = args.stream or ("stdin" if args.path == "-" else Path(args.path).stem)
    began = time.monotonic()
    alerts = 0
    source = _open(args.path)
    try:
        with connect(args) as client:
            events = client.ingest(
                read_chunks(source, args.chunk_kib << 10),
                stream_id,
                fmt,
                frame_rate=args.frame_rate,
                language=args.language,
                max_in_flight=args.max_in_flight,
                pacing=_pacing(args),
            )
            for event in events:
                kind = event.WhichOneof("event")
                if kind == "ack" and not args.quiet and sys.stderr.isatty():
                    mib = event.ack.bytes_received / (1 << 20)
                    print(f"\rsent {mib:8.2f} MiB  {time.monotonic() - began:6.1f} s", end="", file=sys.stderr)
                elif kind == "segment":
                    segment = SegmentInfo.from_proto(event.segment.segment)
                    if args.json:
                        print(json.dumps(segment.__dict__), flush=True)
                    else:
                        print(_describe(segment), flush=True)
                elif kind == "alert":
                    alerts += 1
                    alert = AlertInfo.from_proto(event.alert)
                    print(json.dumps(alert.as_json()) if args.json else describe_alert(alert), flush=True)
                elif kind == "summary":
                    s = event.summary
                    print(
                        f"\n{s.stream_id}: {s.media_seconds:.1f} s of media, {s.frames_indexed} frames, "
                        f"{s.speech_segments_indexed} speech segments, {alerts} alerts in {s.wall_seconds:.1f} s"
                        + (" (spooled: plain MP4 is decoded after the upload)" if s.spooled else "")
                        + (f"; {s.frames_dropped} frames dropped to keep up" if s.frames_dropped else "")
                        + f"; lag at most {s.max_frame_lag:.1f} s (frames), {s.max_speech_lag:.1f} s (speech)",
                        file=sys.stderr,
                    )
    except VigilError as exc:
        print(f"\nvigil: ingest failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if source is not sys.stdin.buffer:
            source.close()
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    examples = {"image": args.image, "audio": args.audio, "video": args.video, "segment_id": args.segment,
                "passage": args.passage}  # fmt: skip
    given = [name for name, value in examples.items() if value is not None]
    if len(given) + (args.text is not None) > 1 or not (given or args.text is not None or args.keyword):
        print("vigil: search takes TEXT or one of --image, --audio, --video, --segment, --passage, "
              "and/or --keyword", file=sys.stderr)  # fmt: skip
        return 2
    query: dict[str, object] = {}
    try:
        if args.text is not None:
            query["text"] = args.text
        elif args.passage is not None:
            query["passage"] = sys.stdin.read() if args.passage == "-" else Path(args.passage).read_text()
        elif args.image is not None:
            query["image"] = Path(args.image).read_bytes()
        elif args.audio is not None:
            query["audio"] = MediaBytes.from_file(args.audio)
        elif args.video is not None:
            query["video"] = MediaBytes.from_file(args.video)
        elif args.segment is not None:
            query["segment_id"] = args.segment
    except (OSError, ValueError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    try:
        with connect(args) as client:
            matches = client.search(
                **query,  # type: ignore[arg-type]
                top_k=args.top_k,
                modalities=args.modality,
                stream_ids=args.stream,
                start=args.start,
                end=args.end,
                keywords=args.keyword,
                keyword_mode=args.keyword_mode,
                min_explicit_score=args.min_explicit_score,
            )
    except VigilError as exc:
        print(f"vigil: search failed: {exc}", file=sys.stderr)
        return 1
    for match in matches:
        if args.json:
            print(json.dumps(match.as_json()))
        else:
            found = f"  [{', '.join(match.keyword_hits)}]" if match.keyword_hits else ""
            said = f"  <- {match.matched_sentence!r}" if match.matched_sentence else ""
            print(f"{match.score:6.2f}  {_describe(match.segment)}{found}{said}")
    return 0


@_reports_errors("delete")
def cmd_delete(args: argparse.Namespace) -> int:
    if (args.start is None) != (args.end is None):
        print("vigil: delete takes both --start and --end, or neither (the whole stream)", file=sys.stderr)
        return 2
    with connect(args) as client:
        if args.start is None:
            deleted = client.delete_stream(args.stream_id)
        else:
            deleted = client.delete_segments(args.stream_id, args.start, args.end)
    if args.json:
        print(json.dumps(deleted.as_json()))
    else:
        where = "" if args.start is None else f" ({args.start:g}-{args.end:g} s)"
        print(f"deleted {deleted.segments} segments, {deleted.alerts} alerts and {deleted.archive_entries} archive "
              f"entries of {args.stream_id}{where}")  # fmt: skip
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    with connect(args) as client:
        try:
            if args.wait:
                client.wait_serving(args.wait)
            status = client.health()
        except VigilError as exc:
            print(f"vigil: {exc}", file=sys.stderr)
            return 1
    print(status)
    return 0 if status == "SERVING" else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigil", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default=os.environ.get("VIGIL_SERVER", DEFAULT_SERVER), help="host:port (%(default)s)")
    sub = p.add_subparsers(dest="command", required=True)

    ingest = sub.add_parser("ingest", help="stream a media file (or - for stdin) into the server")
    ingest.add_argument("path", help="file path, or - to read stdin (MPEG-TS unless --format says otherwise)")
    ingest.add_argument("--stream", help="stream id (default: the file name without extension)")
    ingest.add_argument("--format", help="container: mpegts, mp4, webm, matroska, wav, ... (default: from extension)")
    ingest.add_argument("--frame-rate", type=float, default=0.0, help="frames sampled per second (server default 1)")
    ingest.add_argument("--language", default="", help="spoken language, ISO 639-1 (default: detect)")
    ingest.add_argument("--chunk-kib", type=int, default=DEFAULT_CHUNK_BYTES >> 10, help="chunk size (%(default)s)")
    ingest.add_argument("--max-in-flight", type=int, default=64, help="unacknowledged chunks allowed (%(default)s)")
    ingest.add_argument(
        "--json", action="store_true", help="print each indexed segment and alert as one JSON object (alerts: alert_id)"
    )
    ingest.add_argument("--quiet", action="store_true", help="no progress line")
    ingest.add_argument(
        "--pacing",
        choices=["upload", "live", "auto"],
        help="upload: never drop frames (the default for a regular file); live: frames may be dropped when the server "
        "falls behind; auto: the server tells from the timing (the default for stdin and pipes)",
    )
    ingest.set_defaults(run=cmd_ingest)

    search = sub.add_parser("search", help="search indexed segments by text or by example")
    search.add_argument("text", nargs="?", help="what to look for (or give one of the example options)")
    search.add_argument("--image", metavar="FILE", help="find what this image shows (JPEG, PNG, ...)")
    search.add_argument("--audio", metavar="FILE", help="find streams whose speech or sound matches this clip")
    search.add_argument("--video", metavar="FILE", help="find segments about what this clip shows and says")
    search.add_argument("--segment", metavar="ID", help="find segments like this indexed segment")
    search.add_argument("--passage", metavar="FILE", help="a long text (- reads stdin): searched sentence by sentence")
    search.add_argument("--keyword", "--keywords", action="append", default=[], metavar="WORD",
                        help="an exact word or phrase said or shown (repeatable), alone or with a query")  # fmt: skip
    search.add_argument("--keyword-mode", choices=["", "hybrid", "only"], default="",
                        help="hybrid: fuse keywords with the query; only: keyword matches only")  # fmt: skip
    search.add_argument("--min-explicit-score", type=float, default=0.0, metavar="SCORE",
                        help="only frames whose explicit score (0-1) is at least this")  # fmt: skip
    search.add_argument("--top-k", type=int, default=10)
    search.add_argument("--modality", action="append", default=[], choices=sorted(MODALITIES))
    search.add_argument("--stream", action="append", default=[], help="only this stream (repeatable)")
    search.add_argument("--start", type=float, help="only segments ending after this second")
    search.add_argument("--end", type=float, help="only segments starting before this second")
    search.add_argument("--json", action="store_true", help="one JSON object per line")
    search.set_defaults(run=cmd_search)

    delete = sub.add_parser("delete", help="erase a stream's segments, archived hashes and alerts, or a stretch's")
    delete.add_argument("stream_id", help="the stream")
    delete.add_argument("--start", type=float, metavar="SECONDS", help="erase only segments overlapping this stretch")
    delete.add_argument("--end", type=float, metavar="SECONDS", help="(with --start) the stretch's end")
    delete.add_argument("--json", action="store_true", help="print the counts as one JSON object")
    delete.set_defaults(run=cmd_delete)

    health = sub.add_parser("health", help="print SERVING or NOT_SERVING (exit 0 only when SERVING)")
    health.add_argument("--wait", type=float, default=0.0, metavar="SECONDS", help="wait up to this long for SERVING")
    health.set_defaults(run=cmd_health)

    add_hash_sharing_commands(sub, add_moderation_commands(sub))
    add_caption_commands(sub)
    add_connection_flags(p)  # last: every command gets them
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
