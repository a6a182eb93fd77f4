"""Every modality indexed and usable as a query, in one calibrated space (real server, real media).

One server with a fresh store runs the multilingual Whisper base model. It indexes:
- a slideshow of three packaged photos with an English phrase spoken over it,
- a test pattern with three English sentences,
- a test pattern with music (Debian's asterisk-moh-opsound-wav) as its soundtrack,
- French speech (Debian's asterisk-core-sounds-fr-wav) as a WAV stream.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import numpy as np
import pytest
from PIL import Image

from scripts.sample_media import (
    Utterance,
    audio_sequence,
    pattern_video,
    photo_video,
    skimage_photo,
    soundtrack_video,
)
from tests.conftest import PHOTO_SECONDS, PHOTOS, Media
from tests.server_process import ServerProcess
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import MediaBytes, SearchMatch, SegmentInfo, VigilClient, VigilError, read_chunks

pytestmark = pytest.mark.slow  # real models

MUSIC = Path("/usr/share/asterisk/moh/macroform-cold_day.wav")
FRENCH = Path(
    "/usr/share/asterisk/sounds/fr_CA_f_June"
)  # the package's own directory (the fr link comes from a recommended package)
SENTENCES = (
    Utterance("My cat sleeps on the sofa all day long.", 1.0),
    Utterance("The train to London is delayed by twenty minutes.", 6.0),
    Utterance("Thank you for watching and good night.", 11.0),
)


def ingest(server: ServerProcess, path: Path, stream_id: str, fmt: str) -> vigil_pb2.IngestSummary:
    with VigilClient(server.address, timeout=600) as client, open(path, "rb") as f:
        events = list(client.ingest(read_chunks(f, 64 << 10), stream_id, fmt, pacing="upload"))
    return events[-1].summary


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, model_cache: Path, media: Media) -> Iterator[ServerProcess]:
    work = tmp_path_factory.mktemp("cross-modal")
    server = ServerProcess(work / "data", model_cache, ["--speech-model", "base"]).start().wait_serving(600)
    try:
        ingest(server, media.slideshow("mpegts"), "photos", "mpegts")
        ingest(server, pattern_video(work, 15.0, SENTENCES, name="talk"), "talk", "mpegts")
        music = ingest(server, soundtrack_video(work, 15.0, MUSIC, name="music"), "music", "mpegts")
        assert music.sound_segments_indexed >= 1
        french, _ = audio_sequence(
            work / "french.wav", [FRENCH / "conf-onlyperson.wav", FRENCH / "tt-weasels.wav"], gap=2.0
        )
        ingest(server, french, "french", "wav")
        yield server
    finally:
        server.stop()


def search(server: ServerProcess, **query: object) -> list[SearchMatch]:
    with VigilClient(server.address, timeout=300) as client:
        return client.search(**query)  # type: ignore[arg-type]


def jpeg(image: np.ndarray, scale: float = 0.5, crop: float = 0.05) -> bytes:
    """A re-encoded, resized, slightly cropped copy, as a user's example image would be."""
    h, w = image.shape[:2]
    cropped = image[int(h * crop) : int(h * (1 - crop)), int(w * crop) : int(w * (1 - crop))]
    small = Image.fromarray(cropped).resize((int(w * scale), int(h * scale)))
    out = io.BytesIO()
    small.save(out, format="JPEG", quality=80)
    return out.getvalue()


def test_image_query_finds_the_frame_of_that_photo(corpus: ServerProcess) -> None:
    for name in ("chelsea", "coffee", "rocket"):
        top = search(corpus, image=jpeg(skimage_photo(name)), modalities=["frame"], top_k=3)[0].segment
        shown_from = PHOTOS.index(name) * PHOTO_SECONDS
        assert top.stream_id == "photos" and shown_from - 0.5 <= top.start < shown_from + PHOTO_SECONDS, (name, top)


def test_image_query_finds_speech_about_it(corpus: ServerProcess) -> None:
    top = search(corpus, image=jpeg(skimage_photo("chelsea")), modalities=["speech"], top_k=3)[0].segment
    assert "cat" in top.text.lower(), top


def test_music_is_indexed_as_sound_and_found_by_text(corpus: ServerProcess) -> None:
    matches = search(corpus, text="music", top_k=5)
    assert matches[0].segment.modality == "sound" and matches[0].segment.stream_id == "music", matches
    assert "music" in matches[0].segment.text
    silent = search(corpus, text="music", modalities=["sound"], stream_ids=["photos", "talk"], top_k=5)
    assert silent == [], "speech and silence are not indexed as sound"


def test_audio_clip_query_finds_the_stream_it_came_from(corpus: ServerProcess, tmp_path: Path) -> None:
    music_clip = tmp_path / "music-clip.wav"
    from scripts.sample_media import run_ffmpeg

    run_ffmpeg(["-ss", "20", "-t", "6", "-i", str(MUSIC), "-ar", "16000", "-ac", "1", str(music_clip)])
    assert search(corpus, audio=MediaBytes(music_clip.read_bytes(), "wav"), top_k=1)[0].segment.stream_id == "music"

    said, _ = audio_sequence(tmp_path / "said.wav", [_say(tmp_path, "The train to London is delayed.")])
    top = search(corpus, audio=MediaBytes(said.read_bytes(), "wav"), top_k=1)[0].segment
    assert top.stream_id == "talk" and "train" in top.text.lower(), top


def test_video_clip_query_returns_speech_about_what_it_shows(corpus: ServerProcess, tmp_path: Path) -> None:
    clip = photo_video(tmp_path, [(skimage_photo("chelsea"), 3.0)], name="cat-clip")
    top = search(corpus, video=MediaBytes(clip.read_bytes(), "mpegts"), modalities=["speech"], top_k=1)[0].segment
    assert top.stream_id == "talk" and "cat" in top.text.lower(), top


def test_segment_query_finds_similar_segments(corpus: ServerProcess) -> None:
    cat_frame = search(corpus, text="cat", modalities=["frame"], stream_ids=["photos"], top_k=1)[0].segment
    similar = search(corpus, segment_id=cat_frame.segment_id, modalities=["frame"], top_k=2)
    assert cat_frame.segment_id not in {m.segment.segment_id for m in similar}
    assert all(m.segment.stream_id == "photos" and m.segment.start < PHOTO_SECONDS for m in similar), similar
    with pytest.raises(VigilError) as missing:
        search(corpus, segment_id="no-such-segment")
    assert missing.value.code == grpc.StatusCode.NOT_FOUND


def test_french_speech_is_found_by_an_english_query(corpus: ServerProcess) -> None:
    top = search(corpus, text="you are the only person in this conference", top_k=1)[0].segment
    assert top.stream_id == "french" and top.language == "fr", top
    assert "conférence" in top.text.lower() or "conference" in top.text.lower(), top
    assert "conference" in top.translation.lower(), top


def test_filters_apply_to_example_queries(corpus: ServerProcess) -> None:
    matches = search(corpus, image=jpeg(skimage_photo("rocket")), stream_ids=["talk"], start=5.0, end=10.0, top_k=50)
    assert matches and all(
        m.segment.stream_id == "talk" and m.segment.end > 5 and m.segment.start < 10 for m in matches
    )


def test_bad_example_queries(corpus: ServerProcess) -> None:
    with grpc.insecure_channel(corpus.address) as channel:
        stub = vigil_pb2_grpc.VigilStub(channel)
        for request, code, words in [
            (vigil_pb2.SearchRequest(image=b"not an image"), grpc.StatusCode.INVALID_ARGUMENT, "cannot be decoded"),
            (
                vigil_pb2.SearchRequest(audio=vigil_pb2.MediaClip(data=b"x" * 1000, format="wav")),
                grpc.StatusCode.INVALID_ARGUMENT,
                "wav",
            ),
            (
                vigil_pb2.SearchRequest(video=vigil_pb2.MediaClip(data=b"x", format="s16le")),
                grpc.StatusCode.INVALID_ARGUMENT,
                "not supported for query clips",
            ),
            (vigil_pb2.SearchRequest(image=b"x" * (17 << 20)), grpc.StatusCode.RESOURCE_EXHAUSTED, ""),
            (  # a whole four-minute track: refused at 60 s of media, without waiting for the rest
                vigil_pb2.SearchRequest(audio=vigil_pb2.MediaClip(data=MUSIC.read_bytes(), format="wav")),
                grpc.StatusCode.INVALID_ARGUMENT,
                "at most 60 s",
            ),
        ]:
            with pytest.raises(grpc.RpcError) as caught:
                stub.Search(request, timeout=60)
            assert caught.value.code() == code, caught.value
            assert words in (caught.value.details() or "")


def _say(tmp_path: Path, text: str) -> Path:
    from scripts.sample_media import speak

    return speak(text, tmp_path / f"say-{abs(hash(text))}.wav")


# Queries whose answer is one modality, each with a test for the right top segment.
CALIBRATION_CASES: list[tuple[str, Callable[[SegmentInfo], bool]]] = [
    ("a rocket", lambda s: s.stream_id == "photos" and s.modality == "frame" and s.start >= 2 * PHOTO_SECONDS - 0.5),
    ("a cup of espresso", lambda s: s.modality == "frame" and PHOTO_SECONDS - 0.5 <= s.start < 2 * PHOTO_SECONDS),
    ("the train is delayed", lambda s: s.modality == "speech" and "train" in s.text.lower()),
    ("good night, thanks for watching", lambda s: s.modality == "speech" and "night" in s.text.lower()),
    ("music", lambda s: s.modality == "sound" and s.stream_id == "music"),
    ("a song playing", lambda s: s.modality == "sound" and s.stream_id == "music"),
    # Spoken over the slideshow; raw cosine prefers the test pattern's frames (high baseline) when
    # Whisper mishears the word, and gets it right when it hears it.
    ("a lighthouse", lambda s: s.modality == "speech" and s.stream_id == "photos"),
    # Raw cosine prefers the cat photo's frame (frames sit close to every query): it shows a pet, but
    # nobody talks in it. Added when better speech regions made Whisper hear "lighthouse".
    ("a conversation about a pet", lambda s: s.modality == "speech" and "cat" in s.text.lower()),
]


def test_calibration_ranks_every_modality_fairly(corpus: ServerProcess) -> None:
    """Calibrated scores put the right modality first for every query; raw cosine does not.

    The raw-cosine half keeps the comparison in the suite: if raw cosine stops failing here,
    the corpus no longer shows the modality gap and the test should be made harder.
    """
    rows = []
    for query, is_right in CALIBRATION_CASES:
        matches = search(corpus, text=query, top_k=50)
        by_cosine = max(matches, key=lambda m: m.cosine)
        rows.append((query, is_right(matches[0].segment), is_right(by_cosine.segment), matches[0], by_cosine))
    table = "\n".join(
        f"{q!r}: calibrated {'ok' if c else 'WRONG'} {top.segment.modality}/{top.segment.stream_id} "
        f"{top.score:.2f}; raw {'ok' if r else 'WRONG'} {raw.segment.modality}/{raw.segment.stream_id} {raw.cosine:.3f}"
        for q, c, r, top, raw in rows
    )
    assert all(c for _, c, _, _, _ in rows), table
    assert not all(r for _, _, r, _, _ in rows), table
