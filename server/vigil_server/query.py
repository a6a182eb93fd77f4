"""Query stage: turn any query item into one vector of the shared space.

- text: the text encoder;
- an image: the frame encoder, as if it were a frame of a stream;
- an audio clip: its speech (transcribed, translated to English when needed, then embedded as
  text) and its non-speech sound (tagged), averaged;
- a video clip: its sampled frames, plus its audio as above, averaged;
- a stored segment: its own vector.

Clips are decoded by the same decode stage as streams, and are limited in size and length.
"""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

import numpy as np

from vigil_server.decode import AUDIO_RATE, MediaDecoder
from vigil_server.errors import InvalidMedia, InvalidRequest, NotFound
from vigil_server.segment import SpeechSegmenter
from vigil_server.types import AudioClip, ImageItem, QueryItem, SegmentRef, TextItem, VideoClip

if TYPE_CHECKING:
    from vigil_server.pipeline import Pipeline

MAX_CLIP_SECONDS = 60.0
CLIP_FRAME_RATE = 1.0
MAX_IMAGE_PIXELS = 50_000_000


def normalise(vectors: list[np.ndarray]) -> np.ndarray:
    """The unit-length mean of some vectors."""
    mean = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        raise InvalidRequest("the query's parts cancel out; try a more specific query")
    result: np.ndarray = (mean / norm).astype(np.float32)
    return result


def decode_image(data: bytes) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise InvalidRequest(f"the query image has {image.width}x{image.height} pixels; the limit is 50 MP")
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise InvalidMedia(
            f"the query image cannot be decoded ({exc}); send JPEG, PNG, WebP, BMP or GIF bytes"
        ) from exc


async def embed_query(pipeline: Pipeline, item: QueryItem, tenant: str) -> np.ndarray:
    if isinstance(item, TextItem):
        vector: np.ndarray = await pipeline.text.submit(item.text, wait=False)
        return vector
    if isinstance(item, ImageItem):
        image = await asyncio.to_thread(decode_image, item.data)
        vector, _ = await pipeline.image.submit(image, wait=False)
        return vector
    if isinstance(item, SegmentRef):
        found = await asyncio.to_thread(pipeline.store.get, item.segment_id, tenant)
        if found is None:
            raise NotFound(f"no segment with id {item.segment_id!r} is stored")
        return found[1]
    frames, audio = await decode_clip(pipeline, item)
    parts: list[np.ndarray] = []
    if isinstance(item, VideoClip) and frames:
        parts.append(normalise([v for v, _ in await pipeline.image.submit_many(frames, wait=False)]))
    parts += await embed_audio(pipeline, audio)
    if not parts:
        kind = "video frames, speech or sound" if isinstance(item, VideoClip) else "speech or sound"
        raise InvalidMedia(f"no {kind} found in the query clip")
    return normalise(parts)


async def decode_clip(
    pipeline: Pipeline, clip: AudioClip | VideoClip, max_seconds: float = MAX_CLIP_SECONDS
) -> tuple[list[np.ndarray], np.ndarray]:
    """All frames (video clips only, 1 per second) and all audio of a short clip."""
    decoder = MediaDecoder(clip.format, CLIP_FRAME_RATE, pipeline.settings.decode)
    frames: list[np.ndarray] = []
    blocks: list[np.ndarray] = []
    too_long = f"clips may be at most {max_seconds:g} s long"

    async def read_frames() -> None:
        async for frame in decoder.frames():
            if len(frames) >= max_seconds * CLIP_FRAME_RATE:
                raise InvalidRequest(too_long)
            if isinstance(clip, VideoClip):
                frames.append(frame)

    async def read_audio() -> None:
        samples = 0
        async for block in decoder.audio():
            samples += block.size
            if samples > max_seconds * AUDIO_RATE:
                raise InvalidRequest(too_long)
            blocks.append(block)

    async def feed() -> None:
        await decoder.feed(clip.data)
        await decoder.finish()

    # The feeder blocks while ffmpeg's output is unread, so a reader that gives up (clip too
    # long) must stop the feeder too: wait for the first failure, not in order.
    tasks = [asyncio.create_task(feed()), asyncio.create_task(read_frames()), asyncio.create_task(read_audio())]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            task.result()
        await decoder.wait()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await decoder.close()
    audio = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)
    return frames, audio


async def embed_audio(pipeline: Pipeline, audio: np.ndarray) -> list[np.ndarray]:
    """One vector for the clip's speech and one for its sound, where there is any."""
    if audio.size == 0:
        return []
    segmenter = SpeechSegmenter(pipeline.detector, pipeline.transcriber, "")
    spans = await segmenter.push(audio) + await segmenter.flush()
    windows = await pipeline.sound.submit(audio, wait=False)
    parts = []
    if spans:
        texts = [" ".join(s.translation or s.text for s in spans)]
        parts.append((await pipeline.text.submit_many(texts, wait=False))[0])
    if windows and pipeline.audio is not None:
        pieces = [audio[int(w.start * AUDIO_RATE) : int(w.end * AUDIO_RATE)] for w in windows]
        parts.append(normalise(list(await pipeline.audio.submit_many(pieces, wait=False))))
    elif windows:
        parts.append(normalise([w.vector for w in windows]))
    return parts
