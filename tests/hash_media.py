"""Videos for the hash-sharing tests: an original made of packaged photos, its altered copies, and an unrelated one.

The original shows five scikit-image photos for 2 s each, stretched over whole 640x360 frames (no
bars), over silence, so only the pictures can match. The variants are what re-uploads do to a
video: re-encoded harder, re-encoded as WebM, scaled down, letterboxed into 4:3, with a logo
overlaid in a corner (scikit-image's logo, 64x64), and in greyscale. The photos were chosen so
that PDQ survives the logo on most of them (docs/moderation.md has the distances, and the photos
where it does not: a bright logo on a dark, flat corner moves PDQ by up to 88 bits).
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from scripts.sample_media import run_ffmpeg, skimage_photo

ORIGINAL_PHOTOS = ("astronaut", "coffee", "immunohistochemistry", "camera", "coins")
UNRELATED_PHOTOS = ("brick", "grass", "gravel", "retina", "hubble_deep_field")
SECONDS_PER_PHOTO = 2.0
FRAME_RATE = 5  # of the original: few frames to encode
LOGO_SIZE = 64
H264 = ["-c:v", "libx264", "-preset", "veryfast", "-an", "-f", "mpegts"]
# name -> (ffmpeg arguments after the input, file extension, Ingest format)
VARIANTS: dict[str, tuple[list[str], str, str]] = {
    "reencoded": (["-c:v", "libx264", "-crf", "36", "-preset", "veryfast", "-an", "-f", "mpegts"], ".ts", "mpegts"),
    "webm": (["-c:v", "libvpx", "-b:v", "300k", "-deadline", "realtime", "-an", "-f", "webm"], ".webm", "webm"),
    "scaled": (["-vf", "scale=320:180", *H264], ".ts", "mpegts"),
    "letterboxed": (["-vf", "pad=640:480:0:60:black", *H264], ".ts", "mpegts"),
    "greyscale": (["-vf", "hue=s=0", *H264], ".ts", "mpegts"),
}


@dataclass(frozen=True)
class Clip:
    path: Path
    format: str  # as StreamConfig.format


def full_frame(name: str) -> np.ndarray:
    """A packaged photo stretched over a whole 640x360 frame."""
    return np.asarray(Image.fromarray(skimage_photo(name)).resize((640, 360), Image.Resampling.BILINEAR))


def slideshow(out: Path, photos: tuple[str, ...], name: str) -> Path:
    """An MPEG-TS (H.264, silent AAC) showing each photo for SECONDS_PER_PHOTO, from raw frames."""
    path = out / f"{name}.ts"
    seconds = SECONDS_PER_PHOTO * len(photos)
    command = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "640x360",
        "-r", str(FRAME_RATE), "-i", "-", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t", f"{seconds}",
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(2 * FRAME_RATE), "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-f", "mpegts", str(path),
    ]  # fmt: skip
    frames = b"".join(full_frame(p).tobytes() * round(SECONDS_PER_PHOTO * FRAME_RATE) for p in photos)
    subprocess.run(command, input=frames, check=True)
    return path


def original(out: Path) -> Path:
    return slideshow(out, ORIGINAL_PHOTOS, "original")


def unrelated(out: Path) -> Path:
    return slideshow(out, UNRELATED_PHOTOS, "unrelated")


def variants(out: Path, source: Path) -> dict[str, Clip]:
    """Every altered copy of `source`, by name (encoded two at a time)."""
    logo = out / "logo.png"
    Image.fromarray(skimage_photo("logo")).resize((LOGO_SIZE, LOGO_SIZE)).save(logo)
    jobs = {name: (["-i", str(source), *args], ext, fmt) for name, (args, ext, fmt) in VARIANTS.items()}
    overlay = ["-i", str(source), "-i", str(logo), "-filter_complex", "[0:v][1:v]overlay=W-w-16:16", *H264]
    jobs["logo"] = (overlay, ".ts", "mpegts")
    clips = {name: Clip(out / f"{name}{ext}", fmt) for name, (_, ext, fmt) in jobs.items()}
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda name: run_ffmpeg([*jobs[name][0], str(clips[name].path)]), jobs))
    return clips
