"""Query stage: turn any query item into one vector of the shared space.

- text: the text encoder;
- an image: the frame encoder, as if it were a frame of a stream;
- an audio clip: its speech (transcribed, translated to English when needed, then embedded as
  text) and its non-speech sound (tagged), averaged;
- a video clip: its sampled frames, plus its audio as above, averaged;
- a stored segment: its own vector.

Clips are decoded by the same decode stage as streams, and are limited in size and length.
Queries never wait for room in a model's queue: a full queue fails them with Overloaded.
"""

from __future__ import annotations

import asyncio

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_server.clips import decode_clip, decode_image
from vigil_server.clock import AudioWindow
from vigil_server.decode import DecodeSettings
from vigil_server.errors import InvalidMedia, NotFound
from vigil_server.index import SegmentIndex
from vigil_server.settings import SpeechSettings
from vigil_server.speech import SpeechRegions, SpeechSegmenter
from vigil_server.types import ImageItem, KeywordsOnly, PassageItem, QueryItem, SegmentRef, TextItem, VideoClip
from vigil_server.vectors import normalise
from vigil_server.workers import ModelWorkers


class QueryEmbedder:
    def __init__(self, workers: ModelWorkers, index: SegmentIndex, decode: DecodeSettings, speech: SpeechSettings):
        self.workers = workers
        self.index = index
        self.decode = decode
        self.speech = speech

    async def embed(self, item: QueryItem, tenant: str) -> np.ndarray:
        if isinstance(item, TextItem):
            return await self.workers.embed_query_text(item.text)  # cached: searches and standing queries repeat
        if isinstance(item, ImageItem):
            image = await asyncio.to_thread(decode_image, item.data)
            vector, _ = await self.workers.embed_frame(image, wait=False)
            return vector
        if isinstance(item, PassageItem | KeywordsOnly):
            raise TypeError("passages and keywords are searched by hybrid.py, not embedded whole")
        if isinstance(item, SegmentRef):
            found = await self.index.get(item.segment_id, tenant)
            if found is None:
                raise NotFound(f"no segment with id {item.segment_id!r} is stored", field="segment_id")
            return found[1]
        frames, audio = await decode_clip(item, self.decode)
        parts: list[np.ndarray] = []
        if isinstance(item, VideoClip) and frames:
            parts.append(normalise([v for v, _ in await self.workers.embed_frames(frames, wait=False)]))
        parts += await self._embed_audio(audio)
        if not parts:
            kind = "video frames, speech or sound" if isinstance(item, VideoClip) else "speech or sound"
            raise InvalidMedia(f"no {kind} found in the query clip")
        return normalise(parts)

    async def _embed_audio(self, audio: np.ndarray) -> list[np.ndarray]:
        """One vector for the clip's speech and one for its sound, where there is any."""
        if audio.size == 0:
            return []
        regions = SpeechRegions(self.workers.scan_speech, self.workers.vad_window, self.speech)
        segmenter = SpeechSegmenter(regions, self.workers.transcribe, "")
        spans = await segmenter.push(AudioWindow(0, audio)) + await segmenter.flush()
        windows = await self.workers.tag_sound(audio, wait=False)
        parts = []
        if spans:
            parts.append(await self.workers.embed_text(" ".join(s.translation or s.text for s in spans), wait=False))
        if windows and self.workers.embeds_sound:
            pieces = [audio[int(w.start * SAMPLE_RATE) : int(w.end * SAMPLE_RATE)] for w in windows]
            parts.append(normalise(await self.workers.embed_sound(pieces, wait=False)))
        elif windows:
            parts.append(normalise([w.vector for w in windows]))
        return parts
