"""SHA-256 of whole files (see file_digest.py). Hash lists name it as python-threatexchange does,
`video_sha256`; `sha256` and `photo_sha256` are read too."""

from __future__ import annotations

from typing import ClassVar

from vigil_server.moderation.signals.file_digest import FileDigestSignal


class Sha256Signal(FileDigestSignal):
    name: ClassVar[str] = "sha256"
    algorithm: ClassVar[str] = "sha256"
    exchange_names: ClassVar[tuple[str, ...]] = ("video_sha256", "sha256", "photo_sha256")
