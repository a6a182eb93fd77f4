"""How closely Vigil's vPDQ frame hashes agree with Meta's reference hasher (PyPI `vpdq`) on the same files.

    .venv/bin/python bench/vpdq_agreement.py          # needs `vpdq` (docs/moderation.md: how to install it)

It makes its own videos (ffmpeg test sources and scikit-image photos; nothing downloaded), hashes
each with `vpdq.computeHash(path, seconds_per_hash=1.0)`, and with Vigil's own decoding: the frames
the server hashes when a video is added to a bank or looked up (clips.decode_clip_full: one every
int(fps) frames, as vPDQ picks them, at the video's own size), and those it hashes of a live
stream (decode.py: the last frame at or before each second, at its own size); PDQ by `pdqhash`.
Frames are paired by timestamp. For comparison it also hashes what Vigil decoded before this
change: the frame nearest each second's middle, squashed to 224x224 (the models' input). Prints per video and overall
the median and 90th percentile frame distance (bits of 256) and writes bench/results/vpdq_agreement.json.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server"), str(ROOT / "models")]

from scripts.sample_media import run_ffmpeg, skimage_photo  # noqa: E402
from vigil_models.hashing import PdqHash, hamming, pdq_hash  # noqa: E402
from vigil_server.clips import decode_clip_full  # noqa: E402
from vigil_server.decode import DecodeSettings, MediaDecoder  # noqa: E402
from vigil_server.types import VideoClip  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "vpdq_agreement.json"
H264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "28", "-pix_fmt", "yuv420p", "-f", "mpegts"]


def make_videos(out: Path) -> dict[str, Path]:
    """Nine videos of 12-30 s: synthetic sources, photo slideshows, other sizes, rates and aspects."""
    lavfi = {
        "testsrc2 640x360 25fps": "testsrc2=size=640x360:rate=25:duration=20",
        "testsrc2 640x360 29.97fps": "testsrc2=size=640x360:rate=30000/1001:duration=20",
        "mandelbrot 1280x720 25fps": "mandelbrot=size=1280x720:rate=25,trim=duration=20",
        "life 480x360 (4:3) 25fps": "life=size=480x360:rate=25:mold=10:ratio=0.5:death_color=#202020:"
        "life_color=#e0e0a0,trim=duration=20",
        "cellauto 320x240 30fps": "cellauto=size=320x240:rate=30:rule=110,trim=duration=20",
        "smptehdbars+noise 1920x1080 24fps": "smptehdbars=size=1920x1080:rate=24:duration=12,noise=alls=12:allf=t",
    }
    videos = {}
    for n, (name, source) in enumerate(lavfi.items()):
        path = out / f"lavfi{n}.ts"
        run_ffmpeg(["-f", "lavfi", "-i", source, *H264, str(path)])
        videos[name] = path
    photos = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins"]
    frames = out / "photo%d.png"
    from PIL import Image

    for n, name in enumerate(photos):
        Image.fromarray(skimage_photo(name)).resize((854, 480)).save(str(frames).replace("%d", str(n)))
    for name, rate, zoom in [("photo slideshow 854x480 25fps, slow zoom", "25", True),
                             ("photo slideshow 854x480 29.97fps", "30000/1001", False)]:  # fmt: skip
        path = out / f"photos{len(videos)}.ts"
        pan = "zoompan=z='min(zoom+0.0015,1.3)':d=125:s=854x480:fps=25," if zoom else ""
        run_ffmpeg(["-framerate", "0.2", "-i", str(frames), "-vf", f"{pan}fps={rate},format=yuv420p", *H264, str(path)])
        videos[name] = path
    path = out / "letterboxed.ts"
    run_ffmpeg(["-i", str(videos["testsrc2 640x360 25fps"]), "-vf", "pad=640:480:0:60", *H264, str(path)])
    videos["testsrc2 letterboxed in 640x480"] = path
    return videos


def vigil_hashes(path: Path) -> list[tuple[float, PdqHash]]:
    """What Vigil hashes for vPDQ: decode_clip_full's frames at their own size, one a second."""
    clip = VideoClip(path.read_bytes(), "mpegts")

    async def run() -> list[tuple[float, PdqHash]]:
        async def describe(at: float, frame: np.ndarray, full: np.ndarray | None) -> tuple[float, PdqHash]:
            return at, pdq_hash(frame if full is None else full)

        return list((await decode_clip_full(clip, DecodeSettings(), 600.0, describe)).described)

    return asyncio.run(run())


def live_hashes(path: Path) -> list[tuple[float, PdqHash]]:
    """What Vigil hashes of a live stream: a frame each second by time (decode.py), at its own size."""
    data = path.read_bytes()

    async def run() -> list[tuple[float, PdqHash]]:
        decoder = MediaDecoder("mpegts", 1.0, DecodeSettings(), full_frames=True)
        found: list[tuple[float, PdqHash]] = []

        async def feed() -> None:
            for first in range(0, len(data), 1 << 16):
                await decoder.feed(data[first : first + (1 << 16)])
            await decoder.finish()

        async def frames() -> None:
            async for frame, full in decoder.frames_and_full():
                found.append((float(len(found)), pdq_hash(frame if full is None else full)))

        async def audio() -> None:
            async for _ in decoder.audio():
                pass

        try:
            await asyncio.gather(feed(), frames(), audio())
        finally:
            await decoder.close()
        return found

    return asyncio.run(run())


def squashed_hashes(path: Path) -> list[tuple[float, PdqHash]]:
    """What Vigil decoded before: the fps filter's default rounding (the frame nearest mid-second), 224x224."""
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", "fps=1,scale=224:224", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout  # fmt: skip
    frames = np.frombuffer(raw, np.uint8).reshape(-1, 224, 224, 3)
    return [(float(n), pdq_hash(f)) for n, f in enumerate(frames)]


def distances(ours: list[tuple[float, PdqHash]], theirs: list[tuple[float, PdqHash]]) -> list[int]:
    """Each reference frame against our frame nearest its timestamp (within half a second)."""
    found = []
    for at, value in theirs:
        t, mine = min(ours, key=lambda pair: abs(pair[0] - at))
        if abs(t - at) <= 0.5:
            found.append(hamming(value, mine))
    return found


def summary(values: list[int]) -> dict[str, float]:
    ordered = sorted(values)
    return {"frames": len(values), "median": float(statistics.median(values)),
            "p90": float(ordered[int(0.9 * (len(ordered) - 1))]), "max": float(ordered[-1]),
            "within_31": sum(v <= 31 for v in values) / len(values)}  # fmt: skip


def main() -> None:
    import vpdq  # type: ignore[import-not-found]

    rows: dict[str, dict[str, object]] = {}
    all_now: list[int] = []
    all_before: list[int] = []
    all_live: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        began = time.monotonic()
        videos = make_videos(Path(tmp))
        print(f"made {len(videos)} videos in {time.monotonic() - began:.0f} s")
        for name, path in videos.items():
            reference = [(f.timestamp, PdqHash.from_hex(f.hex, f.quality)) for f in vpdq.computeHash(str(path))]
            now, before = distances(vigil_hashes(path), reference), distances(squashed_hashes(path), reference)
            live = distances(live_hashes(path), reference)
            all_now += now
            all_before += before
            all_live += live
            rows[name] = {"vigil": summary(now), "live": summary(live), "before": summary(before)}
            print(f"{name:42} frames {len(now):3}  median {statistics.median(now):5.1f}  "
                  f"p90 {summary(now)['p90']:5.1f}  live: median {statistics.median(live):5.1f} p90 "
                  f"{summary(live)['p90']:5.1f}  (224x224 squash, mid-second: median "
                  f"{statistics.median(before):5.1f})")  # fmt: skip
    rows["all"] = {"vigil": summary(all_now), "live": summary(all_live), "before": summary(all_before)}
    print(f"{'all':42} frames {len(all_now):3}  median {statistics.median(all_now):5.1f}  p90 "
          f"{rows['all']['vigil']['p90']:5.1f}   (before: median {statistics.median(all_before):5.1f})")  # type: ignore[index]  # fmt: skip
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2))
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
