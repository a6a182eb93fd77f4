"""`vigil transcript` and `vigil captions`: caption files from a stream's segments, or live as a stream plays.

vigil transcript cam-1 --format vtt -o cam-1.vtt          # what was said (and heard) on a stream
vigil captions talk.ts --stream talk --format srt -o talk.srt
ffmpeg -re -i INPUT -f mpegts - | vigil captions - --stream live-1 > live-1.vtt
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from vigil_client.captions import (
    FORMATS,
    CaptionInfo,
    CaptionProgress,
    CaptionWriter,
    CueOrder,
    StreamState,
    merge_sound,
)
from vigil_client.cli_connection import connect
from vigil_client.client import DEFAULT_CHUNK_BYTES, SegmentInfo, VigilClient
from vigil_client.errors import VigilError
from vigil_client.media import FORMAT_BY_EXTENSION, read_chunks

INTERRUPTED = 130
CONNECT_TIMEOUT_S = 30.0


def _caption_of(segment: SegmentInfo) -> CaptionInfo:
    return CaptionInfo(segment.segment_id, segment.stream_id, segment.modality, True, segment.start, segment.end,
                       segment.text, segment.text, language=segment.language, translation=segment.translation,
                       segment_ids=(segment.segment_id,))  # fmt: skip


def cmd_transcript(args: argparse.Namespace) -> int:
    try:
        with connect(args) as client, ExitStack() as stack:
            out = sys.stdout if args.output in (None, "-") else stack.enter_context(open(args.output, "w"))
            segments = client.iter_segments(args.stream, modalities=["speech", "sound"], start=args.start, end=args.end)
            if args.format == "json":
                for segment in segments:
                    out.write(json.dumps(segment.__dict__) + "\n")
                return 0
            writer = CaptionWriter(out, args.format, translated=args.translation)
            for caption in merge_sound(_caption_of(s) for s in segments):
                writer.write(caption)
            writer.close()
            if writer.cues == 0:
                print(f"vigil: no speech or sound stored for stream {args.stream!r}", file=sys.stderr)
    except VigilError as exc:
        print(f"vigil: transcript failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    return 0


class _Terminal:
    """The interim caption on one line of stderr, rewritten in place; finals as lines of their own."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._shown = False

    def interim(self, caption: CaptionInfo) -> None:
        if self.enabled:
            width = max(20, shutil.get_terminal_size().columns - 1)
            text = caption.text if len(caption.text) <= width else "…" + caption.text[-(width - 1) :]
            sys.stderr.write(f"\r\x1b[2K{text}")
            sys.stderr.flush()
            self._shown = True

    def final(self, caption: CaptionInfo) -> None:
        if self.enabled:
            self.clear()
            sys.stderr.write(f"{caption.text}\n")
            sys.stderr.flush()

    def clear(self) -> None:
        if self._shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()
            self._shown = False


class _Ingest(threading.Thread):
    """The Ingest call, on a thread of its own; it ends the caption watch if it fails."""

    def __init__(self, client: VigilClient, chunks: Iterator[bytes], args: argparse.Namespace, fmt: str, stop: Any):
        super().__init__(name="vigil-ingest", daemon=True)
        self.client, self.chunks, self.args, self.fmt, self.stop = client, chunks, args, fmt, stop
        self.error: VigilError | None = None
        self.media_seconds = 0.0

    def run(self) -> None:
        try:
            for event in self.client.ingest(self.chunks, self.args.stream, self.fmt, frame_rate=self.args.frame_rate,
                                            language=self.args.language):  # fmt: skip
                if event.WhichOneof("event") == "summary":
                    self.media_seconds = event.summary.media_seconds
        except VigilError as exc:
            self.error = exc
            self.stop()


def _follow(watch: Any, writer: CaptionWriter, descriptions: CaptionWriter | None, terminal: _Terminal) -> int:
    """Write final captions in time order until the stream has been live and ended; returns the finals written."""
    been_live = False
    order = CueOrder()
    finals = 0
    for event in watch:
        ready: list[CaptionInfo] = []
        if isinstance(event, StreamState):
            been_live = been_live or event.live
            if been_live and not event.live:
                break
        elif isinstance(event, CaptionProgress):
            ready = order.progress(event)
        elif event.kind == "description":
            if descriptions is not None:
                descriptions.write(event)
        elif not event.is_final:
            terminal.interim(event)
        else:
            terminal.final(event)
            ready = order.add(event)
        for caption in ready:
            writer.write(caption)
            finals += 1
    for caption in order.flush():
        writer.write(caption)
        finals += 1
    return finals


def cmd_captions(args: argparse.Namespace) -> int:
    fmt = args.media_format or (
        "mpegts" if args.path == "-" else FORMAT_BY_EXTENSION.get(Path(args.path).suffix.lower())
    )
    if fmt is None:
        print(f"vigil: cannot tell the format of {args.path}; pass --media-format", file=sys.stderr)
        return 2
    args.stream = args.stream or ("stdin" if args.path == "-" else Path(args.path).stem)
    terminal = _Terminal(sys.stderr.isatty() and not args.quiet)
    began = time.monotonic()
    try:
        with ExitStack() as stack:
            source = sys.stdin.buffer if args.path == "-" else stack.enter_context(open(args.path, "rb"))
            out: TextIO = sys.stdout if args.output in (None, "-") else stack.enter_context(open(args.output, "w"))
            described = stack.enter_context(open(args.descriptions, "w")) if args.descriptions else None
            client = stack.enter_context(connect(args))
            finals_only = not terminal.enabled  # interims cost the server a transcription each
            captions = client.watch_captions(
                args.stream, descriptions=described is not None, finals_only=finals_only, replay=0
            )
            watch = stack.enter_context(captions)
            if not watch.wait_connected(CONNECT_TIMEOUT_S):
                next(iter(watch))  # raises the call's error
            writer = CaptionWriter(out, args.format, translated=args.translation)
            descriptions = CaptionWriter(described, "vtt", kind="descriptions") if described is not None else None
            ingest = _Ingest(client, read_chunks(source, DEFAULT_CHUNK_BYTES), args, fmt, watch.cancel)
            ingest.start()
            try:
                finals = _follow(watch, writer, descriptions, terminal)
            finally:
                terminal.clear()
            ingest.join()
            writer.close()
    except KeyboardInterrupt:
        return INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except VigilError as exc:
        print(f"vigil: captions failed: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    if ingest.error is not None:
        print(f"vigil: ingest failed: {ingest.error}", file=sys.stderr)
        return 1
    print(f"{args.stream}: {ingest.media_seconds:.1f} s of media, {finals} final captions "
          f"({writer.cues} cues) in {time.monotonic() - began:.1f} s", file=sys.stderr)  # fmt: skip
    return 0


def add_caption_commands(sub: Any) -> None:
    """Add `transcript` and `captions` to the `vigil` subcommands (`sub`, from add_subparsers)."""
    t = sub.add_parser("transcript", help="write a stream's speech and sound as a caption file (from stored segments)")
    t.add_argument("stream", help="stream id")
    t.add_argument("--format", choices=[*FORMATS, "json"], default="vtt", help="vtt, srt, txt or json (%(default)s)")
    t.add_argument("-o", "--output", help="file to write (default: stdout)")
    t.add_argument("--start", type=float, help="only segments ending after this second")
    t.add_argument("--end", type=float, help="only segments starting before this second")
    t.add_argument("--translation", action="store_true", help="the English translation where there is one")
    t.set_defaults(run=cmd_transcript)

    c = sub.add_parser("captions", help="ingest media and write its captions live, as they become final")
    c.add_argument("path", help="file path, or - to read stdin (MPEG-TS unless --media-format says otherwise)")
    c.add_argument("--stream", help="stream id (default: the file name without extension)")
    c.add_argument("--format", choices=FORMATS, default="vtt", help="caption format: vtt, srt or txt (%(default)s)")
    c.add_argument("-o", "--output", help="caption file to write (default: stdout)")
    c.add_argument("--media-format", help="container: mpegts, mp4, webm, matroska, wav, ... (default: from extension)")
    c.add_argument("--descriptions", metavar="FILE", help="also write frame descriptions at scene changes (WebVTT)")
    c.add_argument("--translation", action="store_true", help="the English translation where there is one")
    c.add_argument("--frame-rate", type=float, default=0.0, help="frames sampled per second (server default 1)")
    c.add_argument("--language", default="", help="spoken language, ISO 639-1 (default: detect)")
    c.add_argument("--quiet", action="store_true", help="no interim captions on the terminal")
    c.set_defaults(run=cmd_captions)
