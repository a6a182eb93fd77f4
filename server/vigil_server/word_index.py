"""Keyword search: an inverted index of the words of stored transcripts and on-screen text, ranked by BM25.

Milvus Lite 3 and Milvus 2.5+ servers can rank by BM25 themselves, but only over a collection
created with an analyzer on its text field (a new schema), and the Milvus 2.3 server the tests
run has no BM25 at all. So the index is local to the server process and works the same on every
store: the store worker adds every speech (and on-screen text) segment as it is written, and the
first keyword search reads the segments already stored back from the store once.

Words are compared as keywords.py folds them (case and accents ignored); a keyword may be a
phrase, which matches its words in a row. With several servers writing one Milvus, a server's
index holds what was stored when it first searched by keyword and what it stored itself since.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vigil_server.keywords import KEYWORD_MODALITIES, count_phrase, segment_text, words
from vigil_server.types import SearchFilter, Segment

K1 = 1.2  # BM25 term-frequency saturation
B = 0.75  # BM25 length normalisation


@dataclass(frozen=True)
class WordHit:
    segment: Segment
    bm25: float
    keywords: tuple[str, ...]  # the keywords (as asked) the segment holds


@dataclass(frozen=True, slots=True)
class _Doc:
    segment: Segment
    tokens: tuple[str, ...]


def passes(segment: Segment, f: SearchFilter) -> bool:
    """Whether a segment passes a search filter (as store.filter_expression, in Python)."""
    if segment.tenant != f.tenant or segment.segment_id in f.exclude_ids:
        return False
    if f.modalities and segment.modality not in f.modalities:
        return False
    if f.stream_ids and segment.stream_id not in f.stream_ids:
        return False
    if f.start is not None and segment.end <= f.start:
        return False
    return f.end is None or segment.start < f.end


class WordIndex:
    """Thread-safe: the store worker adds, searches read (under one lock; both are quick)."""

    def __init__(self, stored: Callable[[], Iterable[Segment]] | None = None):
        self._stored = stored  # reads back what the store already holds, once, on the first search
        self._lock = threading.Lock()
        self._loaded = stored is None
        self._loading = False
        self._erased: set[str] = set()  # removed while the first load reads: what it read may predate that
        self._docs: dict[str, _Doc] = {}
        self._postings: dict[str, set[str]] = {}
        self._total_tokens = 0

    def __len__(self) -> int:
        return len(self._docs)

    def add(self, segments: Iterable[Segment]) -> None:
        """Index the segments whose modality carries words (others are ignored); re-adding one is a no-op."""
        kept = [s for s in segments if s.modality in KEYWORD_MODALITIES and (s.text or s.translation)]
        if kept:
            with self._lock:
                for segment in kept:
                    self._add(segment)

    def _add(self, segment: Segment) -> None:
        if segment.segment_id in self._docs:
            return
        tokens = tuple(words(segment_text(segment.text, segment.translation)))
        self._docs[segment.segment_id] = _Doc(segment, tokens)
        self._total_tokens += len(tokens)
        for token in set(tokens):
            self._postings.setdefault(token, set()).add(segment.segment_id)

    def remove(self, segment_ids: Iterable[str]) -> int:
        """Forget segments (erased from the store); returns how many were indexed."""
        removed = 0
        with self._lock:
            for segment_id in segment_ids:
                if self._loading:
                    self._erased.add(segment_id)
                doc = self._docs.pop(segment_id, None)
                if doc is None:
                    continue
                removed += 1
                self._total_tokens -= len(doc.tokens)
                for token in set(doc.tokens):
                    postings = self._postings.get(token)
                    if postings is not None:
                        postings.discard(segment_id)
                        if not postings:
                            del self._postings[token]
        return removed

    def load(self) -> None:
        """Read back what the store held before this process (blocking; once)."""
        if self._loaded or self._stored is None:
            return
        with self._lock:
            self._loading = True
        try:
            segments = list(self._stored())
        except BaseException:
            with self._lock:
                self._loading = False
                self._erased.clear()
            raise
        with self._lock:
            for segment in segments:
                if segment.modality in KEYWORD_MODALITIES and segment.segment_id not in self._erased:
                    self._add(segment)
            self._loaded = True
            self._loading = False
            self._erased.clear()

    def search(self, keywords: Sequence[tuple[str, tuple[str, ...]]], f: SearchFilter, limit: int) -> list[WordHit]:
        """Segments passing the filter that hold any keyword, best BM25 first.

        `keywords`: (the keyword as asked, its folded words) pairs (keywords.phrase).
        """
        self.load()
        with self._lock:
            docs = self._docs
            count = max(1, len(docs))
            mean_length = max(1.0, self._total_tokens / count)
            scores: dict[str, float] = {}
            found: dict[str, list[str]] = {}
            for keyword, phrase in keywords:
                postings = [self._postings.get(token, set()) for token in phrase]
                candidates = set.intersection(*postings) if postings else set()
                frequencies: dict[str, int] = {}
                for segment_id in candidates:
                    doc = docs[segment_id]
                    if doc.segment.tenant == f.tenant:
                        tf = count_phrase(list(doc.tokens), phrase)
                        if tf:
                            frequencies[segment_id] = tf
                if not frequencies:
                    continue
                idf = math.log(1 + (count - len(frequencies) + 0.5) / (len(frequencies) + 0.5))
                for segment_id, tf in frequencies.items():
                    doc = docs[segment_id]
                    if not passes(doc.segment, f):
                        continue
                    norm = K1 * (1 - B + B * len(doc.tokens) / mean_length)
                    scores[segment_id] = scores.get(segment_id, 0.0) + idf * tf * (K1 + 1) / (tf + norm)
                    found.setdefault(segment_id, []).append(keyword)
            best = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
            return [WordHit(docs[i].segment, score, tuple(found[i])) for i, score in best]
