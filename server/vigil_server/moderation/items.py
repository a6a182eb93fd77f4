"""A reference item's media, decoded once for every signal: a picture, or a clip's frames and audio.

Pictures are also squashed to the decoder's frame size, as stream frames are, so a signal that
compares frames sees the same content. Video is reduced to its distinct frames (see
PdqSignal.distinct_frames) so a long clip of a static scene costs one frame.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from vigil_server.clips import decode_clip, decode_image, squash
from vigil_server.decode import DecodeSettings
from vigil_server.moderation.signals import ItemMedia
from vigil_server.types import AudioClip, BankItemSpec, ReferenceKind, VideoClip

# Reference media limits.
MAX_ITEM_SECONDS = 600.0


class ItemMediaLoader:
    def __init__(self, decode: DecodeSettings, distinct: Callable[[list[np.ndarray]], list[np.ndarray]]):
        self.decode = decode
        self.distinct = distinct  # a video's frames -> its distinct ones

    async def load(self, spec: BankItemSpec) -> ItemMedia:
        if spec.kind is ReferenceKind.IMAGE:
            picture = await asyncio.to_thread(decode_image, spec.data)
            frame = await asyncio.to_thread(squash, picture, self.decode.frame_size)
            return ItemMedia(spec.kind, picture=picture, frames=(frame,))
        clip = (AudioClip if spec.kind is ReferenceKind.AUDIO else VideoClip)(spec.data, spec.format)
        frames, audio = await decode_clip(clip, self.decode, MAX_ITEM_SECONDS)
        kept = await asyncio.to_thread(self.distinct, frames) if frames else []
        return ItemMedia(spec.kind, frames=tuple(kept), audio=audio if audio.size else None)
