"""Long text queries: a passage is split into sentences, each is searched, and the rankings are fused;
each match names the sentence that found it. Through the in-process server with the fake models
(tests/fakes.py: texts are bags of words, a frame is its colour's word, a tone says its word).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from scripts.sample_media import tone_video
from tests.fakes import TONE_WORDS
from tests.inprocess import InProcessServer
from tests.moderation_media import ingest
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_client.errors import error_details
from vigil_server.hybrid import MAX_SENTENCES, sentences

WORD_FREQ = {word: freq for freq, word in TONE_WORDS.items()}
PASSAGE = """The harbour is quiet tonight; nobody is out.
Someone said delta on the radio! Then the screen turned blue.

Nothing else happened."""


def test_a_passage_splits_into_its_sentences() -> None:
    assert sentences(PASSAGE) == [
        "The harbour is quiet tonight;",
        "nobody is out.",
        "Someone said delta on the radio!",
        "Then the screen turned blue.",
        "Nothing else happened.",
    ]
    assert sentences("... !!! \n\n ?") == []
    assert len(sentences("One. " * 100)) == MAX_SENTENCES


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vigil_pb2_grpc.VigilStub]:
    server = InProcessServer(tmp_path_factory.mktemp("passage-data")).start()
    try:
        with grpc.insecure_channel(server.address) as channel:
            stub = vigil_pb2_grpc.VigilStub(channel)
            slides = [((255, 0, 0), 3.0), ((0, 0, 255), 3.0)]
            tones = [(WORD_FREQ["delta"], 0.5, 1.0), (WORD_FREQ["golf"], 3.5, 1.0)]
            ingest(stub, tone_video(tmp_path_factory.mktemp("passage"), slides, tones), "story")
            yield stub
    finally:
        server.stop()


def test_a_passage_finds_time_ranges_with_the_sentence_that_matched_each(stub: vigil_pb2_grpc.VigilStub) -> None:
    matches = stub.Search(pb.SearchRequest(passage=PASSAGE, top_k=6), timeout=30).matches
    said = [m for m in matches if m.segment.modality == pb.MODALITY_SPEECH and m.segment.text == "delta"]
    blue = [m for m in matches if m.segment.modality == pb.MODALITY_FRAME and m.segment.start >= 3.0]
    assert said and said[0].matched_sentence == "Someone said delta on the radio!"
    assert said[0].segment.end > said[0].segment.start
    assert blue and {m.matched_sentence for m in blue} == {"Then the screen turned blue."}
    assert all(m.fused_score == 0 and m.matched_sentence for m in matches)
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)
    # what the two sentences that name something streamed found comes first: 3 blue frames, the word
    top = {(m.segment.modality, m.matched_sentence) for m in matches[:4]}
    assert top == {
        (pb.MODALITY_SPEECH, "Someone said delta on the radio!"),
        (pb.MODALITY_FRAME, "Then the screen turned blue."),
    }


def test_a_passage_with_keywords_fuses_them_too(stub: vigil_pb2_grpc.VigilStub) -> None:
    request = pb.SearchRequest(passage="A red screen. Then nothing at all.", keywords=["golf"], top_k=5)
    matches = stub.Search(request, timeout=30).matches
    golf = [m for m in matches if list(m.keyword_hits) == ["golf"]]
    assert len(golf) == 1 and golf[0].segment.text == "golf" and golf[0].matched_sentence
    assert golf[0] == matches[0]  # first in the keyword ranking, and in the embedding's too (6 segments in all)
    red = [m for m in matches if m.segment.modality == pb.MODALITY_FRAME and m.segment.start < 3.0]
    assert red and {m.matched_sentence for m in red} == {"A red screen."}


@pytest.mark.parametrize("passage", ["   ", "x" * 20001, "... ?! ..."])
def test_an_empty_or_huge_passage_is_refused_naming_the_field(stub: vigil_pb2_grpc.VigilStub, passage: str) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Search(pb.SearchRequest(passage=passage), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [f for f, _ in error_details(caught.value).field_violations] == ["passage"]
