"""Retrieval evaluation through a real server: recall@1, recall@5 and MRR per direction.

Corpus, all from packaged real media (nothing downloaded):
- `photos`: the labelled photos of bench/photos (one per second of video, 1 fps sampling);
- `narration`: espeak-ng saying "Here is <caption>." for the first --narrated photos;
- `prompts`: Debian's asterisk-core-sounds-en-wav recordings (real voice), with their transcripts;
- `music-N`: the first 30 s of each track of asterisk-moh-opsound-wav, over a test pattern;
- `sounds`: the held-out labelled clips of bench/sounds (bench/sounds/dataset.py: real GCompris and
  asterisk-moh recordings, labelled by what the file is named for), one per 10 s slot.

Directions (query -> what counts as the right answer):
- text->frame: a photo's caption -> that photo's frame;
- image->frame: a resized (50 %), cropped (5 %), JPEG-re-encoded copy of the photo -> its frame;
- text->speech: a prompt's transcript -> the speech segment of that prompt;
- text->sound: "music"-like queries -> a sound segment of a `music-N` stream (the media is music,
  whatever caption the tagger gave it), among the streams other than `sounds`. Until December 2026
  this row also had two "singing" queries whose right answer was a segment *captioned* [singing]:
  the tagger's own output, not the media (no track is known to hold singing; Whisper transcribes
  no lyrics in any of them), so they left;
- text->sound (AudioSet, held-out): each distinct first label of the `sounds` clips in words ("dog",
  "applause", ...) -> a sound segment overlapping a clip with that label, among every stream's;
- audio->stream: a 6 s clip of a music track or a whole prompt -> any segment of its stream, among
  the streams other than `sounds` (as before that stream was added);
- video->speech: a 2 s video of a narrated photo -> the narration sentence about it;
- text->people: "a person", "people", "a crowd", ... -> any frame with people, in a stream of their
  own: the photos of bench/photos with people (bench/people/labels.tsv) and every 8th photo
  without people (specks and statues left out).

    .venv/bin/python bench/retrieval_eval.py [--photos 120] [--prompts 40]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.photos.dataset import LabelledPhoto, load_photos, read_labels  # noqa: E402
from bench.sounds.dataset import load as load_sound  # noqa: E402
from bench.sounds.dataset import read_labels as read_sound_labels  # noqa: E402
from scripts.sample_media import (  # noqa: E402
    Utterance,
    audio_sequence,
    pattern_video,
    photo_video,
    run_ffmpeg,
    soundtrack_video,
    speech_seconds,
)
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import MediaBytes, SearchMatch, SegmentInfo, VigilClient, VigilError, read_chunks  # noqa: E402

PROMPTS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
MOH = Path("/usr/share/asterisk/moh")
MUSIC_QUERIES = ("music", "a song", "instrumental music", "a melody")
SOUND_SLOT_S = 10.0  # each labelled clip of the `sounds` stream starts a slot of its own (cut to a second less)
Check = Callable[[SegmentInfo], bool]
PEOPLE_QUERIES = ("a person", "people", "a crowd", "a face", "someone", "a group of people", "musicians")


def slideshow(photos: list[np.ndarray], out: Path) -> Path:
    """One photo per second, letterboxed to 640x360, as MPEG-TS (frame i shows photo i)."""
    cmd = [
        "ffmpeg", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "640x360", "-r", "1",
        "-i", "-", "-vf", "fps=25", "-c:v", "libx264", "-preset", "veryfast", "-g", "25", "-f", "mpegts", str(out),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    for photo in photos:
        image = Image.fromarray(photo)
        image.thumbnail((640, 360))
        canvas = Image.new("RGB", (640, 360))
        canvas.paste(image, ((640 - image.width) // 2, (360 - image.height) // 2))
        proc.stdin.write(canvas.tobytes())
    proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError("ffmpeg failed to build the slideshow")
    return out


def example_jpeg(photo: np.ndarray) -> bytes:
    h, w = photo.shape[:2]
    crop = photo[int(h * 0.05) : int(h * 0.95), int(w * 0.05) : int(w * 0.95)]
    out = io.BytesIO()
    Image.fromarray(crop).resize((max(1, w // 2), max(1, h // 2))).save(out, format="JPEG", quality=80)
    return out.getvalue()


def read_transcripts(limit: int) -> list[tuple[Path, str]]:
    """Prompts with a transcript of 6+ words, in file order."""
    chosen = []
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as lines:
        for line in lines:
            name, _, text = line.partition(":")
            wav = PROMPTS / f"{name.strip()}.wav"
            if text and len(text.split()) >= 6 and "[" not in text and wav.exists():
                chosen.append((wav, text.strip()))
            if len(chosen) == limit:
                break
    return chosen


def sound_events(out: Path) -> tuple[Path, list[tuple[str, frozenset[str], float, float]]]:
    """The held-out labelled clips of bench/sounds, one per slot, as a 16 kHz WAV; per clip: its first (most
    specific) label, all its labels, and its span in the WAV."""
    clips = [s for s in read_sound_labels() if s.held_out]
    rate = 16000
    track = np.zeros(round(SOUND_SLOT_S * len(clips) * rate), np.float32)
    spans = []
    for i, clip in enumerate(clips):
        audio = load_sound(clip)[: round((SOUND_SLOT_S - 1) * rate)]
        at = round(i * SOUND_SLOT_S * rate)
        track[at : at + audio.size] = audio
        labels = frozenset(label.lower() for label in clip.labels)
        spans.append((clip.labels[0].lower(), labels, i * SOUND_SLOT_S, i * SOUND_SLOT_S + audio.size / rate))
    with wave.open(str(out), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(track, -1, 1) * 32767).astype("<i2").tobytes())
    return out, spans


def ingest(client: VigilClient, path: Path, stream_id: str, fmt: str) -> None:
    with open(path, "rb") as f:
        for event in client.ingest(read_chunks(f, 64 << 10), stream_id, fmt, pacing="upload"):
            if event.WhichOneof("event") == "summary" and event.summary.frames_dropped:
                raise RuntimeError(f"{stream_id}: {event.summary.frames_dropped} frames dropped from an upload")


def search_or_miss(client: VigilClient, **query: object) -> list[SearchMatch]:
    """A query the server refuses (e.g. a clip with nothing it can embed) counts as a miss."""
    try:
        return client.search(**query)  # type: ignore[arg-type]
    except VigilError as exc:
        print(f"  refused, counted as a miss: {exc}", file=sys.stderr)
        return []


def rank(matches: list[SearchMatch], check: Check) -> int | None:
    return next((i + 1 for i, m in enumerate(matches) if check(m.segment)), None)


def summarise(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks)
    return {
        "queries": n,
        "R@1": sum(1 for r in ranks if r == 1) / n,
        "R@5": sum(1 for r in ranks if r is not None and r <= 5) / n,
        "MRR": sum(1 / r for r in ranks if r is not None) / n,
    }


def people_photos() -> tuple[list[LabelledPhoto], set[int]]:
    """The photos of the people stream and the indexes of those with people."""
    import csv

    with (ROOT / "bench" / "people" / "labels.tsv").open() as f:
        counts = {row["path"]: int(row["persons"]) for row in csv.DictReader(f, delimiter="\t")}
    labels = read_labels()
    with_people = [p for p in labels if counts.get(p.path, 0) > 0]
    without = [p for p in labels if p.path not in counts][::8]
    chosen = sorted(with_people + without, key=lambda p: labels.index(p))
    return chosen, {i for i, p in enumerate(chosen) if counts.get(p.path, 0) > 0}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=120, help="labelled photos in the slideshow")
    p.add_argument("--narrated", type=int, default=20, help="photos that also get a spoken sentence")
    p.add_argument("--prompts", type=int, default=40, help="English prompt recordings")
    p.add_argument("--server-arg", action="append", default=[], help="extra vigil-server argument")
    ns = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vigil-eval-"))
    photo_set = load_photos(read_labels()[: ns.photos])
    images = photo_set.images
    captions = [photo.caption for photo in photo_set.photos]
    prompts = read_transcripts(ns.prompts)
    prompt_audio, prompt_starts = audio_sequence(work / "prompts.wav", [wav for wav, _ in prompts], gap=1.5)
    narrated = list(range(min(ns.narrated, len(captions))))
    narration = pattern_video(
        work, 3.0 + 5.0 * len(narrated), [Utterance(f"Here is {captions[i]}.", 1.0 + 5.0 * i) for i in narrated],
        name="narration",
    )  # fmt: skip
    tracks = sorted(MOH.glob("*.wav"))
    # People detection is off by default (its cost, README); the text->people row needs it. --server-arg overrides.
    server = ServerProcess(work / "data", work / "models", ["--people", "on", *ns.server_arg]).start().wait_serving(600)
    results: dict[str, dict[str, float]] = {}
    try:
        with VigilClient(server.address, timeout=900) as client:
            ingest(client, slideshow(images, work / "photos.ts"), "photos", "mpegts")
            ingest(client, narration, "narration", "mpegts")
            ingest(client, prompt_audio, "prompts", "wav")
            sound_wav, sound_spans = sound_events(work / "sounds.wav")
            ingest(client, soundtrack_video(work, SOUND_SLOT_S * len(sound_spans), sound_wav, name="sounds"), "sounds",
                   "mpegts")  # fmt: skip
            for i, track in enumerate(tracks):
                run_ffmpeg(["-t", "30", "-i", str(track), str(work / f"music-{i}.wav")])
                ingest(client, soundtrack_video(work, 30.0, work / f"music-{i}.wav", name=f"music-{i}"), f"music-{i}",
                       "mpegts")  # fmt: skip

            def frame_of(i: int) -> Check:
                return lambda s: s.stream_id == "photos" and s.modality == "frame" and round(s.start) == i

            photos_only = {"modalities": ["frame"], "stream_ids": ["photos"], "top_k": 50}
            results["text->frame"] = summarise(
                [rank(client.search(c, **photos_only), frame_of(i)) for i, c in enumerate(captions)]  # type: ignore[arg-type]
            )
            results["image->frame"] = summarise(
                [rank(client.search(image=example_jpeg(im), **photos_only), frame_of(i)) for i, im in enumerate(images)]  # type: ignore[arg-type]
            )
            ends = [start + speech_seconds(wav) for start, (wav, _) in zip(prompt_starts, prompts, strict=True)]

            def prompt(i: int) -> Check:
                return lambda s: s.stream_id == "prompts" and s.start < ends[i] and s.end > prompt_starts[i] - 0.5

            results["text->speech"] = summarise(
                [
                    rank(client.search(text, modalities=["speech"], top_k=50), prompt(i))
                    for i, (_, text) in enumerate(prompts)
                ]
            )
            # The rows that were measured before the `sounds` stream existed search the corpus they had then
            # (its instrument clips are music too, and would change what those rows measure).
            earlier = ["photos", "narration", "prompts", *(f"music-{i}" for i in range(len(tracks)))]
            music = [
                rank(client.search(q, modalities=["sound"], stream_ids=earlier, top_k=50),
                     lambda s: s.stream_id.startswith("music-"))
                for q in MUSIC_QUERIES
            ]  # fmt: skip
            results["text->sound"] = summarise(music)

            def clip_with(label: str) -> Check:
                return lambda s: (
                    s.stream_id == "sounds"
                    and any(
                        label in labels and s.start < end and s.end > start for _, labels, start, end in sound_spans
                    )
                )

            labels = sorted({first for first, _, _, _ in sound_spans})
            results["text->sound (AudioSet, held-out)"] = summarise(
                [rank(client.search(label, modalities=["sound"], top_k=50), clip_with(label)) for label in labels]
            )
            stream_ranks = []
            for i in range(len(tracks)):
                clip = work / f"clip-{i}.wav"
                run_ffmpeg(["-ss", "12", "-t", "6", "-i", str(work / f"music-{i}.wav"), str(clip)])
                found = search_or_miss(client, audio=MediaBytes(clip.read_bytes(), "wav"), stream_ids=earlier, top_k=50)
                stream_ranks.append(rank(found, lambda s, i=i: s.stream_id == f"music-{i}"))
            for wav, _ in prompts[:10]:
                found = search_or_miss(client, audio=MediaBytes(wav.read_bytes(), "wav"), stream_ids=earlier, top_k=50)
                stream_ranks.append(rank(found, lambda s: s.stream_id == "prompts"))
            results["audio->stream"] = summarise(stream_ranks)
            video_ranks = []
            for i in narrated:
                clip = photo_video(work, [(images[i], 2.0)], name=f"clip-{i}")
                found = client.search(video=MediaBytes(clip.read_bytes(), "mpegts"), modalities=["speech"],
                                      stream_ids=["narration"], top_k=50)  # fmt: skip
                video_ranks.append(rank(found, lambda s, i=i: abs(s.start - (1.0 + 5.0 * i)) < 2.0))
            results["video->speech"] = summarise(video_ranks)
            people, with_people = people_photos()
            ingest(client, slideshow(load_photos(people).images, work / "people.ts"), "people", "mpegts")
            results["text->people"] = summarise([
                rank(client.search(q, modalities=["frame"], stream_ids=["people"], top_k=50),
                     lambda s: round(s.start) in with_people)
                for q in PEOPLE_QUERIES
            ])  # fmt: skip
    finally:
        server.stop()
    print(f"{'direction':15} {'queries':>7} {'R@1':>6} {'R@5':>6} {'MRR':>6}")
    for direction, r in results.items():
        print(f"{direction:15} {r['queries']:7.0f} {r['R@1']:6.3f} {r['R@5']:6.3f} {r['MRR']:6.3f}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "retrieval_eval.json").write_text(json.dumps({"args": vars(ns), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
