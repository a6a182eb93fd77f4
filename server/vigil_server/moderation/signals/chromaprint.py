"""Chromaprint: audio fingerprints (the library behind AcoustID), for flagged audio (MatchMethod.FINGERPRINT).

An audio or video item is described by the fingerprint of its audio; a stream by the fingerprint
of each audio window (moderation's AUDIO_WINDOW_S every AUDIO_HOP_S). The item matches a window
when the best alignment scores at least `min_score` (1 - 2 x bit error rate; server flag
--fingerprint-min-score, default 0.5, measured in vigil_models.hashing). The alignment also
says where in the window the item starts, so an alert covers where the whole item plays.

Audio quieter than MIN_AUDIO_RMS is not fingerprinted (silence matches silence), nor audio
shorter than MIN_FINGERPRINT_S (Chromaprint needs about that much to say anything).
"""

from __future__ import annotations

import struct
from typing import ClassVar

import numpy as np

from vigil_models import SAMPLE_RATE
from vigil_models.hashing import AudioFingerprint, audio_fingerprint, fingerprint_match
from vigil_server.moderation.signals.base import Comparison, ItemMedia, Live, LiveAudio, LiveInput, Signal
from vigil_server.types import Evidence, MatchMethod

MIN_AUDIO_RMS = 0.003
MIN_FINGERPRINT_S = 3.0


def fingerprint_or_none(audio: np.ndarray) -> AudioFingerprint | None:
    """The fingerprint of audio with enough sound in it, else None."""
    if audio.size < MIN_FINGERPRINT_S * SAMPLE_RATE or float(np.sqrt(np.mean(audio**2))) < MIN_AUDIO_RMS:
        return None
    fingerprint = audio_fingerprint(audio)
    return fingerprint if fingerprint.items.size else None


def _pack(fingerprint: AudioFingerprint) -> bytes:
    return struct.pack("<d", fingerprint.duration) + fingerprint.items.astype("<u4").tobytes()


def _unpack(blob: bytes) -> AudioFingerprint:
    (duration,) = struct.unpack_from("<d", blob)
    return AudioFingerprint(np.frombuffer(blob, dtype="<u4", offset=8).astype(np.uint32), duration)


class ChromaprintSignal(Signal[AudioFingerprint, AudioFingerprint]):
    name: ClassVar[str] = "chromaprint"
    method: ClassVar[MatchMethod | None] = MatchMethod.FINGERPRINT
    reads: ClassVar[LiveInput] = LiveInput.AUDIO

    def __init__(self, min_score: float):
        self.min_score = min_score

    @property
    def threshold(self) -> float:
        return self.min_score

    def adjusted(self, threshold: float) -> ChromaprintSignal:
        if not 0 < threshold <= 1:
            raise ValueError(f"a chromaprint threshold is a score in (0, 1], got {threshold:g}")
        return ChromaprintSignal(threshold)

    async def describe_item(self, media: ItemMedia) -> AudioFingerprint | None:
        return fingerprint_or_none(media.audio) if media.audio is not None else None

    def amount(self, values: AudioFingerprint) -> float:
        return values.duration

    def encode(self, values: AudioFingerprint) -> bytes:
        return _pack(values)

    def decode(self, blob: bytes) -> AudioFingerprint:
        return _unpack(blob)

    def describe_live(self, live: Live) -> AudioFingerprint | None:
        assert isinstance(live, LiveAudio)
        return fingerprint_or_none(live.samples)

    def compare(self, values: AudioFingerprint, live: AudioFingerprint) -> Comparison | None:
        match = fingerprint_match(values, live)
        evidence = Evidence(self.name, self.method, match.score, match.score >= self.min_score)
        return Comparison(evidence, (match.offset_seconds, match.offset_seconds + values.duration))

    def encode_live(self, live: AudioFingerprint) -> bytes:
        return _pack(live)

    def decode_live(self, blob: bytes) -> AudioFingerprint:
        return _unpack(blob)
