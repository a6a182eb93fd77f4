"""Labelled real photos that installed packages ship, for text -> image retrieval benchmarks.

`labels.tsv` beside this file has one photo a row: the package that ships it, its path, a caption a
person might type to find it, and a coarse topic. No image is committed; each is read from the
package where it is installed:

- a path that starts with "/" is a system path, shipped by the Debian package named in the row;
- any other path is relative to the install root of the Python distribution named in the row
  (its site-packages directory, as `importlib.metadata` locates it);
- `FILE.rcc:/member/path` is a member of a Qt resource bundle (GCompris ships its photos so).

Nothing is skipped silently: `load_photos` raises `MissingPhotosError` naming every photo it could
not read and the packages to install, unless `allow_missing=True`, where it still returns the
list of what is missing for the caller to report.
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import io
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LABELS = Path(__file__).with_name("labels.tsv")
COLUMNS = ("package", "path", "caption", "topic")
MAX_SIDE = 640  # photos are scaled down to this longer side, about the size of a decoded video frame
RCC_SEPARATOR = ".rcc:/"


@dataclass(frozen=True)
class LabelledPhoto:
    package: str  # Debian package (system path) or Python distribution (relative path)
    path: str
    caption: str
    topic: str


@dataclass(frozen=True)
class MissingPhoto:
    photo: LabelledPhoto
    reason: str


@dataclass(frozen=True)
class PhotoSet:
    photos: list[LabelledPhoto]  # what was read, in labels.tsv order
    images: list[np.ndarray]  # RGB uint8, HxWx3, one per photo
    missing: list[MissingPhoto]


class MissingPhotosError(FileNotFoundError):
    def __init__(self, missing: Sequence[MissingPhoto]):
        self.missing = list(missing)
        lines = [f"  {m.photo.package}: {m.photo.path} ({m.reason})" for m in self.missing[:20]]
        if len(self.missing) > 20:
            lines.append(f"  ... and {len(self.missing) - 20} more")
        super().__init__(
            f"{len(self.missing)} labelled photos are missing:\n" + "\n".join(lines) + install_hint(missing)
        )


def read_labels(path: Path = LABELS) -> list[LabelledPhoto]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if tuple(header) != COLUMNS:
            raise ValueError(f"{path}: expected the header {COLUMNS}, got {header}")
        photos = []
        for line, row in enumerate(reader, start=2):
            if len(row) != len(COLUMNS) or not all(row):
                raise ValueError(f"{path}:{line}: expected {len(COLUMNS)} non-empty tab-separated fields, got {row}")
            photos.append(LabelledPhoto(*row))
    return photos


def is_system_path(photo: LabelledPhoto) -> bool:
    return photo.path.startswith("/")


def resolve(photo: LabelledPhoto) -> tuple[Path, str | None]:
    """(file on disk, member inside a Qt resource bundle or None). Raises FileNotFoundError."""
    file_part, member = photo.path, None
    if RCC_SEPARATOR in photo.path:
        head, tail = photo.path.split(RCC_SEPARATOR, 1)
        file_part, member = head + ".rcc", "/" + tail
    if is_system_path(photo):
        file = Path(file_part)
    else:
        try:
            dist = importlib.metadata.distribution(photo.package)
        except importlib.metadata.PackageNotFoundError:
            raise FileNotFoundError(f"Python package {photo.package} is not installed") from None
        file = Path(str(dist.locate_file(file_part)))
    if not file.is_file():
        raise FileNotFoundError(f"no file {file}")
    if member is not None and member not in _rcc_index(file):
        raise FileNotFoundError(f"no member {member} in {file}")
    return file, member


def read_bytes(photo: LabelledPhoto) -> bytes:
    file, member = resolve(photo)
    return file.read_bytes() if member is None else _rcc_member(file, member)


def load_image(photo: LabelledPhoto, max_side: int = MAX_SIDE) -> np.ndarray:
    """The photo as an RGB uint8 array, its longer side scaled down to max_side (never up)."""
    image: Image.Image = Image.open(io.BytesIO(read_bytes(photo)))
    image.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale, much faster
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    image = image.convert("RGB")
    if max(image.size) > max_side:
        scale = max_side / max(image.size)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image, dtype=np.uint8).copy()


def load_photos(
    photos: Sequence[LabelledPhoto] | None = None, max_side: int = MAX_SIDE, allow_missing: bool = False
) -> PhotoSet:
    wanted = read_labels() if photos is None else list(photos)
    found: list[LabelledPhoto] = []
    images: list[np.ndarray] = []
    missing: list[MissingPhoto] = []
    for photo in wanted:
        try:
            images.append(load_image(photo, max_side))
        except (OSError, ValueError) as exc:  # FileNotFoundError, a bundle or an image that cannot be read
            missing.append(MissingPhoto(photo, str(exc)))
            continue
        found.append(photo)
    if missing and not allow_missing:
        raise MissingPhotosError(missing)
    return PhotoSet(found, images, missing)


def install_hint(missing: Sequence[MissingPhoto]) -> str:
    debian = sorted({m.photo.package for m in missing if is_system_path(m.photo)})
    python = sorted({m.photo.package for m in missing if not is_system_path(m.photo)})
    hints = []
    if debian:
        hints.append("apt-get install --no-install-recommends " + " ".join(debian))
    if python:
        hints.append(".venv/bin/pip install " + " ".join(python))
    return "\ninstall: " + "; ".join(hints) if hints else ""


# -- Qt resource bundles (.rcc) ---------------------------------------------------------------------
# Layout (Qt's rcc, format versions 1-3): a header "qres", version, then the offsets of the tree,
# the data and the names. Tree nodes are 14 bytes (22 from version 2 on): name offset, flags, then
# for a directory its child count and first child, for a file its locale and data offset. Names are
# a 2-byte length, a 4-byte hash and UTF-16BE text; data is a 4-byte size and the bytes, zlib
# compressed (with a 4-byte length in front) when flag 1 is set, zstd when flag 4 is set.

_RCC_COMPRESSED, _RCC_DIRECTORY, _RCC_ZSTD = 1, 2, 4


@functools.cache
def _rcc_index(file: Path) -> dict[str, tuple[int, int]]:
    """member path -> (flags, absolute offset of its size-prefixed data)."""
    blob = file.read_bytes()
    if blob[:4] != b"qres":
        raise ValueError(f"{file} is not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", blob[4:20])
    node_size = 14 if version < 2 else 22

    def name(offset: int) -> str:
        (length,) = struct.unpack(">H", blob[names + offset : names + offset + 2])
        start = names + offset + 6
        return blob[start : start + 2 * length].decode("utf-16-be")

    index: dict[str, tuple[int, int]] = {}
    pending = [(0, "")]
    while pending:
        node, path = pending.pop()
        at = tree + node * node_size
        name_offset, flags = struct.unpack(">IH", blob[at : at + 6])
        full = path + "/" + name(name_offset) if node else ""
        if flags & _RCC_DIRECTORY:
            count, first = struct.unpack(">II", blob[at + 6 : at + 14])
            pending.extend((first + i, full) for i in range(count))
        else:
            (data_offset,) = struct.unpack(">I", blob[at + 10 : at + 14])
            index[full] = (flags, data + data_offset)
    return index


def _rcc_member(file: Path, member: str) -> bytes:
    flags, at = _rcc_index(file)[member]
    with file.open("rb") as f:
        f.seek(at)
        (size,) = struct.unpack(">I", f.read(4))
        raw = f.read(size)
    if flags & _RCC_ZSTD:
        raise ValueError(f"{file}:{member} is zstd-compressed, which this reader does not decode")
    return zlib.decompress(raw[4:]) if flags & _RCC_COMPRESSED else raw
