"""Short media given whole (query examples, reference items): images and clips decoded to arrays.

Clips go through the same decode stage as streams: all their frames (video only, one a second)
and all their audio, within a length limit and a time limit (CLIP_STALLS_ALLOWED times the decode
stall timeout, plus a second per second of media allowed), so a damaged clip cannot hold a call.
Pictures are bounded by their size before they are decoded (decode.MAX_PICTURE_PIXELS).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.decode import MAX_PICTURE_PIXELS, DecodeSettings, MediaDecoder
from vigil_server.errors import InvalidMedia, InvalidRequest, VigilError
from vigil_server.types import AudioClip, VideoClip

MAX_CLIP_SECONDS = 60.0
CLIP_FRAME_RATE = 1.0
MAX_IMAGE_PIXELS = MAX_PICTURE_PIXELS
# A clip's whole decode may take this many decode stall timeouts, plus a second per second of media allowed.
CLIP_STALLS_ALLOWED = 4


def decode_image(data: bytes, field: str = "image") -> np.ndarray:
    """An encoded image (JPEG, PNG, ...) as uint8 HxWx3 RGB; `field` names it in errors.

    Its size is read from its header first: one over MAX_IMAGE_PIXELS is refused before any pixel is decoded.
    """
    from PIL import Image

    limit = f"the server decodes at most {MAX_IMAGE_PIXELS / 1e6:g} MP: scale it down"
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise InvalidRequest(
                    f"the image ({field}) is {image.width}x{image.height} pixels; {limit}", field=field
                )
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except VigilError:
        raise
    except Image.DecompressionBombError:
        raise InvalidRequest(
            f"the image ({field}) declares far more pixels than it may; {limit}", field=field
        ) from None
    except Exception as exc:  # damaged bytes make PIL raise nearly anything
        detail = str(exc)[:80]
        raise InvalidMedia(
            f"the image ({field}) cannot be decoded ({type(exc).__name__}: {detail}); send JPEG, PNG, WebP, BMP or "
            "GIF bytes",
            field=field,
        ) from exc


def squash(image: np.ndarray, size: int) -> np.ndarray:
    """A picture resized to size x size, as the decoder squashes frames (no crop)."""
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((size, size), Image.Resampling.BILINEAR))


async def decode_clip(
    clip: AudioClip | VideoClip, settings: DecodeSettings, max_seconds: float = MAX_CLIP_SECONDS
) -> tuple[list[np.ndarray], np.ndarray]:
    """All frames (video clips only, 1 per second) and all audio of a short clip."""
    decoded = await decode_clip_full(clip, settings, max_seconds)
    return decoded.frames, decoded.audio


@dataclass(frozen=True)
class DecodedClip:
    frames: list[np.ndarray]  # video clips: 1 per second, squashed like stream frames
    audio: np.ndarray  # float32 mono at 16 kHz
    described: list[Any]  # what `describe` said of each frame, in order
    frame_rate: float  # the video's own frames per second, 0 if unknown


# Called with each frame's time (seconds from the first frame), the frame as squashed, and the frame
# at its own size (None when the size is unknown).
DescribeFrame = Callable[[float, np.ndarray, np.ndarray | None], Awaitable[Any]]


async def decode_clip_full(
    clip: AudioClip | VideoClip,
    settings: DecodeSettings,
    max_seconds: float = MAX_CLIP_SECONDS,
    describe: DescribeFrame | None = None,
) -> DecodedClip:
    """As decode_clip; with `describe`, each video frame is also decoded at its own size and
    described as it arrives (full frames are too big to keep for a long clip), and frames are
    sampled as Meta's vPDQ hasher samples a file: one every int(the video's fps) frames."""
    full_frames = describe is not None and isinstance(clip, VideoClip)
    decoder = MediaDecoder(clip.format, CLIP_FRAME_RATE, settings, full_frames=full_frames, by_count=full_frames)
    frames: list[np.ndarray] = []
    described: list[Any] = []
    blocks: list[np.ndarray] = []
    too_long = f"clips may be at most {max_seconds:g} s long"

    async def read_frames() -> None:
        async for frame, full in decoder.frames_and_full():
            if len(frames) >= max_seconds * CLIP_FRAME_RATE:
                raise InvalidRequest(too_long)
            if isinstance(clip, VideoClip):
                if describe is not None:
                    described.append(await describe(decoder.frame_time(len(frames)), frame, full))
                frames.append(frame)

    async def read_audio() -> None:
        samples = 0
        async for block in decoder.audio():
            samples += block.size
            if samples > max_seconds * SAMPLE_RATE:
                raise InvalidRequest(too_long)
            blocks.append(block)

    async def feed() -> None:
        await decoder.feed(clip.data)
        await decoder.finish()

    # The feeder blocks while ffmpeg's output is unread, so a reader that gives up (clip too
    # long) must stop the feeder too: wait for the first failure, not in order.
    tasks = [asyncio.create_task(feed()), asyncio.create_task(read_frames()), asyncio.create_task(read_audio())]
    budget_s = CLIP_STALLS_ALLOWED * settings.stall_s + max_seconds
    try:
        async with asyncio.timeout(budget_s):
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
            await decoder.wait()
    except TimeoutError:
        raise InvalidMedia(
            f"the {clip.format} clip took more than {budget_s:g} s to decode: the media is damaged, or not what its "
            "format says"
        ) from None
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await decoder.close()
    audio = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return DecodedClip(frames, audio, described, decoder.video_frame_rate)
