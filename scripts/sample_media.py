"""Build real media files for the demo, the tests and the benchmarks with ffmpeg and espeak-ng.

Nothing is downloaded: photos come from scikit-image's packaged data, speech from espeak-ng,
video from ffmpeg's test sources.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Container -> (file extension, ffmpeg muxer and codec arguments)
CONTAINERS: dict[str, tuple[str, list[str]]] = {
    "mpegts": (".ts", ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-f", "mpegts"]),
    "mp4": (".mp4", ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-f", "mp4"]),
    "mp4-faststart": (
        ".mp4",
        ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-movflags", "+faststart", "-f", "mp4"],
    ),
    "mp4-fragmented": (
        ".mp4",
        [
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "25",
            "-c:a",
            "aac",
            "-movflags",
            "frag_keyframe+empty_moov",
            "-f",
            "mp4",
        ],
    ),
    "webm": (
        ".webm",
        ["-c:v", "libvpx", "-deadline", "realtime", "-g", "25", "-b:v", "400k", "-c:a", "libopus", "-f", "webm"],
    ),
    "matroska": (".mkv", ["-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-c:a", "aac", "-f", "matroska"]),
}
SIZE = "640x360"
LETTERBOX = (
    "scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25,format=yuv420p"
)


@dataclass(frozen=True)
class Utterance:
    text: str
    at: float  # seconds into the media where the speech starts


def run_ffmpeg(args: Sequence[str]) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def speak(text: str, out: Path, voice: str = "en") -> Path:
    """Synthetic speech from espeak-ng, as a WAV file."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(out), text], check=True)
    return out


def load_audio(path: Path, start: float = 0.0, seconds: float = 0.0) -> np.ndarray:
    """A media file's audio (or `seconds` of it from `start`; 0: to the end) as float32 mono at 16 kHz."""
    assert path.is_file(), f"{path} is missing: run scripts/setup.sh (it installs the Debian packages tests use)"
    span = ["-ss", str(start), *(["-t", str(seconds)] if seconds else [])]
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", *span, "-i", str(path), "-f", "f32le", "-ac", "1", "-ar", "16000", "-"],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, dtype=np.float32)


def speech_seconds(wav: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(wav)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return float(out.stdout.strip())


def _audio_inputs(
    utterances: Sequence[Utterance], duration: float, work: Path, first_input: int = 1
) -> tuple[list[str], str]:
    """ffmpeg input args (numbered from first_input) and a filtergraph laying the utterances on silence."""
    args = ["-f", "lavfi", "-t", f"{duration}", "-i", "anullsrc=r=16000:cl=mono"]
    labels = [f"[{first_input}:a]"]
    graph = []
    for i, u in enumerate(utterances):
        wav = speak(u.text, work / f"say{i}.wav")
        args += ["-i", str(wav)]
        ms = int(u.at * 1000)
        graph.append(f"[{first_input + 1 + i}:a]aresample=16000,adelay={ms}|{ms}[s{i}]")
        labels.append(f"[s{i}]")
    graph.append(f"{''.join(labels)}amix=inputs={len(labels)}:normalize=0:duration=first[aout]")
    return args, ";".join(graph)


def pattern_video(
    out_dir: Path,
    duration: float,
    utterances: Sequence[Utterance] = (),
    container: str = "mpegts",
    name: str = "sample",
) -> Path:
    """ffmpeg's test pattern with the utterances spoken at their times."""
    ext, codec = CONTAINERS[container]
    out = out_dir / f"{name}{ext}"
    with tempfile.TemporaryDirectory() as tmp:
        audio_args, graph = _audio_inputs(utterances, duration, Path(tmp))
        run_ffmpeg([
            "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=25:duration={duration}", *audio_args,
            "-filter_complex", graph, "-map", "0:v", "-map", "[aout]", "-t", f"{duration}",
            "-pix_fmt", "yuv420p", *codec, str(out),
        ])  # fmt: skip
    return out


def photo_video(
    out_dir: Path,
    photos: Sequence[tuple[np.ndarray, float]],
    utterances: Sequence[Utterance] = (),
    container: str = "mpegts",
    name: str = "photos",
) -> Path:
    """A slideshow: each (RGB photo, seconds) in turn, letterboxed to 640x360, with optional speech."""
    from PIL import Image

    ext, codec = CONTAINERS[container]
    out = out_dir / f"{name}{ext}"
    duration = sum(seconds for _, seconds in photos)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        image_args: list[str] = []
        chains = []
        for i, (photo, seconds) in enumerate(photos):
            path = work / f"p{i}.png"
            Image.fromarray(photo).convert("RGB").save(path)
            image_args += ["-loop", "1", "-framerate", "25", "-t", f"{seconds}", "-i", str(path)]
            chains.append(f"[{i}:v]{LETTERBOX}[v{i}]")
        video = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(photos)))
        video += f"concat=n={len(photos)}:v=1:a=0[vout]"
        audio_args, graph = _audio_inputs(utterances, duration, work, first_input=len(photos))
        run_ffmpeg([
            *image_args, *audio_args, "-filter_complex", f"{video};{graph}", "-map", "[vout]", "-map", "[aout]",
            "-t", f"{duration}", *codec, str(out),
        ])  # fmt: skip
    return out


def soundtrack_video(out_dir: Path, duration: float, audio: Path, name: str = "soundtrack") -> Path:
    """ffmpeg's test pattern with a given audio file as its soundtrack (cut or padded to `duration`)."""
    out = out_dir / f"{name}.ts"
    run_ffmpeg([
        "-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=25:duration={duration}", "-i", str(audio),
        "-filter_complex", f"[1:a]aresample=16000,apad=whole_dur={duration}[aout]", "-map", "0:v", "-map", "[aout]",
        "-t", f"{duration}", "-pix_fmt", "yuv420p", *CONTAINERS["mpegts"][1], str(out),
    ])  # fmt: skip
    return out


def audio_sequence(out: Path, clips: Sequence[Path], gap: float = 1.0, start: float = 1.0) -> tuple[Path, list[float]]:
    """WAV at 16 kHz of the clips in turn, with silence before and between; returns it and each clip's start."""
    inputs: list[str] = []
    parts = []
    starts = []
    at = start
    for i, clip in enumerate(clips):
        inputs += ["-i", str(clip)]
        pad = start if i == 0 else gap
        ms = int(pad * 1000)
        parts.append(f"[{i}:a]aresample=16000,aformat=channel_layouts=mono,adelay={ms}[c{i}]")
        at += pad if i else 0
        starts.append(at)
        at += speech_seconds(clip)
    graph = ";".join(parts) + ";" + "".join(f"[c{i}]" for i in range(len(clips)))
    graph += f"concat=n={len(clips)}:v=0:a=1,apad=pad_dur={gap}[aout]"
    run_ffmpeg([*inputs, "-filter_complex", graph, "-map", "[aout]", "-ar", "16000", "-ac", "1", str(out)])
    return out, starts


def skimage_photo(name: str) -> np.ndarray:
    """A photo that scikit-image ships (astronaut, chelsea, coffee, rocket, ...), as RGB uint8."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3]).astype(np.uint8)


# (frequency in Hz, start in seconds, seconds) of one sine tone; see tests/fakes.py for what the fakes hear in them
Tone = tuple[float, float, float]
TONE_AMPLITUDE = 0.25  # peak of each sine (-12 dBFS)
TONE_RAMP_S = 0.005  # linear fade in and out of each tone, so its edges do not click


def tone_wav(path: Path, tones: Sequence[Tone], duration: float) -> Path:
    """A 16 kHz mono 16-bit WAV of `duration` seconds: silence with the tones added at their times."""
    import wave

    rate = 16_000
    audio = np.zeros(round(duration * rate), dtype=np.float64)
    ramp = max(1, round(TONE_RAMP_S * rate))
    for frequency, start, seconds in tones:
        first = min(audio.size, round(start * rate))
        n = min(audio.size, round((start + seconds) * rate)) - first
        if n <= 0:
            continue
        envelope = np.minimum(1.0, np.minimum(np.arange(n) + 1, n - np.arange(n)) / ramp)
        audio[first : first + n] += TONE_AMPLITUDE * envelope * np.sin(2 * np.pi * frequency * np.arange(n) / rate)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def tone_video(
    out_dir: Path,
    slides: Sequence[tuple[tuple[int, int, int] | np.ndarray, float]],
    tones: Sequence[Tone],
    container: str = "mpegts",
    size: str = "320x180",
    name: str = "tones",
) -> Path:
    """Slides (a solid RGB colour or an RGB picture, letterboxed; each for its seconds) over silence with sine tones."""
    from PIL import Image

    ext, codec = CONTAINERS[container]
    out = out_dir / f"{name}{ext}"
    width, height = (int(v) for v in size.split("x"))
    fit = f"scale={width}:{height}:force_original_aspect_ratio=decrease,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2"
    duration = sum(seconds for _, seconds in slides)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs: list[str] = []
        for i, (slide, seconds) in enumerate(slides):
            picture = slide if isinstance(slide, np.ndarray) else np.full((height, width, 3), slide, dtype=np.uint8)
            Image.fromarray(picture).convert("RGB").save(work / f"s{i}.png")
            inputs += ["-loop", "1", "-framerate", "25", "-t", f"{seconds}", "-i", str(work / f"s{i}.png")]
        chains = [f"[{i}:v]{fit},setsar=1,fps=25,format=yuv420p[v{i}]" for i in range(len(slides))]
        graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(slides)))
        graph += f"concat=n={len(slides)}:v=1:a=0[vout]"
        wav = tone_wav(work / "tones.wav", tones, duration)
        run_ffmpeg([
            *inputs, "-i", str(wav), "-filter_complex", graph, "-map", "[vout]", "-map", f"{len(slides)}:a",
            "-t", f"{duration}", *codec, str(out),
        ])  # fmt: skip
    return out


def main() -> None:
    """Write the demo sample: a cat photo, coffee, a rocket, then the test pattern, with speech."""
    import argparse

    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("out_dir", type=Path)
    ns = p.parse_args()
    ns.out_dir.mkdir(parents=True, exist_ok=True)
    path = photo_video(
        ns.out_dir,
        [(skimage_photo("chelsea"), 4.0), (skimage_photo("coffee"), 4.0), (skimage_photo("rocket"), 4.0)],
        [Utterance("Welcome to the harbour. The lighthouse keeper painted the door bright orange.", 1.0)],
        name="vigil-sample",
    )
    print(path)


if __name__ == "__main__":
    main()
