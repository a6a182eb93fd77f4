"""MD5 of whole files (see file_digest.py). Hash lists name it as python-threatexchange does, `video_md5`;
`md5` and `photo_md5` are read too, since Vigil's applies to any file."""

from __future__ import annotations

from typing import ClassVar

from vigil_server.moderation.signals.file_digest import FileDigestSignal


class Md5Signal(FileDigestSignal):
    name: ClassVar[str] = "md5"
    algorithm: ClassVar[str] = "md5"
    exchange_names: ClassVar[tuple[str, ...]] = ("video_md5", "md5", "photo_md5")
