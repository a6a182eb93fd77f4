"""bench/streams.py's arithmetic, without a server: word times, which segment holds a word, lags and drift."""

from __future__ import annotations

import math

import pytest

from bench.common import Chunks, Packet
from bench.streams import Word, frame_drift, holding_segment, word_lags, word_times


def test_word_times_split_the_span_by_letters_and_cover_it() -> None:
    words = word_times("A cat, sleeping.", 10.0, 12.0)
    assert [w.text for w in words] == ["A", "cat,", "sleeping."]
    # letters 1 + 3 + 8 = 12 (punctuation does not count): 2 s / 12 per letter
    assert [(round(w.start, 4), round(w.end, 4)) for w in words] == [
        (10.0, 10.1667),
        (10.1667, 10.6667),
        (10.6667, 12.0),
    ]


def test_holding_segment_prefers_a_segment_that_holds_the_time() -> None:
    segments = [(5.0, 0.0, 6.0), (9.0, 6.1, 12.0)]  # (arrival, start, end)
    assert holding_segment(3.0, segments) == (5.0, 0.0, 6.0)
    assert holding_segment(6.05, segments) == (5.0, 0.0, 6.0)  # nearer the first (0.05 s) than the second
    assert holding_segment(6.2, segments) == (9.0, 6.1, 12.0)
    assert holding_segment(12.2, segments) == (9.0, 6.1, 12.0)  # within the 0.25 s tolerance
    assert holding_segment(12.3, segments) is None


def test_word_lags_from_the_chunk_holding_the_words_end() -> None:
    # two chunks of 1 s: audio packets at 0.0, 0.5 (bytes 0, 100) and 1.0, 1.5 (bytes 200, 300)
    audio = [Packet("audio", t, pos) for t, pos in ((0.0, 0), (0.5, 100), (1.0, 200), (1.5, 300))]
    chunks = Chunks([b"x" * 200, b"y" * 200], [0, 200], {"audio": audio, "video": []})
    sent = [100.0, 101.0]
    words = [Word("one", 0.0, 0.4), Word("two", 0.4, 1.2), Word("lost", 3.0, 3.5)]
    speech = [(102.5, 0.0, 1.6)]  # arrival, start, end
    lags = word_lags(words, speech, chunks, sent)
    # "one" ends at 0.4: its packet (0.5) is in chunk 0, sent at 100; "two" ends at 1.2: packet 1.5, chunk 1
    assert lags == [2.5, 1.5, None]


def test_frame_drift_compares_the_frames_after_start_up_with_the_last() -> None:
    lags = [(float(t), 1.0 + 0.1 * t) for t in range(20)]
    lags[0] = (0.0, 9.0)  # the start-up delay of the first frame is not drift
    first, last, drift = frame_drift(lags, edge=5.0, frame_rate=1.0)
    assert first == pytest.approx(1.7)  # median of t = 5..9
    assert last == pytest.approx(2.7)  # median of t = 15..19
    assert drift == pytest.approx(1.0)
    # frames dropped: the first 5 kept from 5 s on (5, 8, 9, 12, 13) and the last 5 kept (14, 15, 16, 18, 19)
    kept = [lags[t] for t in (0, 5, 8, 9, 12, 13, 14, 15, 16, 18, 19)]
    first, last, drift = frame_drift(kept, edge=5.0, frame_rate=1.0)
    assert (first, last) == (pytest.approx(1.9), pytest.approx(2.6))
    assert all(math.isnan(v) for v in frame_drift(lags[:12], edge=5.0, frame_rate=1.0))  # 5-9 and 7-11 overlap
