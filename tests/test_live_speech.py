"""Live speech captions (live_speech.py): the stability policy (LocalAgreement-2) with a scripted recogniser.

The recogniser "hears" a word every 0.5 s of the region's audio and once mishears a word it has only
just heard ("fax" for "fox"); its final transcription mishears it again. Stable words must never
change: not in later interims, not in the final caption.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import numpy as np
import pytest

from tests.fakes import fake_model_set
from vigil_models import SAMPLE_RATE, TranscriptPiece, VadState, WordTiming
from vigil_server.captions import Caption, CaptionHub, CaptionKind
from vigil_server.clock import AudioWindow
from vigil_server.live_speech import CaptionWord, LiveSpeech, after_stable, agreed, keep_stable, norm
from vigil_server.settings import CaptionSettings, SpeechSettings
from vigil_server.speech import SpeechRegions, SpeechSpan

WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "it."]
BLOCK_S = 0.2


@dataclass
class ScriptedRecognizer:
    """Word i is said over [0.3 + 0.5 i, 0.7 + 0.5 i] s of a region; "fox" is misheard while it is the last 0.2 s."""

    final_text: list[str] = field(default_factory=lambda: [*WORDS[:3], "fax", *WORDS[4:]])
    busy: int = 0
    calls: list[tuple[float, bool]] = field(default_factory=list)  # (seconds of audio, final?)

    @property
    def transcriptions_pending(self) -> int:
        return self.busy

    async def transcribe(
        self, audio: np.ndarray, language: str, *, words: bool = False, translate: bool = True, wait: bool = True
    ) -> list[TranscriptPiece]:
        seconds = audio.size / SAMPLE_RATE
        self.calls.append((seconds, translate))
        heard = []
        for i, word in enumerate(self.final_text if translate else WORDS):
            start, end = 0.3 + 0.5 * i, 0.7 + 0.5 * i
            if end <= seconds:
                late = word == "fox" and seconds < end + BLOCK_S
                heard.append(WordTiming(start, end, f" {'fax' if late else word}"))
        if not heard:
            return []
        text = "".join(w.text for w in heard).strip()
        return [TranscriptPiece(0.0, seconds, text, "en", words=tuple(heard))]


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), np.float32)


def speech_audio() -> np.ndarray:
    """0.5 s of silence, 4.2 s of a 'voice' tone (the fakes' detector hears it), 1 s of silence."""
    return np.concatenate([quiet(0.5), tone(4.2), quiet(1.0)])


def run(
    recognizer: ScriptedRecognizer, watch: bool = True, audio: np.ndarray | None = None
) -> tuple[list[Caption], list[SpeechSpan]]:
    """Stream the audio through LiveSpeech, a watcher on its feed; the captions it got and the spans stored."""
    detector = fake_model_set().detector
    settings = CaptionSettings(interim_every_s=0.02)

    async def scan(state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]:
        return detector.scan(state, audio)

    async def main() -> tuple[list[Caption], list[SpeechSpan]]:
        hub = CaptionHub(settings)
        feed = hub.feed("default", "s")
        captions: list[Caption] = []

        async def follow() -> None:
            async for event in hub.watch("default", "s", interims=True, descriptions=False, replay=0):
                if isinstance(event, Caption):
                    captions.append(event)

        follower = asyncio.create_task(follow()) if watch else None
        stored: list[SpeechSpan] = []

        def store(spans: list[SpeechSpan]) -> list[str]:
            stored.extend(spans)
            return [f"seg-{len(stored)}"]

        await asyncio.sleep(0)  # the watcher registers
        regions = SpeechRegions(scan, detector.window, SpeechSettings())
        live = LiveSpeech(regions, recognizer, feed, store, "en", 100.0, settings)
        samples = speech_audio() if audio is None else audio
        block = round(BLOCK_S * SAMPLE_RATE)
        try:
            for at in range(0, samples.size, block):
                await live.push(AudioWindow(at, samples[at : at + block]))
                await asyncio.sleep(0.025)  # the interim runs; wall time passes as media does, faster
            await live.flush()
            await asyncio.sleep(0.01)  # the watcher reads the last caption
        finally:
            await live.close()
            if follower is not None:
                follower.cancel()
        return captions, stored

    return asyncio.run(main())


def test_stable_words_never_change_and_the_final_keeps_them() -> None:
    recognizer = ScriptedRecognizer()
    captions, stored = run(recognizer)
    interims = [c for c in captions if not c.final]
    finals = [c for c in captions if c.final]
    assert len(finals) == 1 and captions[-1] is finals[0]
    assert len(interims) >= 5
    assert {c.caption_id for c in captions} == {finals[0].caption_id}
    for earlier, later in itertools.pairwise(captions):
        assert later.stable_text.startswith(earlier.stable_text), (earlier, later)
        assert later.text.startswith(earlier.stable_text), (earlier, later)
    # "fax" was shown (unstable) but never became stable; the final's "fax" is overruled by the stable "fox".
    assert any("fax" in c.text for c in interims)
    assert not any("fax" in c.stable_text for c in captions)
    assert "fox" in interims[-1].stable_text
    final = finals[0]
    assert final.text == "The quick brown fox jumps over it." == final.stable_text
    assert [w.text.strip() for w in final.words] == WORDS
    assert final.start == pytest.approx(100.0 + 0.25 + 0.3, abs=0.05)  # the offset, the pad, the first word
    assert final.segment_ids == ("seg-1",)
    # The stored segment keeps the final transcription itself (what search and moderation read).
    assert [s.text for s in stored] == ["The quick brown fax jumps over it."]
    # One final transcription (started in the closing pause, translation allowed), and no interim after it.
    assert [final for _, final in recognizer.calls].count(True) == 1 and recognizer.calls[-1][1] is True


def test_no_interims_without_a_watcher_or_while_transcriptions_wait() -> None:
    for recognizer, watch in ((ScriptedRecognizer(), False), (ScriptedRecognizer(busy=1), True)):
        captions, stored = run(recognizer, watch=watch)
        assert [call for call in recognizer.calls if not call[1]] == []  # no interim transcription at all
        assert len(stored) == 1
        if watch:
            assert [c.final for c in captions] == [True] and captions[0].kind is CaptionKind.SPEECH
            assert captions[0].text == "The quick brown fax jumps over it."  # nothing was stable: the final as heard


def test_a_final_started_in_a_pause_is_dropped_when_the_speaker_goes_on() -> None:
    recognizer = ScriptedRecognizer()
    # A 0.4 s pause: long enough to start the final (0.25 s), too short to end the region (0.6 s).
    captions, stored = run(recognizer, audio=np.concatenate([quiet(0.5), tone(2.0), quiet(0.4), tone(1.8), quiet(1.0)]))
    finals = [seconds for seconds, final in recognizer.calls if final]
    assert len(finals) == 2  # the guess in the short pause, then the whole region
    assert finals[0] < 2.8 < 4.2 < finals[1]
    assert len(stored) == 1 and [c.text for c in captions if c.final] == [stored[0].text]
    assert stored[0].text.split()[-1] == WORDS[6]  # words from after the pause are in it


def word(text: str, start: float) -> CaptionWord:
    return CaptionWord(start, start + 0.4, f" {text}")


def test_local_agreement_pieces() -> None:
    a = [word("Hello", 0), word("there,", 0.5), word("general", 1.0)]
    b = [word("hello", 0), word("there", 0.5), word("General", 1.0), word("Kenobi.", 1.5)]
    assert agreed(a, b) == 3  # case and punctuation do not count
    assert agreed(a[:1], [word("Yellow", 0)]) == 0
    assert norm(" Don't!") == "don't"
    assert after_stable(a[:2], b) == b[2:]
    # Heard differently: the words that come after the last stable one, by time.
    assert after_stable([word("Jello", 0)], [word("Hello", 0), word("world", 0.6)]) == [word("world", 0.6)]
    kept = keep_stable(a[:2], b)
    assert [w.text for w in kept] == [" Hello", " there,", " General", " Kenobi."]
    assert kept[1].end == b[1].end
