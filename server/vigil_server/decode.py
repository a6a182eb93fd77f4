"""Decode stage: media bytes in, sampled RGB frames and 16 kHz mono audio out, while they arrive.

Bytes go to a real ffmpeg process (its command line built with ffmpeg-python) through stdin;
frames come back on stdout as raw RGB and audio on a second pipe as float32 PCM. Which outputs
to ask for depends on the streams present, so container input is first fed to ffprobe until it
has seen enough to list the streams; those bytes are kept and replayed into ffmpeg.

Frames are sampled at the stream's frame rate from the first video frame on: frame i is the last
decoded frame at or before i / frame_rate (ffmpeg's fps filter rounding up), so at 1 per second a
25 fps video gives its frames 0, 25, 50, ..., the ones Meta's vPDQ hasher picks. The fps filter
repeats a frame to fill a gap in the timestamps, so a gap is first cut to MAX_FRAME_GAP_S (and a
jump back to none): a damaged or hostile file whose timestamps jump a day ahead gives a few frames
more, not 86,400. Besides the frame
squashed to FRAME_SIZE x FRAME_SIZE for the models, a decoder made with `full_frames` also yields
each frame at the video's own size (at most FULL_FRAME_MAX_PIXELS): perceptual hashes such as PDQ
need the frame's own aspect and detail to agree with other hashers of the same file
(docs/moderation.md measures it). Both come out of one ffmpeg output, stacked in one raw picture,
so they stay paired.

Plain MP4/MOV keeps its index (`moov`) after the media data (`mdat`) and cannot be decoded from
a pipe. The top-level boxes are sniffed as they arrive: a file whose `moov` (or a fragment's
`moof`) comes first streams as usual; one whose `mdat` comes first is spooled to a temporary
file (at most DecodeSettings.max_spool_bytes) and decoded when the stream ends.

Damaged media must end in bounded time and memory: pictures larger than `max_pixels` are refused
(from the probe's size, and by the decoder itself for a size that changes mid-stream), and a
watchdog ends the decode when ffmpeg (or ffprobe) owes progress for `stall_s` seconds: it has
input it does not read, or its input has ended, while every reader waits for its output.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import struct
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import ffmpeg  # ffmpeg-python: builds the command lines
import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.errors import InvalidMedia, InvalidRequest, TooLarge

log = logging.getLogger(__name__)

# Stream format name -> ffmpeg demuxer name.
CONTAINER_FORMATS = {
    "mpegts": "mpegts",
    "mp4": "mp4",
    "mov": "mov",
    "webm": "webm",
    "matroska": "matroska",
    "mkv": "matroska",
    "flv": "flv",
    "ogg": "ogg",
    "wav": "wav",
    "mp3": "mp3",
    "flac": "flac",
}
RAW_PCM_FORMATS = {"s16le", "f32le"}
FORMATS = frozenset(CONTAINER_FORMATS) | RAW_PCM_FORMATS
SNIFFED_FORMATS = {"mp4", "mov"}

AUDIO_BLOCK_SECONDS = 0.5
FRAME_SIZE = 224  # frames are scaled (not cropped) to FRAME_SIZE x FRAME_SIZE RGB
# Full frames (for perceptual hashing) larger than this are scaled down, keeping their aspect:
# 1920x1080 and smaller pass at their own size, as Meta's vPDQ hasher reads them.
FULL_FRAME_MAX_PIXELS = 1920 * 1080
PROBE_SIZE = 1 << 20  # bytes ffprobe/ffmpeg may read to find the streams
ANALYZE_US = 2_000_000  # microseconds of media they may read for the same
MAX_PROBE_BYTES = 32 << 20  # give up finding streams after this many bytes
STDERR_TAIL = 2000  # characters of ffmpeg's complaints kept for the error message
# Decoded audio read ahead of the audio consumer before ffmpeg is made to wait (asyncio pauses the pipe at
# twice a reader's limit): 512 KiB, 8 s at 16 kHz float32, so a brief stall of the audio path does not
# hold up the frames (both come out of one ffmpeg) while a stream's buffered audio stays bounded.
AUDIO_READ_AHEAD = 1 << 19
# A gap in a video's timestamps is cut to this many seconds before frames are sampled (fps repeats frames to fill it).
MAX_FRAME_GAP_S = 5.0
# The largest picture decoded (video frames, query images, bank pictures): 40 MP, e.g. 8000x5000.
MAX_PICTURE_PIXELS = 40_000_000
MiB = 1 << 20


@dataclass(frozen=True)
class DecodeSettings:
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    frame_size: int = FRAME_SIZE
    full_frame_max_pixels: int = FULL_FRAME_MAX_PIXELS  # full frames (MediaDecoder full_frames) at most this big
    spool_dir: Path | None = None  # where plain MP4 is spooled; None: the system temp dir
    max_spool_bytes: int = 1024 * MiB  # a spooled stream larger than this ends with TooLarge (--max-spool-mib)
    stall_s: float = 30.0  # ffmpeg owing progress this long ends the decode (--decode-stall-timeout)
    max_pixels: int = MAX_PICTURE_PIXELS  # video frames larger than this are refused


@dataclass(frozen=True)
class MediaStreams:
    has_video: bool
    has_audio: bool
    aspect: float = 0.0  # display width / height of the video, when the probe knew it
    width: int = 0  # the video's coded size in pixels (0: unknown)
    height: int = 0
    frame_rate: float = 0.0  # the video's own frames per second (0: unknown)

    def full_size(self, max_pixels: int = FULL_FRAME_MAX_PIXELS) -> tuple[int, int] | None:
        """The size full frames are decoded at: the video's own, scaled down to max_pixels; None if unknown."""
        if not (self.has_video and self.width > 0 and self.height > 0):
            return None
        scale = min(1.0, (max_pixels / (self.width * self.height)) ** 0.5)
        return max(2, round(self.width * scale / 2) * 2), max(2, round(self.height * scale / 2) * 2)


class _Mp4Sniffer:
    """Reads top-level ISO-BMFF box headers until it can tell whether the index comes first."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.offset = 0  # of the next box header in buffer

    def feed(self, data: bytes) -> bool | None:
        """True: streamable (moov/moof first); False: needs spooling (mdat first); None: undecided."""
        self.buffer += data
        while len(self.buffer) - self.offset >= 8:
            size, kind = struct.unpack_from(">I4s", self.buffer, self.offset)
            if not all(32 <= c < 127 for c in kind):
                raise InvalidMedia(f"not an MP4/MOV stream: no box header at byte {self.offset}")
            if kind in (b"moov", b"moof"):
                return True
            if kind == b"mdat":
                return False
            if size == 1:
                if len(self.buffer) - self.offset < 16:
                    return None
                size = struct.unpack_from(">Q", self.buffer, self.offset + 8)[0]
            if size < 8:
                raise InvalidMedia(f"not an MP4/MOV stream: bad box {kind!r} of size {size} at byte {self.offset}")
            self.offset += size
        if self.offset > MAX_PROBE_BYTES:
            raise InvalidMedia("not an MP4/MOV stream: no moov or mdat box in the first 32 MiB")
        return None


# setpts: the first frame at 0, each next one after its predecessor by their own distance, cut to
# [0, MAX_FRAME_GAP_S] (no timestamp, or one going back: the same time). Without gaps: PTS - STARTPTS.
GAP_CUT_PTS = (
    f"if(isnan(PREV_OUTPTS),0,PREV_OUTPTS+if(isnan(PTS-PREV_INPTS),0,clip(PTS-PREV_INPTS,0,{MAX_FRAME_GAP_S:g}/TB)))"
)


def ffmpeg_args(
    source: str,
    fmt: str,
    streams: MediaStreams,
    frame_rate: float,
    frame_size: int,
    audio_fd: int,
    pcm: tuple[int, int],
    full_size: tuple[int, int] | None = None,
    frame_step: int = 0,
    max_pixels: int = MAX_PICTURE_PIXELS,
) -> list[str]:
    """The ffmpeg command line: frames to stdout, audio to `pipe:audio_fd`.

    With `full_size` each frame on stdout is one RGB picture of max(width, frame_size) columns:
    the squashed frame in the first frame_size rows, the full frame (width x height) below it.
    With `frame_step` frames are sampled by count, one every frame_step decoded frames from the
    first, instead of by time at frame_rate. Frames over `max_pixels` are not decoded.
    """
    input_args: dict[str, object] = {"format": fmt, "max_pixels": max_pixels}
    if fmt in RAW_PCM_FORMATS:
        input_args.update(ar=pcm[0], ac=pcm[1])
    else:
        input_args.update(probesize=PROBE_SIZE, analyzeduration=ANALYZE_US)
    src = ffmpeg.input(source, **input_args)
    outputs = []
    if streams.has_video:
        if frame_step:
            video = src.video.filter("framestep", step=frame_step)
        else:
            video = src.video.filter("setpts", GAP_CUT_PTS).filter("fps", fps=frame_rate, round="up")
        if full_size is None:
            video = video.filter("scale", frame_size, frame_size)
        else:
            width, height = full_size
            columns = max(width, frame_size)
            branches = video.split()
            small = branches[0].filter("scale", frame_size, frame_size).filter("format", "rgb24")
            full = branches[1].filter("scale", width, height, flags="area").filter("format", "rgb24")
            video = ffmpeg.filter(
                [small.filter("pad", columns, frame_size), full.filter("pad", columns, height)], "vstack"
            )
        passthrough = {"fps_mode": "passthrough"} if frame_step else {}  # no frame repeated to keep a rate
        outputs.append(video.output("pipe:1", format="rawvideo", pix_fmt="rgb24", **passthrough))
    if streams.has_audio:
        outputs.append(src.audio.output(f"pipe:{audio_fd}", format="f32le", ac=1, ar=SAMPLE_RATE))
    return list(ffmpeg.merge_outputs(*outputs).global_args("-hide_banner", "-loglevel", "error", "-nostats").get_args())


class MediaDecoder:
    """Feeds one stream's bytes to ffmpeg and yields its frames and audio blocks.

    Use: `feed()` each chunk, `finish()` at the end of the stream; consume `frames()` and
    `audio()` concurrently; `wait()` for the exit status; `close()` always (kills ffmpeg).
    """

    def __init__(
        self,
        fmt: str,
        frame_rate: float,
        settings: DecodeSettings,
        pcm: tuple[int, int] = (0, 0),
        full_frames: bool = False,
        by_count: bool = False,
    ):
        if fmt not in FORMATS:
            raise InvalidRequest(f"unknown format {fmt!r}; use one of {', '.join(sorted(FORMATS))}")
        self.format = fmt
        self.frame_rate = frame_rate
        self.settings = settings
        self.pcm = pcm
        self.full_frames = full_frames  # also decode each frame at its own size (frames_and_full)
        # Sample one frame every int(video fps / frame_rate) decoded frames, as Meta's vPDQ hasher does,
        # instead of by time (when the video's rate is known): for hashing whole files, not for streams.
        self.by_count = by_count
        self.frame_step = 0  # the step used, once ffmpeg runs; 0: sampled by time
        self.spooled = False
        self.frames_decoded = 0
        self.audio_samples = 0
        self._demuxer = CONTAINER_FORMATS.get(fmt, fmt)
        self._sniffer = _Mp4Sniffer() if fmt in SNIFFED_FORMATS else None
        self._pending = bytearray()  # bytes kept until ffmpeg starts
        self._probe: asyncio.subprocess.Process | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._spool: Path | None = None
        self._spool_file: BinaryIO | None = None
        self._streams: MediaStreams | None = None
        self._started = asyncio.Event()  # ffmpeg runs (or the input failed: see _failure)
        self._input = asyncio.Lock()  # serialises feeding with the start of ffmpeg
        self._failure: Exception | None = None
        self._probe_watch: asyncio.Task[None] | None = None
        self._stderr_tail = ""
        self._stderr_task: asyncio.Task[None] | None = None
        self._audio_reader: asyncio.StreamReader | None = None
        self._audio_transport: asyncio.BaseTransport | None = None
        self._full_size: tuple[int, int] | None = None
        self._spooled_bytes = 0
        # The stall watchdog's view (see the module docstring): when ffmpeg last showed progress, drains in
        # progress, whether its input has ended, and the output readers open and waiting.
        self._progress_at = time.monotonic()
        self._writing = 0
        self._input_done = False
        self._readers = 0
        self._waiting = 0
        self._watchdog: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    # -- input side -------------------------------------------------------------------------

    async def feed(self, data: bytes) -> None:
        async with self._input:
            self._raise_failure()
            await self._feed(data)

    async def finish(self) -> None:
        """The stream has ended: close ffmpeg's input, or decode the spooled file now."""
        async with self._input:
            self._raise_failure()
            await self._finish()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    async def _feed(self, data: bytes) -> None:
        if self._proc is not None:
            await self._write(data)
        elif self.spooled:
            await asyncio.to_thread(self._spool_write, data)
        elif self._sniffer is not None:
            verdict = self._sniffer.feed(data)
            if verdict is not None:
                await self._decided(streamable=verdict)
        elif self.format in RAW_PCM_FORMATS:
            await self._start("pipe:0", MediaStreams(has_video=False, has_audio=True))
            await self._write(data)
        else:
            self._pending += data
            await self._probe_write(bytes(self._pending) if self._probe is None else data)

    async def _finish(self) -> None:
        if self._sniffer is not None:
            if not self._sniffer.buffer:
                raise InvalidMedia("the stream ended before any media arrived")
            await self._decided(streamable=True)  # too short to tell: let ffprobe judge it
        self._input_done = True
        if self.spooled:
            await self._decode_spool()
            return
        if self._proc is None and self._probe is not None:
            await self._finish_probe()
        if self._proc is None:
            raise InvalidMedia("the stream ended before any media arrived")
        assert self._proc.stdin is not None
        if not self._proc.stdin.is_closing():
            self._proc.stdin.close()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                await self._proc.stdin.wait_closed()

    async def _decided(self, streamable: bool) -> None:
        assert self._sniffer is not None
        seen, self._sniffer = bytes(self._sniffer.buffer), None
        if streamable:
            self._pending += seen
            await self._probe_write(seen)
        else:
            await self._begin_spool(seen)

    async def _probe_write(self, data: bytes) -> None:
        """Feed ffprobe (started on the first call); once it has seen enough, start ffmpeg."""
        if self._probe is None:
            limits = ["-probesize", str(PROBE_SIZE), "-analyzeduration", str(ANALYZE_US)]
            self._probe = await asyncio.create_subprocess_exec(
                *self._probe_args("pipe:0", limits),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            self._probe_watch = asyncio.create_task(self._on_probe_exit(self._probe))
            self._watch()
        probe = self._probe
        assert probe.stdin is not None
        try:
            if not probe.stdin.is_closing():  # else the bytes wait in _pending, as these do
                async with self._draining():
                    probe.stdin.write(data)
                    await probe.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # ffprobe has seen enough and stopped reading: _on_probe_exit takes over
        self._raise_failure()
        if len(self._pending) > MAX_PROBE_BYTES:
            raise InvalidMedia(f"no audio or video stream found in the first 32 MiB of {self.format} data")

    async def _on_probe_exit(self, probe: asyncio.subprocess.Process) -> None:
        """Start ffmpeg as soon as ffprobe is done, without waiting for the next chunk."""
        await probe.wait()
        async with self._input:
            if self._probe is not probe:
                return  # finish() got there first
            try:
                self._raise_failure()  # the watchdog stopped it
                await self._finish_probe()
            except Exception as exc:  # noqa: BLE001 - reported to the readers and to the next feed()
                self._failure = self._failure or exc
                self._started.set()

    async def _finish_probe(self) -> None:
        probe = self._probe
        assert probe is not None and probe.stdin is not None
        probe.stdin.close()  # communicate() leaves stdin open when given no input
        out, err = await probe.communicate()
        self._probe = None
        streams = _parse_probe(out, err, self.format, self.settings.max_pixels)
        pending, self._pending = bytes(self._pending), bytearray()
        await self._start("pipe:0", streams)
        await self._write(pending)

    async def _begin_spool(self, seen: bytes) -> None:
        self.spooled = True
        fd, name = tempfile.mkstemp(prefix="vigil-spool-", suffix=f".{self.format}", dir=self.settings.spool_dir)
        self._spool = Path(name)
        self._spool_file = os.fdopen(fd, "wb")
        await asyncio.to_thread(self._spool_write, seen)

    def _spool_write(self, data: bytes) -> None:
        assert self._spool_file is not None
        self._spooled_bytes += len(data)
        if self._spooled_bytes > self.settings.max_spool_bytes:
            limit = self.settings.max_spool_bytes / MiB
            raise TooLarge(
                f"this {self.format} stream keeps its index (moov) after its media (mdat), so it is kept on disk "
                f"until it ends, and it has passed the server's --max-spool-mib limit of {limit:g} MiB; send it "
                "with the index first (ffmpeg -movflags +faststart) or as fragmented MP4 or MPEG-TS",
                field="chunk.data",
            )
        self._spool_file.write(data)

    def _probe_args(self, source: str, limits: list[str] | None = None) -> list[str]:
        """ffprobe listing the streams of `source` as JSON."""
        return [self.settings.ffprobe, "-v", "error", *(limits or []), "-f", self._demuxer,
                "-show_streams", "-of", "json", "-i", source]  # fmt: skip

    async def _decode_spool(self) -> None:
        assert self._spool is not None and self._spool_file is not None
        await asyncio.to_thread(self._spool_file.close)
        probe = await asyncio.create_subprocess_exec(
            *self._probe_args(str(self._spool)), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with asyncio.timeout(self.settings.stall_s or None):
                out, err = await probe.communicate()
        except TimeoutError:
            raise InvalidMedia(
                f"ffprobe could not read the {self.format} file's streams in {self.settings.stall_s:g} s (the "
                "server's --decode-stall-timeout): the media is damaged"
            ) from None
        finally:
            _kill(probe)
        await self._start(str(self._spool), _parse_probe(out, err, self.format, self.settings.max_pixels))

    # -- ffmpeg ----------------------------------------------------------------------------

    async def _start(self, source: str, streams: MediaStreams) -> None:
        read_fd, write_fd = os.pipe()
        self._full_size = streams.full_size(self.settings.full_frame_max_pixels) if self.full_frames else None
        if self.by_count and streams.frame_rate > 0:
            self.frame_step = max(1, int(streams.frame_rate / self.frame_rate))
        try:
            args = ffmpeg_args(
                source,
                self._demuxer,
                streams,
                self.frame_rate,
                self.settings.frame_size,
                write_fd,
                self.pcm,
                self._full_size,
                self.frame_step,
                self.settings.max_pixels,
            )
            args[0:0] = [self.settings.ffmpeg]
            self._proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE if source == "pipe:0" else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(write_fd,),
            )
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        loop = asyncio.get_running_loop()
        reader = self._audio_reader = asyncio.StreamReader(limit=AUDIO_READ_AHEAD // 2)
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        self._audio_transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), pipe)
        self._streams = streams
        self._stderr_task = asyncio.create_task(self._collect_stderr())
        self._progress_at = time.monotonic()
        self._watch()
        self._started.set()

    async def _write(self, data: bytes) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        if not data:
            return
        try:
            async with self._draining():
                self._proc.stdin.write(data)
                await self._proc.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            await self.wait()  # raises with ffmpeg's own complaint when it failed
            raise InvalidMedia(f"the decoder stopped reading the {self.format} stream early") from exc

    async def _collect_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while line := await self._proc.stderr.readline():
            self._stderr_tail = (self._stderr_tail + line.decode(errors="replace"))[-STDERR_TAIL:]

    # -- the stall watchdog ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _draining(self) -> AsyncIterator[None]:
        """Around a write and its drain: ffmpeg owes reading it; done, it has made progress."""
        self._writing += 1
        try:
            yield
            self._progress_at = time.monotonic()
        finally:
            self._writing -= 1

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[None]:
        """Around a read of ffmpeg's output: while every open reader waits, ffmpeg holds the decode up, not us."""
        self._waiting += 1
        try:
            yield
            self._progress_at = time.monotonic()
        finally:
            self._waiting -= 1

    def _watch(self) -> None:
        if self._watchdog is None and self.settings.stall_s > 0:
            self._watchdog = asyncio.create_task(self._watch_progress(), name="decode-watchdog")

    def _owes_progress(self) -> bool:
        """ffprobe has input it does not read; or ffmpeg has (input it does not read, or its input ended) and
        every open reader waits for its output."""
        if self._proc is None:
            return self._probe is not None and self._probe.returncode is None and self._writing > 0
        if self._proc.returncode is not None:
            return False
        return (self._writing > 0 or self._input_done) and self._waiting >= self._readers

    async def _watch_progress(self) -> None:
        stall_s = self.settings.stall_s
        while True:
            await asyncio.sleep(min(1.0, stall_s / 4))
            if not self._owes_progress():
                self._progress_at = time.monotonic()  # the clock runs only while ffmpeg owes progress
            elif time.monotonic() - self._progress_at > stall_s:
                break
        tool = "ffprobe" if self._proc is None else "ffmpeg"
        self._failure = self._failure or InvalidMedia(
            f"{tool} made no progress decoding the {self.format} stream for {stall_s:g} s (the server's "
            "--decode-stall-timeout): the media is damaged or not what the config's format says"
        )
        log.info("decode of %s stalled for %g s: %s stopped", self.format, stall_s, tool)
        for proc in (self._probe, self._proc):
            if proc is not None and proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        self._started.set()

    # -- output side -----------------------------------------------------------------------

    async def frames(self) -> AsyncIterator[np.ndarray]:
        """Sampled frames, frame_size x frame_size x 3 uint8; frame i shows time i / frame_rate."""
        async for frame, _ in self.frames_and_full():
            yield frame

    async def frames_and_full(self) -> AsyncIterator[tuple[np.ndarray, np.ndarray | None]]:
        """Each sampled frame as `frames()` gives it, with the same frame at its own size (uint8 RGB,
        height x width x 3) when the decoder was made with `full_frames` and the video's size is known."""
        await self._started.wait()
        self._raise_failure()
        assert self._proc is not None and self._streams is not None
        if not self._streams.has_video:
            return
        assert self._proc.stdout is not None
        size = self.settings.frame_size
        width, height = self._full_size or (size, 0)
        columns = max(width, size)
        nbytes = columns * (size + height) * 3
        self._readers += 1
        try:
            while True:
                try:
                    async with self._reading():
                        raw = await self._proc.stdout.readexactly(nbytes)
                except asyncio.IncompleteReadError:
                    self._raise_failure()
                    return
                self.frames_decoded += 1
                picture = np.frombuffer(raw, dtype=np.uint8).reshape(size + height, columns, 3)
                if not height:
                    yield picture, None
                else:
                    yield np.ascontiguousarray(picture[:size, :size]), picture[size:, :width]
        finally:
            self._readers -= 1

    async def audio(self) -> AsyncIterator[np.ndarray]:
        """Mono float32 audio at 16 kHz, in blocks of about AUDIO_BLOCK_SECONDS."""
        await self._started.wait()
        self._raise_failure()
        assert self._audio_reader is not None and self._streams is not None
        block = int(SAMPLE_RATE * AUDIO_BLOCK_SECONDS) * 4
        carry = b""
        self._readers += 1
        try:
            while True:
                async with self._reading():
                    data = await self._audio_reader.read(block)
                if not data:
                    self._raise_failure()
                    return
                data = carry + data
                usable = len(data) - len(data) % 4
                carry = data[usable:]
                if usable:
                    samples = np.frombuffer(data[:usable], dtype=np.float32)
                    self.audio_samples += samples.size
                    yield samples
        finally:
            self._readers -= 1

    @property
    def aspect(self) -> float:
        """Display width / height of the video (frames are squashed to a square), 0 if unknown."""
        return self._streams.aspect if self._streams is not None else 0.0

    @property
    def video_frame_rate(self) -> float:
        """The video's own frames per second, 0 if unknown (before ffmpeg started, or no video)."""
        return self._streams.frame_rate if self._streams is not None else 0.0

    def frame_time(self, index: int) -> float:
        """Seconds from the first video frame to sampled frame `index`."""
        if self.frame_step:
            return index * self.frame_step / self.video_frame_rate
        return index / self.frame_rate

    @property
    def media_seconds(self) -> float:
        return max(self.frames_decoded / self.frame_rate, self.audio_samples / SAMPLE_RATE)

    async def wait(self) -> None:
        """Wait for ffmpeg to exit; raise InvalidMedia if it failed or decoded nothing."""
        await self._started.wait()
        self._raise_failure()
        assert self._proc is not None
        code = await self._proc.wait()
        if self._stderr_task is not None:
            await self._stderr_task
        if code != 0:
            detail = self._stderr_tail.strip().splitlines()[-3:]
            raise InvalidMedia(
                f"ffmpeg could not decode the {self.format} stream: {' / '.join(detail) or f'exit {code}'}"
            )

    async def close(self) -> None:
        """Kill whatever is still running, close every pipe and remove the spool file. Safe to call twice.

        Everything is released before the first await, so a close that is cancelled (the call's task
        cancelled again, the server shutting down) leaks nothing; then the processes are reaped.
        """
        for task in (self._probe_watch, self._watchdog):
            if task is not None:
                task.cancel()
        procs = [proc for proc in (self._probe, self._proc) if proc is not None]
        for proc in procs:
            _kill(proc)
        if self._audio_transport is not None:
            self._audio_transport.close()
        if self._spool_file is not None:
            self._spool_file.close()
        if self._spool is not None:
            self._spool.unlink(missing_ok=True)
        for proc in procs:
            await proc.wait()
        if self._stderr_task is not None:
            await asyncio.gather(self._stderr_task, return_exceptions=True)  # its pipe is closed: it ends


def _kill(proc: asyncio.subprocess.Process) -> None:
    """Kill the process (if it runs) and close its pipes at once.

    asyncio has no public call for the second: a child's transport only closes once each of its pipes
    has read to the end, and a stdout paused because its reader fell behind (ffmpeg's output backed
    up) never does, so `wait()` would never return and the pipes and the transport would leak, to
    be closed by the garbage collector after the loop ("Event loop is closed").
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    transport = getattr(proc, "_transport", None)
    if isinstance(transport, asyncio.SubprocessTransport):
        transport.close()


def _parse_probe(out: bytes, err: bytes, fmt: str, max_pixels: int = MAX_PICTURE_PIXELS) -> MediaStreams:
    try:
        listed = json.loads(out or b"{}").get("streams", [])
    except json.JSONDecodeError:
        listed = []
    kinds = {s.get("codec_type") for s in listed}
    video: dict[str, object] = next((s for s in listed if s.get("codec_type") == "video"), {})
    width, height = video.get("width"), video.get("height")
    streams = MediaStreams(
        has_video="video" in kinds,
        has_audio="audio" in kinds,
        aspect=_aspect(video),
        width=width if isinstance(width, int) else 0,
        height=height if isinstance(height, int) else 0,
        frame_rate=_rate(video.get("avg_frame_rate")) or _rate(video.get("r_frame_rate")),
    )
    if streams.width * streams.height > max_pixels:
        raise InvalidMedia(
            f"the {fmt} video's frames are {streams.width}x{streams.height} pixels; the server decodes at most "
            f"{max_pixels / 1e6:g} MP a frame: scale it down first"
        )
    if not (streams.has_video or streams.has_audio):
        detail = err.decode(errors="replace").strip().splitlines()[-2:]
        raise InvalidMedia(
            f"no audio or video stream found in the {fmt} data"
            + (f": {' / '.join(detail)}" if detail else "")
            + "; check that the config's format matches the bytes"
        )
    return streams


def _rate(value: object) -> float:
    """A probed frame rate such as "25/1" or "30000/1001" in frames per second; 0 when absent or 0/0."""
    num, _, den = str(value or "").partition("/")
    try:
        rate = float(num) / float(den or 1)
    except (ValueError, ZeroDivisionError):
        return 0.0
    return rate if rate > 0 and rate < 1000 else 0.0


def _aspect(video: dict[str, object]) -> float:
    """Display aspect ratio of a probed video stream (sample aspect applied), or 0 when unknown."""
    width, height = video.get("width"), video.get("height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        return 0.0
    num, _, den = str(video.get("sample_aspect_ratio", "1:1")).partition(":")
    try:
        sample = float(num) / float(den)
    except (ValueError, ZeroDivisionError):
        sample = 1.0
    return width * (sample if sample > 0 else 1.0) / height
