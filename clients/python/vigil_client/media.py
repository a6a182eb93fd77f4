"""Media as the client names it: segment modalities, container formats, image/audio/video kinds from file names."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vigil.v1 import vigil_pb2

# Segment modality names, as the CLI and the JSON output spell them.
MODALITIES = {
    "frame": vigil_pb2.MODALITY_FRAME,
    "speech": vigil_pb2.MODALITY_SPEECH,
    "sound": vigil_pb2.MODALITY_SOUND,
    "on_screen_text": vigil_pb2.MODALITY_ON_SCREEN_TEXT,  # text read from frames (OCR)
}
MODALITY_NAMES = {v: k for k, v in MODALITIES.items()}

# File extension -> StreamConfig.format (and MediaClip.format, BankItemHeader.format)
FORMAT_BY_EXTENSION = {
    ".ts": "mpegts",
    ".m2ts": "mpegts",
    ".mts": "mpegts",
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".m4a": "mp4",
    ".mov": "mov",
    ".webm": "webm",
    ".mkv": "matroska",
    ".flv": "flv",
    ".ogg": "ogg",
    ".oga": "ogg",
    ".ogv": "ogg",
    ".opus": "ogg",
    ".wav": "wav",
    ".mp3": "mp3",
    ".flac": "flac",
}
# Encoded pictures the server recognises by their bytes (JPEG, PNG, WebP, BMP, GIF).
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".gif"})
# Extensions of FORMAT_BY_EXTENSION that hold sound only; the rest are video.
AUDIO_EXTENSIONS = frozenset({".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a"})
# Formats that can only hold sound, for a MediaBytes whose kind was not given.
AUDIO_FORMATS = frozenset({"wav", "mp3", "flac"})
KINDS = ("image", "audio", "video")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def media_kind(path: str | os.PathLike[str]) -> str | None:
    """ "image", "audio" or "video" from a file name's extension; None when the extension is unknown."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in FORMAT_BY_EXTENSION:
        return "video"
    return None


def looks_like_image(data: bytes) -> bool:
    """True when the bytes start like a JPEG, PNG, GIF, BMP or WebP file."""
    return data.startswith(_IMAGE_MAGIC) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP")


@dataclass(frozen=True)
class MediaBytes:
    """A clip given as a query or example: its bytes and its format ("mpegts", "wav", ...)."""

    data: bytes
    format: str
    # "audio" or "video" when known; empty: audio for wav, mp3 and flac, else video.
    kind: str = ""

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> MediaBytes:
        fmt = FORMAT_BY_EXTENSION.get(Path(path).suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format of {path} from its extension")
        return cls(Path(path).read_bytes(), fmt, media_kind(path) or "")

    @property
    def is_audio(self) -> bool:
        return self.kind == "audio" or (not self.kind and self.format in AUDIO_FORMATS)


def read_chunks(source: BinaryIO, chunk_bytes: int) -> Iterator[bytes]:
    """The file's bytes in pieces of at most chunk_bytes, read as they are asked for."""
    while data := source.read(chunk_bytes):
        yield data
