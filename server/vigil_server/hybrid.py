"""Search: the embedding search, long text (passage) queries and exact words, fused by reciprocal rank.

- A plain query is embedded (query.py) and searched (index.py): one ranking, as it always was.
- A passage is split into sentences; each is embedded and searched, and each segment found takes
  its best calibrated score over the sentences and that sentence (CombMAX). Reciprocal-rank
  fusion of the sentences' rankings was tried first and dropped: every segment is in every
  sentence's list, so segments vaguely like many sentences beat the one a sentence names.
- Keywords (or, when a keyword mode is asked without keywords, the words of the text query) are
  looked up in the keyword index (word_index.py) and ranked by BM25: a second ranking.

The embedding ranking and the keyword ranking are fused by reciprocal rank (RRF: a segment scores
the sum of 1 / (60 + its rank) over the rankings that hold it), so a segment that says the word
comes up even when the embedding misses it. Every match keeps its embedding cosine and calibrated score (computed for
segments that only the keywords found), the sentence of the passage it ranked best for, and the
keywords it holds.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from vigil_server.errors import InvalidRequest
from vigil_server.index import SegmentIndex
from vigil_server.keywords import MAX_KEYWORD_CHARS, phrase, words
from vigil_server.query import QueryEmbedder
from vigil_server.types import (
    KeywordMode,
    KeywordsOnly,
    Match,
    PassageItem,
    SearchFilter,
    SearchQuery,
    SegmentRef,
    TextItem,
)

RRF_K = 60  # the usual constant of reciprocal-rank fusion (Cormack et al. 2009)
MAX_SENTENCES = 32  # of a passage; the rest is ignored
MAX_QUERY_KEYWORDS = 16
MIN_DEPTH = 50  # each fused ranking is read this deep (or top_k, when more)
SENTENCE_END = re.compile(r"(?<=[.!?;。！？])\s+|\n+")


def sentences(passage: str) -> list[str]:
    """A passage's sentences (at most MAX_SENTENCES), each with at least one word."""
    parts = (part.strip() for part in SENTENCE_END.split(passage))
    return [part for part in parts if words(part)][:MAX_SENTENCES]


@dataclass(frozen=True)
class _Ranked:
    match: Match
    rank: int  # 1 is best
    sentence: str = ""


class HybridSearch:
    def __init__(self, query: QueryEmbedder, index: SegmentIndex):
        self.query = query
        self.index = index

    async def search(self, q: SearchQuery) -> list[Match]:
        """The top_k matches of a search, best first (see the module docstring)."""
        f = q.filter
        if isinstance(q.item, SegmentRef):
            f = replace(f, exclude_ids=(*f.exclude_ids, q.item.segment_id))
        mode = KeywordMode.ONLY if isinstance(q.item, KeywordsOnly) else q.keyword_mode
        terms = self._keywords(q) if mode is not KeywordMode.NONE else []  # checked before any embedding
        vectors = await self._vectors(q, f.tenant)
        if mode is KeywordMode.NONE and not isinstance(q.item, PassageItem):
            return await self.index.search(vectors[0][1], f, q.top_k)  # a plain search, as it always was
        depth = max(q.top_k, MIN_DEPTH)
        dense = await self._dense(vectors, f, depth) if mode is not KeywordMode.ONLY else []
        if mode is KeywordMode.NONE:  # a passage without keywords
            return [replace(r.match, sentence=r.sentence) for r in dense[: q.top_k]]
        words = await self._words(terms, vectors, f, depth)
        if mode is KeywordMode.ONLY:
            return [replace(r.match, sentence=r.sentence) for r in words[: q.top_k]]
        return fuse([dense, words], q.top_k)

    async def _vectors(self, q: SearchQuery, tenant: str) -> list[tuple[str, np.ndarray]]:
        """(sentence, its vector) for each sentence of a passage; ("", vector) for another query; none without."""
        if isinstance(q.item, KeywordsOnly):
            return []
        if isinstance(q.item, PassageItem):
            said = sentences(q.item.text)
            if not said:
                raise InvalidRequest("passage holds no sentence with a word in it", field="passage")
            return list(zip(said, await self.query.workers.embed_texts(said, wait=False), strict=True))
        return [("", await self.query.embed(q.item, tenant))]

    async def _words(
        self,
        terms: Sequence[tuple[str, tuple[str, ...]]],
        vectors: Sequence[tuple[str, np.ndarray]],
        f: SearchFilter,
        depth: int,
    ) -> list[_Ranked]:
        """The keyword ranking (BM25), each segment with its embedding score against the nearest vector."""
        hits = await self.index.search_words(terms, f, depth)
        scored = await self.index.rescore([v for _, v in vectors], [h.segment for h in hits], f.tenant)
        said = [sentence for sentence, _ in vectors]
        return [
            _Ranked(replace(m, keyword_hits=h.keywords, fused=h.bm25), n, said[best] if best >= 0 else "")
            for n, ((m, best), h) in enumerate(zip(scored, hits, strict=True), 1)
        ]

    async def _dense(self, vectors: Sequence[tuple[str, np.ndarray]], f: SearchFilter, depth: int) -> list[_Ranked]:
        """One embedding ranking: each segment at its best calibrated score over the vectors (sentences)."""
        best: dict[str, _Ranked] = {}
        for sentence, vector in vectors:
            for match in await self.index.search(vector, f, depth):
                held = best.get(match.segment.segment_id)
                if held is None or match.score > held.match.score:
                    best[match.segment.segment_id] = _Ranked(match, 0, sentence)
        ordered = sorted(best.values(), key=lambda r: (-r.match.score, r.match.segment.segment_id))
        return [replace(r, rank=n) for n, r in enumerate(ordered, 1)]

    @staticmethod
    def _keywords(q: SearchQuery) -> list[tuple[str, tuple[str, ...]]]:
        if len(q.keywords) > MAX_QUERY_KEYWORDS:
            raise InvalidRequest(f"keywords has {len(q.keywords)} entries; the limit is {MAX_QUERY_KEYWORDS}",
                                 field="keywords")  # fmt: skip
        if q.keywords:
            return [(k, phrase(k)) for k in q.keywords]
        text = q.item.text if isinstance(q.item, TextItem | PassageItem) else ""
        unique = dict.fromkeys(w for w in words(text) if len(w) <= MAX_KEYWORD_CHARS)
        if not unique:
            raise InvalidRequest("keyword_mode needs keywords, or a text query or passage to take them from",
                                 field="keywords")  # fmt: skip
        return [(w, (w,)) for w in unique]


def fuse(rankings: Sequence[Sequence[_Ranked]], top_k: int) -> list[Match]:
    """Reciprocal-rank fusion: each segment's sum of 1 / (RRF_K + rank), best first.

    A segment keeps its best embedding score of any ranking, the sentence of the ranking where it
    ranked best, and the keyword hits of any ranking.
    """
    fused: dict[str, float] = {}
    best: dict[str, _Ranked] = {}
    hits: dict[str, tuple[str, ...]] = {}
    for ranking in rankings:
        for ranked in ranking:
            key = ranked.match.segment.segment_id
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + ranked.rank)
            if ranked.match.keyword_hits:
                hits[key] = ranked.match.keyword_hits
            held = best.get(key)
            if held is None or (ranked.rank, -ranked.match.score) < (held.rank, -held.match.score):
                best[key] = ranked
    order = sorted(fused, key=lambda key: (-fused[key], -best[key].match.score, key))[:top_k]
    return [
        replace(best[key].match, fused=fused[key], sentence=best[key].sentence, keyword_hits=hits.get(key, ()))
        for key in order
    ]
