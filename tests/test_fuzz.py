"""A bounded, seeded fuzz of every Vigil RPC against the in-process server (fake models; real gRPC,
ffmpeg and Milvus Lite): at least MIN_CALLS malformed calls, then the server must be as it was.

The RPCs are listed from the generated service descriptor, so a new RPC is fuzzed (and counted)
without a change here. Each gets random messages built from its descriptor (absurd numbers, NaN and
infinities, huge texts and lists, bad ids, unknown enum values), truncated and bit-flipped encodings
and raw garbage bytes; the media RPCs (Ingest, Search, AddBankItem, MatchFile) also get real media
made once by ffmpeg (tests/hostile_media.py), cut, bit-flipped, in the wrong format, with a one-day
timestamp jump, as decompression bombs, in chunks out of order, and calls that go idle or are
cancelled. Every call has a deadline. Afterwards: no UNKNOWN or INTERNAL status, no call that ran
into its deadline (but for the idle calls made to), health SERVING, no ffmpeg left, file
descriptors and RSS back near where they were. The counts by status code are printed (and written
as JSON to $VIGIL_FUZZ_OUT when set).
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from tests.hostile_media import GOOD, HostileMedia, bit_flipped, fd_count, make_media, truncated
from tests.inprocess import InProcessServer
from tests.polling import wait_until
from vigil.v1 import vigil_pb2

SEED = 20260901
MIN_CALLS = 2000
RANDOM_PER_RPC = 100  # descriptor-built, truncated and garbage calls for each RPC
MEDIA_CALLS = 600  # calls with media, over the media RPCs
THREADS = 8
DEADLINE_S = 60.0
IDLE_S = 2.0  # the server's --stream-idle-timeout here
OPEN_S = 1.0  # a server-streaming call that stays open is cancelled after this long
MAX_RSS_GROWTH_MIB = 400
FD_TOLERANCE = 16

SERVICE = vigil_pb2.DESCRIPTOR.services_by_name["Vigil"]
METHODS: dict[str, MethodDescriptor] = {m.name: m for m in SERVICE.methods}
MEDIA_RPCS = ("Ingest", "Search", "AddBankItem", "MatchFile")
FORMATS = ("mp4", "mov", "matroska", "mkv", "webm", "flv", "mpegts", "ogg", "wav", "mp3", "flac", "s16le", "f32le")
HOSTILE = ("jump.mkv", "jump.flv", "huge-frames.mkv", "plain.mp4", "7000.png", "20000.png", "small.png", "small.jpg")
FILE_FORMATS = {**GOOD, "jump.mkv": "matroska", "jump.flv": "flv", "huge-frames.mkv": "matroska", "plain.mp4": "mp4"}
MEDIA_FILES = {
    "image": ("small.png", "small.jpg", "small.png", "7000.png", "20000.png"),
    "video": ("clip.mp4", "clip.mkv", "clip.flv", "clip.ts", "jump.mkv", "jump.flv", "huge-frames.mkv", "plain.mp4"),
    "audio": ("tone.wav", "tone.wav", "clip.mkv", "clip.ts"),
}
REFERENCES = (  # (reference kind, the media sent)
    *[(vigil_pb2.REFERENCE_KIND_IMAGE, "image")] * 3,
    *[(vigil_pb2.REFERENCE_KIND_VIDEO, "video")] * 3,
    *[(vigil_pb2.REFERENCE_KIND_AUDIO, "audio")] * 2,
    (vigil_pb2.REFERENCE_KIND_PDQ_HASH, "image"),
    (vigil_pb2.REFERENCE_KIND_FILE_HASH, "video"),
    (0, "video"),
    (77, "image"),
)
FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, 3.4e38, 1e15, 86400.0)
TEXTS = ("", " ", "\n", "a\nb", "\0", "x" * 80, "../../etc/passwd", 'id == "x" || true', "' OR 1=1 --",
         "\U0001f600" * 10, "\u202e", "default", "*", "%s%n", "stream-1", "a" * 129)  # fmt: skip
INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


@dataclass(frozen=True)
class Case:
    method: str
    kind: str  # what the case tries: random, garbage, media, idle, cancel, ...
    requests: tuple[Any, ...]  # messages, or bytes when raw
    raw: bool = False
    idle: bool = False  # the request stream stays open, sending nothing more, until the call ends
    cancel_after: float | None = None
    timeout: float = DEADLINE_S


@dataclass(frozen=True)
class Result:
    case: Case
    code: str
    details: str
    seconds: float


# -- random messages from descriptors


class Fuzzer:
    def __init__(self, rng: random.Random, media: HostileMedia):
        self.rng = rng
        self.media = media
        self.blobs = [media.read(name) for name in [*GOOD, *HOSTILE]]
        self.sane = False  # the message being built: plausible values, one in ten hostile

    def _sane(self, field: FieldDescriptor) -> Any:
        rng = self.rng
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return rng.choice(("fuzz", "fuzz-1", "a red car", "default", "stream-1", "pdq", "md5"))
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.blob()
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return rng.choice((0.0, 0.5, 1.0, 5.0, 30.0))
        if kind == FieldDescriptor.TYPE_ENUM:
            return rng.choice([v.number for v in field.enum_type.values])
        return rng.randrange(0, 20)

    def text(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return rng.choice(TEXTS)
        if roll < 0.9:
            return "".join(chr(rng.randrange(32, 0x2FF)) for _ in range(rng.randrange(1, 40)))
        return rng.choice("Ab\n") * rng.choice((1000, 70_000, 300_000))  # huge, bounded

    def blob(self) -> bytes:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return rng.randbytes(rng.randrange(0, 2000))
        data = rng.choice(self.blobs)
        if roll < 0.5:
            return data
        return truncated(data, rng.randrange(1 << 30)) if roll < 0.75 else bit_flipped(data, rng.randrange(1 << 30))

    def scalar(self, field: FieldDescriptor) -> Any:
        rng = self.rng
        if self.sane and rng.random() < 0.9:
            return self._sane(field)
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return self.text()
        if kind == FieldDescriptor.TYPE_BYTES:
            return self.blob()
        if kind == FieldDescriptor.TYPE_BOOL:
            return rng.random() < 0.5
        if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return rng.choice(FLOATS) if rng.random() < 0.7 else rng.uniform(-1e6, 1e6)
        if kind == FieldDescriptor.TYPE_ENUM:
            values = [v.number for v in field.enum_type.values]
            return rng.choice([*values, 999, -5])
        low, high = INT_RANGES[kind]
        return rng.choice([0, 1, max(low, -1), low, high, rng.randint(low, high), rng.randrange(0, 100)])

    def message(self, descriptor: Descriptor, depth: int = 0) -> Message:
        message_class = _message_class(descriptor)
        msg = message_class()
        if depth > 3:
            return msg
        for field in descriptor.fields:
            if self.rng.random() < 0.4:
                continue
            with contextlib.suppress(ValueError, TypeError, OverflowError):  # a value the field's Python type refuses
                self._fill(msg, field, depth)
        return msg

    def _fill(self, msg: Message, field: FieldDescriptor, depth: int) -> None:
        rng = self.rng
        target = getattr(msg, field.name)
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if is_message and field.message_type.GetOptions().map_entry:
            entry = field.message_type.fields_by_name
            key_field, value_field = entry["key"], entry["value"]
            for _ in range(rng.choice((1, 3, 200))):
                key = self.scalar(key_field)
                if value_field.type == FieldDescriptor.TYPE_MESSAGE:
                    target[key].CopyFrom(self.message(value_field.message_type, depth + 1))
                else:
                    target[key] = self.scalar(value_field)
            return
        if field.is_repeated:
            count = rng.choice((0, 1, 2, 5, 40)) if rng.random() < 0.9 else rng.choice((300, 3000))
            count = min(count, 3) if self.sane and rng.random() < 0.9 else count
            first = self.message(field.message_type, depth + 1) if is_message else self.scalar(field)
            for _ in range(count):  # duplicates on purpose, with some fresh values
                fresh = rng.random() < 0.3 and count < 100
                if is_message:
                    target.add().CopyFrom(self.message(field.message_type, depth + 1) if fresh else first)
                else:
                    target.append(self.scalar(field) if fresh else first)
            return
        if is_message:
            target.CopyFrom(self.message(field.message_type, depth + 1))
        else:
            setattr(msg, field.name, self.scalar(field))

    # -- cases

    def random_case(self, method: MethodDescriptor) -> Case:
        rng = self.rng
        count = rng.choice((0, 1, 2, 4)) if method.client_streaming else 1
        self.sane = rng.random() < 0.5
        messages = tuple(self.message(method.input_type) for _ in range(count))
        roll = rng.random()
        if roll < 0.65:
            return self._for(method, "random", messages)
        if roll < 0.8:
            encoded = tuple(self._damaged(m.SerializeToString()) for m in messages)
            return self._for(method, "damaged-encoding", encoded, raw=True)
        garbage = (rng.randbytes(rng.randrange(0, 3000)), b"\x0a\x02\xff\xfe", b"\xff" * 11, b"\x08")
        picked = tuple(rng.choice(garbage) for _ in range(max(count, 1)))
        return self._for(method, "garbage", picked, raw=True)

    def _damaged(self, data: bytes) -> bytes:
        if not data or self.rng.random() < 0.5:
            return truncated(data + b"\x12\x05ab", self.rng.randrange(1 << 30))
        return bit_flipped(data, self.rng.randrange(1 << 30), flips=self.rng.randint(1, 4))

    def _for(self, method: MethodDescriptor, kind: str, requests: tuple[Any, ...], raw: bool = False) -> Case:
        # A server-streaming call may rightly stay open (a valid Watch): cancelled after OPEN_S.
        return Case(method.name, kind, requests, raw, cancel_after=OPEN_S if method.server_streaming else None)

    def media_bytes(self, kind: str) -> tuple[str, bytes]:
        """A file of the kind (image, video or audio), as it is or damaged: (its format, or a wrong one; the bytes)."""
        rng = self.rng
        name = rng.choice(MEDIA_FILES[kind])
        data = self.media.read(name)
        fmt = FILE_FORMATS.get(name, "png")
        roll = rng.random()
        if roll < 0.3:
            data = bit_flipped(data, rng.randrange(1 << 30))
        elif roll < 0.45:
            data = truncated(data, rng.randrange(1 << 30))
        elif roll < 0.5:
            data = rng.randbytes(len(data) // 4 + 1)
        elif roll < 0.55:
            data = rng.randbytes(64) + data
        if rng.random() < 0.1:
            fmt = rng.choice((*FORMATS, "gif", "", "x" * 200))
        return fmt, data

    def chunks(self, data: bytes, message: Callable[[vigil_pb2.MediaChunk], Any]) -> list[Any]:
        rng = self.rng
        size = rng.choice((1 << 10, 16 << 10, 64 << 10, 1 << 20))
        pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
        sequences = list(range(len(pieces)))
        roll = rng.random()
        if roll < 0.08 and len(pieces) > 1:
            i = rng.randrange(len(pieces) - 1)
            sequences[i], sequences[i + 1] = sequences[i + 1], sequences[i]  # out of order
        elif roll < 0.12:
            sequences = [s + rng.choice((1, 5, 2**40)) for s in sequences]  # a gap from the start
        elif roll < 0.16:
            sequences[-1] = max(0, sequences[-1] - 1)  # a repeat
        return [message(vigil_pb2.MediaChunk(sequence=s, data=p)) for s, p in zip(sequences, pieces, strict=True)]

    def hostile(self, sane: Any, *absurd: Any) -> Any:
        """Mostly the sane value; one time in eight an absurd one."""
        return self.rng.choice(absurd) if self.rng.random() < 0.125 else sane

    def media_case(self) -> Case:
        rng = self.rng
        method = rng.choice(MEDIA_RPCS)
        roll = rng.random()
        kind = "idle" if roll < 0.04 else "cancel" if roll < 0.1 else "media"
        cancel = rng.uniform(0.05, 1.5) if kind == "cancel" else None
        if method == "Search":
            which = rng.choice(("image", "video", "audio"))
            fmt, data = self.media_bytes(which)
            request = vigil_pb2.SearchRequest(top_k=self.hostile(5, 0, 10_000, 2**32 - 1))
            if which == "image":
                request.image = data
            else:
                getattr(request, which).CopyFrom(vigil_pb2.MediaClip(data=data, format=fmt))
            return Case("Search", kind if kind == "cancel" else "media", (request,), cancel_after=cancel)
        if method == "Ingest":
            fmt, data = self.media_bytes(rng.choice(("video", "video", "audio")))
            config = vigil_pb2.StreamConfig(
                stream_id=f"fuzz-{rng.randrange(60)}", format=fmt,
                frame_rate=self.hostile(rng.choice((1.0, 2.0, 5.0)), 0.0, 30.0, math.nan, math.inf, 1e9, -1.0),
                sample_rate=self.hostile(0, 16000, 2**32 - 1), channels=self.hostile(0, 2, 1000),
                time_offset=self.hostile(0.0, 1e6, math.nan, -5.0, 1e308), pacing=rng.choice((0, 1, 2)),
            )  # fmt: skip
            first: list[Any] = [vigil_pb2.IngestRequest(config=config)]
            body = [] if kind == "idle" else self.chunks(data, lambda c: vigil_pb2.IngestRequest(chunk=c))
            return Case("Ingest", kind, tuple(first + body), idle=kind == "idle", cancel_after=cancel,
                        timeout=30.0 if kind == "idle" else DEADLINE_S)  # fmt: skip
        ref, media_kind = rng.choice(REFERENCES)
        fmt, data = self.media_bytes(media_kind)
        if method == "AddBankItem":
            header: Any = vigil_pb2.AddBankItemRequest(header=vigil_pb2.BankItemHeader(
                bank=self.hostile("fuzz", "", "x" * 5000), kind=ref, format=fmt,
                label=self.hostile("a fuzzed item", self.text()),
                archive_window=self.hostile(0.0, 60.0, 1e308, math.nan, -1.0)))  # fmt: skip
            wrap: Callable[[vigil_pb2.MediaChunk], Any] = lambda c: vigil_pb2.AddBankItemRequest(chunk=c)  # noqa: E731
        else:
            header = vigil_pb2.MatchFileRequest(header=vigil_pb2.MatchFileHeader(kind=ref, format=fmt))
            wrap = lambda c: vigil_pb2.MatchFileRequest(chunk=c)  # noqa: E731
        body = [] if kind == "idle" else self.chunks(data, wrap)
        # No server idle timeout for these (they hold no stream slot): an idle one ends at its own short deadline.
        return Case(method, kind, (header, *body), idle=kind == "idle", cancel_after=cancel,
                    timeout=4.0 if kind == "idle" else DEADLINE_S)  # fmt: skip


_CLASSES: dict[str, type[Message]] = {}


def _message_class(descriptor: Descriptor) -> type[Message]:
    from google.protobuf import message_factory

    if descriptor.full_name not in _CLASSES:
        _CLASSES[descriptor.full_name] = message_factory.GetMessageClass(descriptor)
    return _CLASSES[descriptor.full_name]


def all_cases(media: HostileMedia) -> list[Case]:
    fuzzer = Fuzzer(random.Random(SEED), media)
    cases = [fuzzer.random_case(method) for method in METHODS.values() for _ in range(RANDOM_PER_RPC)]
    cases += [fuzzer.media_case() for _ in range(MEDIA_CALLS)]
    cases += [Case(name, "empty", (b"",) if not m.client_streaming else (), raw=True,
                   cancel_after=OPEN_S if m.server_streaming else None) for name, m in METHODS.items()]  # fmt: skip
    random.Random(SEED + 1).shuffle(cases)
    return cases


# -- calling


def call(channel: grpc.Channel, case: Case) -> Result:
    method = METHODS[case.method]
    path = f"/{SERVICE.full_name}/{method.name}"
    serialize: Callable[[Any], bytes] = (lambda b: b) if case.raw else (lambda m: m.SerializeToString())
    kinds = {(False, False): channel.unary_unary, (False, True): channel.unary_stream,
             (True, False): channel.stream_unary, (True, True): channel.stream_stream}  # fmt: skip
    multicallable = kinds[(method.client_streaming, method.server_streaming)](
        path, request_serializer=serialize, response_deserializer=lambda b: b
    )
    ended = threading.Event()

    def requests() -> Iterator[Any]:
        yield from case.requests
        if case.idle:
            ended.wait(case.timeout + 5)

    request: Any = requests() if method.client_streaming else case.requests[0]
    began = time.monotonic()
    timer: threading.Timer | None = None
    try:
        if method.server_streaming:
            responses = multicallable(request, timeout=case.timeout)
            if case.cancel_after is not None:
                timer = threading.Timer(case.cancel_after, responses.cancel)
                timer.start()
            for _ in responses:
                pass
        elif case.cancel_after is not None:
            future = multicallable.future(request, timeout=case.timeout)
            try:
                future.result(timeout=case.cancel_after)
            except grpc.FutureTimeoutError:
                future.cancel()
                future.result()
        else:
            multicallable(request, timeout=case.timeout)
        code, details = "OK", ""
    except grpc.FutureCancelledError:
        code, details = "CANCELLED", "cancelled by the test"
    except grpc.RpcError as error:
        code, details = error.code().name, error.details() or ""
    finally:
        ended.set()
        if timer is not None:
            timer.cancel()
    return Result(case, code, details, time.monotonic() - began)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def is_hang(result: Result) -> bool:
    """A call that ran into its own deadline, but for the idle calls made to (Ingest's end by the server's timeout)."""
    if result.code != "DEADLINE_EXCEEDED":
        return False
    if "--stream-idle-timeout" in result.details:
        return False  # the server ended an idle Ingest call: what it should do
    return not (result.case.idle and result.case.method != "Ingest")


@pytest.fixture(scope="module")
def fuzz_media(tmp_path_factory: pytest.TempPathFactory) -> HostileMedia:
    return make_media(tmp_path_factory.mktemp("fuzz-media"))


def test_fuzz_every_rpc(tmp_path: Path, fuzz_media: HostileMedia) -> None:
    cases = all_cases(fuzz_media)
    assert len(cases) >= MIN_CALLS
    args = ["--stream-idle-timeout", f"{IDLE_S:g}", "--decode-stall-timeout", "10", "--max-spool-mib", "2"]
    server = InProcessServer(tmp_path / "data", args).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            warm_up = [Case("ListBanks", "warm-up", (vigil_pb2.ListBanksRequest(),))]
            warm_up += [Case("Ingest", "warm-up", (vigil_pb2.IngestRequest(config=vigil_pb2.StreamConfig(
                stream_id="warm-up", format="matroska")),
                vigil_pb2.IngestRequest(chunk=vigil_pb2.MediaChunk(data=fuzz_media.read("clip.mkv")))))]  # fmt: skip
            assert [call(channel, case).code for case in warm_up] == ["OK", "OK"]
            fds, rss = fd_count(), rss_mib()
            began = time.monotonic()
            with ThreadPoolExecutor(THREADS) as pool:
                results = list(pool.map(lambda case: call(channel, case), cases))
            seconds = time.monotonic() - began
            serving = server.health() == health_pb2.HealthCheckResponse.SERVING
            children_gone = wait_until(lambda: not server.children(), 60)
            fds_back = wait_until(lambda: fd_count() <= fds + FD_TOLERANCE, 60)
            fds_after, rss_after = fd_count(), rss_mib()
    finally:
        server.stop()
    report(results, seconds, fds, fds_after, rss, rss_after)
    by_method = collections.Counter(r.case.method for r in results)
    assert set(by_method) == set(METHODS), "every RPC is fuzzed"
    bad = [r for r in results if r.code in ("UNKNOWN", "INTERNAL")]
    assert not bad, [describe(r) for r in bad[:10]]
    hangs = [r for r in results if is_hang(r)]
    assert not hangs, [describe(r) for r in hangs[:10]]
    idle_ingests = [r for r in results if r.case.idle and r.case.method == "Ingest" and r.code == "DEADLINE_EXCEEDED"]
    assert all("--stream-idle-timeout" in r.details for r in idle_ingests)
    assert serving, "health is SERVING after the fuzz"
    assert children_gone, "every ffmpeg and ffprobe has ended"
    assert fds_back, (fds, fds_after)
    assert rss_after - rss < MAX_RSS_GROWTH_MIB, (rss, rss_after)


def describe(result: Result) -> str:
    case = result.case
    first = case.requests[0] if case.requests else b""
    shown = first[:60] if isinstance(first, bytes) else str(first)[:300]
    return f"{case.method} {case.kind} -> {result.code} {result.details[:200]!r} ({result.seconds:.1f} s): {shown!r}"


def report(results: list[Result], seconds: float, fds: int, fds_after: int, rss: float, rss_after: float) -> None:
    codes = collections.Counter(r.code for r in results)
    by_method: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for r in results:
        by_method[r.case.method][r.code] += 1
    print(f"\nfuzz: {len(results)} calls in {seconds:.0f} s; by status: {dict(codes.most_common())}")
    for name in METHODS:
        print(f"  {name}: {dict(by_method[name].most_common())}")
    print(f"  fds {fds} -> {fds_after}; RSS {rss:.0f} -> {rss_after:.0f} MiB; slowest call "
          f"{max(r.seconds for r in results):.1f} s")  # fmt: skip
    out = os.environ.get("VIGIL_FUZZ_OUT")
    if out:
        summary = {"calls": len(results), "seconds": round(seconds, 1), "by_status": dict(codes),
                   "by_method": {name: dict(counts) for name, counts in by_method.items()},
                   "fds": [fds, fds_after], "rss_mib": [round(rss), round(rss_after)]}  # fmt: skip
        Path(out).write_text(json.dumps(summary, indent=2))
