"""Exact words: how keywords, phrases and regular expressions match a segment's text.

Text and keywords are compared as words: both are folded (Unicode NFKD, combining accents
dropped, case folded) and cut into runs of letters and digits, so "Café" matches "cafe" and
"orange" matches "Orange!" but not "oranges". A phrase matches its words in a row.

Regular expressions come from clients, so they are bounded: at most MAX_REGEX characters,
matched against at most MAX_TEXT characters with the `regex` package's time limit (a pattern
that runs past it counts as no match, and is logged). The text is folded for accents only
(the pattern's own accents too) and matched ignoring case; a match must start and end on word
boundaries.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import regex

from vigil_server.errors import InvalidRequest
from vigil_server.types import Modality

log = logging.getLogger(__name__)

MAX_KEYWORDS = 64  # per standing query
MAX_KEYWORD_CHARS = 200
MAX_REGEX = 256  # characters of pattern
MAX_TEXT = 8192  # characters of a segment's text a regex sees
REGEX_TIMEOUT_S = 0.05  # per segment

WORD = regex.compile(r"\w+")
# What keywords are matched against: transcripts and on-screen text (its modality, where there is one).
KEYWORD_MODALITIES = frozenset(m for m in Modality if m.value in ("speech", "on_screen_text"))


def strip_accents(text: str) -> str:
    """NFKD with the combining marks dropped: "Café" -> "Cafe" (case kept)."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The folded words of a text, in order."""
    found: list[str] = WORD.findall(strip_accents(text).casefold())
    return found


def segment_text(text: str, translation: str) -> str:
    """What keywords are matched against: the text and, when there is one, its English translation."""
    return f"{text}\n{translation}" if translation else text


def phrase(keyword: str, field: str = "keywords") -> tuple[str, ...]:
    """A keyword's folded words; InvalidRequest (naming `field`) when it has none or is too long."""
    if len(keyword) > MAX_KEYWORD_CHARS:
        raise InvalidRequest(f"{field} has a keyword of {len(keyword)} characters; the limit is {MAX_KEYWORD_CHARS}",
                             field=field)  # fmt: skip
    folded = tuple(words(keyword))
    if not folded:
        raise InvalidRequest(f"{field} has {keyword!r}, which holds no word (letters or digits)", field=field)
    return folded


def count_phrase(tokens: list[str], wanted: tuple[str, ...]) -> int:
    """How many times the words `wanted` occur in a row in `tokens`."""
    n = len(wanted)
    if n == 1:
        return tokens.count(wanted[0])
    return sum(1 for i in range(len(tokens) - n + 1) if tuple(tokens[i : i + n]) == wanted)


def compile_regex(pattern: str, field: str = "regex") -> regex.Pattern[str]:
    """A client's pattern, bounded and compiled; InvalidRequest naming `field` when it is too long or invalid."""
    if len(pattern) > MAX_REGEX:
        raise InvalidRequest(f"{field} has {len(pattern)} characters; the limit is {MAX_REGEX}", field=field)
    try:
        return regex.compile(rf"(?<!\w)(?:{strip_accents(pattern)})(?!\w)", regex.IGNORECASE | regex.V0)
    except (regex.error, OverflowError, RecursionError) as exc:
        raise InvalidRequest(f"{field} is not a valid regular expression: {exc}", field=field) from exc


@dataclass(frozen=True)
class KeywordMatcher:
    """A standing query's keywords and regex, ready to match segment texts."""

    keywords: tuple[str, ...]  # as the client wrote them
    phrases: tuple[tuple[str, ...], ...]  # their folded words, in the same order
    pattern: regex.Pattern[str] | None

    @classmethod
    def build(cls, keywords: Iterable[str], pattern: str = "") -> KeywordMatcher:
        kept = tuple(k for k in keywords)
        if len(kept) > MAX_KEYWORDS:
            raise InvalidRequest(f"keywords has {len(kept)} entries; the limit is {MAX_KEYWORDS}", field="keywords")
        return cls(kept, tuple(phrase(k) for k in kept), compile_regex(pattern) if pattern else None)

    def __bool__(self) -> bool:
        return bool(self.phrases) or self.pattern is not None

    def hits(self, text: str) -> tuple[tuple[str, ...], int]:
        """(the keywords, or regex matches, found in `text`; how many times in all)."""
        found: Counter[str] = Counter()
        if self.phrases:
            tokens = words(text)
            for keyword, wanted in zip(self.keywords, self.phrases, strict=True):
                count = count_phrase(tokens, wanted)
                if count:
                    found[keyword] += count
        if self.pattern is not None:
            try:
                for match in self.pattern.finditer(strip_accents(text[:MAX_TEXT]), timeout=REGEX_TIMEOUT_S):
                    found[match.group(0)] += 1
            except TimeoutError:
                # The pattern is a query's text: only at DEBUG (texts are never logged at INFO or above).
                log.warning("a standing query's regex ran past %.2f s on a segment; counted as no match",
                            REGEX_TIMEOUT_S)  # fmt: skip
                log.debug("the regex that ran past its time: %r", self.pattern.pattern)
        return tuple(found), sum(found.values())
