"""Caption files: WebVTT and SRT as their parsers from PyPI read them (webvtt-py, srt), line and cue limits, timing."""

from __future__ import annotations

import html
import io
from pathlib import Path

import pytest
import srt
import webvtt

from vigil_client.captions import (
    MAX_LINE,
    MAX_LINES,
    CaptionInfo,
    CaptionProgress,
    CaptionWordInfo,
    CaptionWriter,
    CueOrder,
    cues,
    merge_sound,
    timestamp,
    wrap,
)

LONG = (
    "You are about to start an echo test. In this mode, everything you say will be repeated back to you as "
    "soon as it is received."
)


def start_of(cue: webvtt.Caption) -> float:
    """A cue's start in seconds (webvtt-py's start_in_seconds drops the milliseconds)."""
    return float(cue.start_time.in_milliseconds()) / 1000


def end_of(cue: webvtt.Caption) -> float:
    return float(cue.end_time.in_milliseconds()) / 1000


def speech(start: float, end: float, text: str, timed: bool = True, caption_id: str = "c") -> CaptionInfo:
    """A final speech caption; with `timed`, each word gets an even share of [start, end]."""
    words: tuple[CaptionWordInfo, ...] = ()
    if timed:
        parts = text.split()
        step = (end - start) / len(parts)
        words = tuple(CaptionWordInfo(start + i * step, start + (i + 1) * step, w) for i, w in enumerate(parts))
    return CaptionInfo(caption_id, "s", "speech", True, start, end, text, text, words)


def sound(start: float, end: float, text: str = "[music]") -> CaptionInfo:
    return CaptionInfo(f"snd-{start}", "s", "sound", True, start, end, text, text)


def write(fmt: str, captions: list[CaptionInfo]) -> str:
    out = io.StringIO()
    writer = CaptionWriter(out, fmt)
    for caption in captions:
        writer.write(caption)
    writer.close()
    return out.getvalue()


def test_wrap_keeps_lines_short_and_words_whole() -> None:
    lines = wrap(LONG)
    assert all(len(line) <= MAX_LINE for line in lines)
    assert " ".join(lines) == LONG
    assert wrap("x" * 100) == ["x" * 42, "x" * 42, "x" * 16]
    assert wrap("   ") == []


def test_a_long_caption_becomes_consecutive_cues_timed_by_its_words() -> None:
    caption = speech(10.0, 22.0, LONG)
    made = cues(caption.start, caption.end, caption.text, caption.words)
    assert len(made) == 2
    assert all(len(c.lines) <= MAX_LINES and all(len(line) <= MAX_LINE for line in c.lines) for c in made)
    assert " ".join(line for c in made for line in c.lines) == LONG
    assert made[0].start == 10.0 and made[-1].end == pytest.approx(22.0)
    assert made[0].end == made[1].start  # the second cue starts with the first word it shows
    first_words = len(" ".join(made[0].lines).split())
    assert made[1].start == pytest.approx(caption.words[first_words].start)
    untimed = cues(10.0, 22.0, LONG)  # no words: times in proportion to the characters
    assert untimed[0].start == 10.0 and untimed[-1].end == pytest.approx(22.0) and untimed[0].end < untimed[1].end


def test_webvtt_is_read_back_by_webvtt_py(tmp_path: Path) -> None:
    text = write("vtt", [speech(1.5, 4.0, "Tom & Jerry <live> --> now"), sound(3.0, 9.0), speech(9.5, 21.0, LONG)])
    assert text.startswith("WEBVTT\n\n")
    path = tmp_path / "c.vtt"
    path.write_text(text)
    read = webvtt.read(str(path))
    assert read.captions[0].text == "Tom &amp; Jerry &lt;live&gt; --&gt; now"  # escaped: no tag, no timing arrow
    assert html.unescape(read.captions[0].text) == "Tom & Jerry <live> --> now"
    assert [c.text for c in read.captions][1] == "[music]"
    assert start_of(read.captions[1]) == 3.0  # sound kept in brackets, at its time
    assert len(read.captions) == 4  # the long caption took two cues
    starts = [start_of(c) for c in read.captions]
    assert starts == sorted(starts)
    for cue in read.captions:
        assert end_of(cue) > start_of(cue)
        lines = cue.text.split("\n")
        assert len(lines) <= MAX_LINES and all(len(line) <= MAX_LINE for line in lines)


def test_srt_is_read_back_by_srt() -> None:
    text = write("srt", [speech(0.25, 2.0, "Hello there."), sound(2.0, 7.0), speech(61.0, 3725.5, LONG, timed=False)])
    subtitles = list(srt.parse(text))
    assert [s.index for s in subtitles] == [1, 2, 3, 4]
    assert subtitles[0].content == "Hello there." and subtitles[0].start.total_seconds() == 0.25
    assert subtitles[1].content == "[music]"
    assert subtitles[-1].end.total_seconds() == pytest.approx(3725.5)
    assert "01:02:05,500" in text


def test_a_late_sound_caption_never_goes_back_in_time() -> None:
    text = write("vtt", [speech(5.0, 8.0, "Good evening."), sound(2.0, 7.0)])
    read = webvtt.from_buffer(io.StringIO(text))
    assert [(c.text, start_of(c), end_of(c)) for c in read.captions] == [
        ("Good evening.", 5.0, 8.0),
        ("[music]", 5.0, 7.0),
    ]


def test_text_lines_and_timestamps() -> None:
    assert write("txt", [speech(3723.25, 3725.0, "One line.")]) == "[01:02:03.250] One line.\n"
    assert timestamp(0.0) == "00:00:00.000" and timestamp(59.9996) == "00:01:00.000"
    assert timestamp(7.5, ",") == "00:00:07,500"
    with pytest.raises(ValueError, match="unknown caption format"):
        CaptionWriter(io.StringIO(), "ass")


def test_translations_are_written_when_asked() -> None:
    french = CaptionInfo("f", "s", "speech", True, 1.0, 3.0, "Bonjour à tous.", "Bonjour à tous.",
                         translation="Hello everyone.")  # fmt: skip
    out = io.StringIO()
    CaptionWriter(out, "srt", translated=True).write(french)
    assert "Hello everyone." in out.getvalue() and "Bonjour" not in out.getvalue()
    assert "Bonjour à tous." in write("srt", [french])


def test_consecutive_sound_captions_merge_into_one() -> None:
    merged = list(merge_sound([sound(0, 5), sound(5, 10), speech(10.5, 12, "Hi."), sound(12, 14), sound(20, 25)]))
    assert [(c.text, c.start, c.end) for c in merged] == [
        ("[music]", 0, 10),
        ("Hi.", 10.5, 12),
        ("[music]", 12, 14),
        ("[music]", 20, 25),
    ]


def test_cues_are_released_in_time_order_once_no_earlier_one_can_come() -> None:
    order = CueOrder()
    late_music = sound(6.0, 9.0)
    assert order.add(speech(8.0, 9.5, "After the music.")) == []  # sound may still bring something earlier
    assert order.progress(CaptionProgress("sound", 5.0)) == []
    assert [c.text for c in order.add(late_music)] == ["[music]"]  # sound is past 6 s, speech past 8 s
    assert [c.text for c in order.progress(CaptionProgress("sound", 10.0))] == ["After the music."]
    assert order.add(speech(12.0, 13.0, "More.")) == []
    assert [c.text for c in order.flush()] == ["More."]
    assert order.flush() == []
