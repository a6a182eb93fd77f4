"""On-screen text with the real reader (PP-OCR) and, end to end, through a real vigil-server.

A video of four shots (a photo; a photo with a banner "FREE CRYPTO GIVEAWAY"; a plain card saying
"HARBOUR CLOSED TODAY"; another photo) is ingested: the signs are found by their words, a standing
query on on-screen text fires with the sign's text as evidence, and shot starts are flagged on the
frames where the picture changes and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from scripts.sample_media import skimage_photo, tone_video
from scripts.signs import PILLOW_FONT, Sign, draw_signs, fit_picture
from tests.server_process import ServerProcess
from vigil_client import VigilClient, read_chunks
from vigil_models.catalog import text_model_dir
from vigil_models.ocr import TextReader, split_words, tokenizer_words

CRYPTO = "FREE CRYPTO GIVEAWAY"
HARBOUR = "HARBOUR CLOSED TODAY"


def squash(text: str) -> str:
    """Letters and digits only, upper case: the reader may split a word it does not know ("GIVE AWAY")."""
    return re.sub(r"[^A-Z0-9]", "", text.upper())


def crypto_frame() -> np.ndarray:
    picture, _ = draw_signs(fit_picture(skimage_photo("coffee")), [Sign(CRYPTO, size=34, at=(0.5, 0.8))])
    return picture


def harbour_frame() -> np.ndarray:
    card = np.full((360, 640, 3), (30, 60, 110), np.uint8)
    picture, _ = draw_signs(card, [Sign(HARBOUR, font=PILLOW_FONT, size=44, at=(0.5, 0.4), banner=None,
                                        colour=(255, 220, 0))])  # fmt: skip
    return picture


@pytest.fixture(scope="module")
def reader() -> TextReader:
    return TextReader(vocabulary=tokenizer_words(text_model_dir("all-MiniLM-L6-v2")))


def test_split_words_puts_back_the_spaces_the_recogniser_drops() -> None:
    words = tokenizer_words(text_model_dir("all-MiniLM-L6-v2"))
    assert split_words("NOPARKINGHERE", words) == "NO PARKING HERE"
    assert split_words("BREAKING:SALEENDSTODAY", words) == "BREAKING:SALE ENDS TODAY"
    assert split_words("lighthouse keeper", words) == "lighthouse keeper"  # words stay whole
    assert split_words("XQZWVKJPL", words) == "XQZWVKJPL"  # no split spells it: left as it is


def test_the_reader_reads_rendered_signs_with_their_boxes(reader: TextReader) -> None:
    signs = [Sign("NO PARKING", at=(0.3, 0.2)), Sign("EXIT 12", at=(0.7, 0.8), banner=(0, 90, 0))]
    picture, boxes = draw_signs(fit_picture(skimage_photo("astronaut")), signs)
    lines = reader.read(picture)
    assert [line.text.upper() for line in lines] == ["NO PARKING", "EXIT 12"]
    for line, (x, y, w, h) in zip(lines, boxes, strict=True):
        lx, ly, lw, lh = line.box
        assert abs(lx - x) < 0.03 and abs(ly - y) < 0.04 and abs(lw - w) < 0.05 and abs(lh - h) < 0.05
        assert line.score > 0.8
    assert reader.read(skimage_photo("chelsea")) == []  # a cat: no text


def test_the_reader_reads_pillows_font_on_a_plain_card(reader: TextReader) -> None:
    assert [line.text for line in reader.read(harbour_frame())] == [HARBOUR]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache: Path) -> Iterator[ServerProcess]:
    proc = ServerProcess(
        tmp_path_factory.mktemp("onscreen-data"), model_cache, ["--alert-window", "600", "--on-screen-text", "on"]
    )
    proc.start().wait_serving(600)  # loading every model takes minutes on a busy machine
    yield proc
    proc.stop()


@pytest.mark.slow
def test_a_rendered_sign_in_a_stream_is_found_by_its_words(server: ServerProcess, tmp_path: Path) -> None:
    slides = [(fit_picture(skimage_photo("astronaut")), 3.0), (crypto_frame(), 3.0), (harbour_frame(), 3.0),
              (fit_picture(skimage_photo("rocket")), 3.0)]  # fmt: skip
    video = tone_video(tmp_path, slides, [], size="640x360", name="signs")
    client = VigilClient(server.address)
    try:
        query = client.add_query("free crypto", modalities=["on_screen_text"], label="crypto scam")
        events = list(
            client.ingest(read_chunks(video.open("rb"), 1 << 16), "signs", "mpegts", frame_rate=1, pacing="upload")
        )
        segments = [e.segment.segment for e in events if e.WhichOneof("event") == "segment"]
        alerts = [e.alert for e in events if e.WhichOneof("event") == "alert"]

        frames = sorted((s for s in segments if s.modality == 1), key=lambda s: s.start)
        assert [round(s.start) for s in frames if s.shot_start] == [0, 3, 6, 9]  # the cuts, and nowhere else
        texts = sorted((s for s in segments if s.modality == 4), key=lambda s: s.start)
        assert [(round(s.start), squash(s.text)) for s in texts] == [(3, squash(CRYPTO)), (6, squash(HARBOUR))]
        assert all(len(s.text_boxes) == 1 for s in texts)

        found = client.search("the sign that says free crypto", top_k=5)
        assert found[0].segment.modality == "on_screen_text" and squash(found[0].segment.text) == squash(CRYPTO)
        harbour = client.search("is the harbour open today?", modalities=["on_screen_text"], top_k=1)
        assert squash(harbour[0].segment.text) == squash(HARBOUR)

        assert [(a.label, squash(a.text), round(a.start)) for a in alerts] == [("crypto scam", squash(CRYPTO), 3)]
        client.remove_query(query.query_id)
    finally:
        client.close()
