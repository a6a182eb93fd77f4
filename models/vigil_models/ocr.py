"""On-screen text: the lines of text a frame shows, read with PP-OCR.

The reader is RapidOCR as shipped by `rapidocr-onnxruntime` (Apache-2.0): PaddleOCR's PP-OCRv4
text detector and recogniser (Chinese and English) and its text-direction classifier, ONNX files
inside the wheel, run by onnxruntime on the CPU. Nothing is downloaded.

`TextReader.read(frame)` takes a uint8 RGB frame at its own size and returns one `TextLine` per
line found: its text, its box (fractions of the frame) and the recogniser's confidence. The frame
is scaled so that its longer side is at most `max_side` pixels before detection (a 640x360 frame
takes about 0.3 CPU-seconds on one thread). The recogniser often drops the space between words
set close together ("BREAKING:FREE CRYPTO"); `split_words` puts spaces back where a vocabulary
says a run of letters is several words, so that the text encoder and keyword rules see words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# A line needs at least this confidence (the recogniser's mean character probability) to be kept.
MIN_LINE_SCORE = 0.6
MAX_SIDE = 960  # pixels: longer frames are scaled down before text detection
_LETTERS = re.compile(r"[A-Za-z]{7,}")  # runs this long may be words run together
_MAX_WORD = 20
# Short words a split may use; other pieces need four letters (a vocabulary's short entries are mostly
# fragments: "ec", "og", "con", "tam").
_SHORT_WORDS = frozenset(
    ("a", "an", "as", "at", "be", "by", "do", "go", "he", "if", "in", "is", "it", "me", "my", "no", "of", "on", "or",
     "so", "to", "up", "us", "we", "all", "and", "are", "big", "buy", "can", "day", "for", "get", "has", "her", "his",
     "how", "its", "low", "man", "new", "not", "now", "off", "old", "one", "our", "out", "pay", "see", "she", "the",
     "top", "two", "use", "war", "way", "who", "why", "win", "yes", "you")
)  # fmt: skip


@dataclass(frozen=True)
class TextLine:
    text: str
    box: tuple[float, float, float, float]  # x, y, width, height: fractions of the frame, from the top left
    score: float  # the recogniser's confidence, 0 to 1


class TextReader:
    """`read(uint8 HxWx3 RGB frame) -> [TextLine]`, top to bottom; one call at a time (one thread)."""

    def __init__(self, threads: int = 1, max_side: int = MAX_SIDE, min_score: float = MIN_LINE_SCORE,
                 vocabulary: Iterable[str] = ()):  # fmt: skip
        from rapidocr_onnxruntime import RapidOCR  # imported here: loading it is only for servers that read text

        self._ocr = RapidOCR(
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            det_limit_side_len=max_side,
            det_limit_type="max",
            print_verbose=False,
        )
        self.min_score = min_score
        self._words = frozenset(w.lower() for w in vocabulary)

    def read(self, frame: np.ndarray) -> list[TextLine]:
        height, width = frame.shape[:2]
        if height < 8 or width < 8:
            return []
        bgr = np.ascontiguousarray(frame[..., ::-1])
        found, _ = self._ocr(bgr)
        lines = []
        for points, text, score in found or ():
            text = " ".join(str(text).split())
            if not text or float(score) < self.min_score:
                continue
            xs = [float(p[0]) for p in points]
            ys = [float(p[1]) for p in points]
            x0, x1 = max(0.0, min(xs)) / width, min(float(width), max(xs)) / width
            y0, y1 = max(0.0, min(ys)) / height, min(float(height), max(ys)) / height
            text = split_words(text, self._words) if self._words else text
            lines.append(TextLine(text, (round(x0, 4), round(y0, 4), round(x1 - x0, 4), round(y1 - y0, 4)),
                                  round(float(score), 4)))  # fmt: skip
        lines.sort(key=lambda line: (line.box[1], line.box[0]))
        return lines


def split_words(text: str, words: frozenset[str]) -> str:
    """Spaces put back into runs of letters that are no word but a few words run together ("FREECRYPTO").

    A run is split into the fewest vocabulary words (of four letters or more, or a common short word)
    that spell it exactly;
    a run that is a word, or that no such split spells, is left as it is.
    """

    def split(match: re.Match[str]) -> str:
        run = match.group(0)
        if run.lower() in words:
            return run
        parts = _fewest_words(run.lower(), words)
        if parts is None or len(parts) < 2:
            return run
        out, at = [], 0
        for part in parts:  # keep the letters' case
            out.append(run[at : at + len(part)])
            at += len(part)
        return " ".join(out)

    return _LETTERS.sub(split, text)


def _fewest_words(run: str, words: frozenset[str]) -> list[str] | None:
    n = len(run)
    best: list[list[str] | None] = [None] * (n + 1)
    best[0] = []
    for end in range(2, n + 1):
        for start in range(max(0, end - _MAX_WORD), end - 1):
            before = best[start]
            piece = run[start:end]
            if before is None or piece not in words or (len(piece) < 4 and piece not in _SHORT_WORDS):
                continue
            known = best[end]
            if known is None or len(before) + 1 < len(known):
                best[end] = [*before, piece]
    return best[n]


@functools.cache
def tokenizer_words(model_dir: Path) -> frozenset[str]:
    """Whole words of a WordPiece vocabulary (`vocab.txt` of the text model): letters only, two or more."""
    path = model_dir / "vocab.txt"
    if not path.exists():
        return frozenset()
    words = (line.strip() for line in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if len(w) >= 2 and w.isascii() and w.isalpha() and w.islower())
