"""A reference item's media (or a looked-up file's), decoded once for every signal: a picture, or a clip's
frames and audio, and the file's bytes.

Pictures are also squashed to the decoder's frame size, as stream frames are, so a signal that
compares frames sees the same content. Video is reduced to its distinct frames (see
PdqSignal.distinct_frames) so a long clip of a static scene costs one frame; every sampled frame
is also PDQ-hashed at its own size as it is decoded (ItemMedia.frame_pdq), picked and hashed as
Meta's vPDQ hasher does (clips.decode_clip_full), since frames that big are not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from vigil_models.hashing import PdqHash, pdq_hash
from vigil_server.clips import decode_clip_full, decode_image, squash
from vigil_server.decode import DecodeSettings
from vigil_server.moderation.signals import FramePdq, ItemMedia
from vigil_server.types import AudioClip, BankItemSpec, ReferenceKind, VideoClip

# Reference media limits.
MAX_ITEM_SECONDS = 600.0


class ItemMediaLoader:
    def __init__(
        self,
        decode: DecodeSettings,
        distinct: Callable[[list[np.ndarray]], list[np.ndarray]],
        hash_frame: Callable[[np.ndarray], PdqHash] = pdq_hash,
    ):
        self.decode = decode
        self.distinct = distinct  # a video's frames -> its distinct ones
        self.hash_frame = hash_frame  # a frame at its own size -> its PDQ hash

    async def load(self, spec: BankItemSpec) -> ItemMedia:
        return await self.load_media(spec.kind, spec.data, spec.format, MAX_ITEM_SECONDS)

    async def load_media(self, kind: ReferenceKind, data: bytes, fmt: str, max_seconds: float) -> ItemMedia:
        """An image, audio or video file decoded for the signals (blocking work runs in threads)."""
        if kind is ReferenceKind.IMAGE:
            picture = await asyncio.to_thread(decode_image, data, "chunk.data")
            frame = await asyncio.to_thread(squash, picture, self.decode.frame_size)
            return ItemMedia(kind, picture=picture, frames=(frame,), data=data)
        clip = (AudioClip if kind is ReferenceKind.AUDIO else VideoClip)(data, fmt)

        async def hash_full(at: float, frame: np.ndarray, full: np.ndarray | None) -> FramePdq:
            return FramePdq(at, await asyncio.to_thread(self.hash_frame, frame if full is None else full))

        decoded = await decode_clip_full(clip, self.decode, max_seconds, hash_full)
        kept = await asyncio.to_thread(self.distinct, decoded.frames) if decoded.frames else []
        frame_pdq = tuple(decoded.described)
        audio = decoded.audio if decoded.audio.size else None
        return ItemMedia(kind, frames=tuple(kept), audio=audio, data=data, frame_pdq=frame_pdq,
                         frame_rate=decoded.frame_rate)  # fmt: skip
