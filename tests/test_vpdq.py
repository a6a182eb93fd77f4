"""Units of hash sharing, no server: vPDQ's formats and matching, the vPDQ signal's moving window, the
multi-index PDQ search, letterbox trimming, and reading typed hash lists."""

from __future__ import annotations

import numpy as np
import pytest

import vigil_models.hashing as hashing
from tests.hash_media import full_frame
from vigil_models.hashing import PdqHash, PdqIndex, frame_hashes, hamming, pdq_hash, trim_borders
from vigil_models.vpdq import VpdqFrame, format_vpdq, format_vpdq_compact, parse_vpdq, unique_frames, vpdq_match
from vigil_server.errors import InvalidRequest
from vigil_server.moderation.hash_lists import read_hash_list
from vigil_server.moderation.signals import Md5Signal, PdqSignal, Sha256Signal, VpdqSignal
from vigil_server.moderation.signals.vpdq import VpdqHash, VpdqLive

RNG = np.random.default_rng(12)


def random_hash(quality: int = 100) -> PdqHash:
    return PdqHash(RNG.integers(0, 256, 32, dtype=np.uint8).tobytes(), quality)


def flipped(value: PdqHash, bits: int) -> PdqHash:
    """The hash with `bits` of its bits flipped."""
    data = bytearray(value.bits)
    for bit in RNG.choice(256, size=bits, replace=False):
        data[bit // 8] ^= 1 << (bit % 8)
    return PdqHash(bytes(data), value.quality)


def frames(hashes: list[PdqHash]) -> list[VpdqFrame]:
    return [VpdqFrame(25 * n, h.quality or 0, h, float(n)) for n, h in enumerate(hashes)]


def test_vpdq_files_and_threatexchange_strings_read_back_and_name_the_bad_line() -> None:
    video = frames([random_hash(100), random_hash(42), random_hash(87)])
    text = format_vpdq(video)
    first = text.splitlines()[0].split(",")
    assert first[0] == "0" and first[1] == "100" and len(first[2]) == 64 and first[3] == "0.000"
    assert parse_vpdq("# from vpdq-hash-video\n\n" + text) == video
    compact = parse_vpdq(format_vpdq_compact(video))
    assert [(f.hash, f.quality, f.timestamp) for f in compact] == [(f.hash, f.quality, f.timestamp) for f in video]
    for bad, where in [(text + "75,100,zz,3.0\n", "line 4"), ("0,101," + "0" * 64 + ",0.000\n", "line 1"),
                       ("0,100," + "0" * 64 + "\n", "line 1"), ("0,100," + "0" * 64 + ",-1\n", "line 1"),
                       ('["' + "0" * 64 + ',100"]', "frame 0")]:  # fmt: skip
        with pytest.raises(ValueError, match=where):
            parse_vpdq(bad)
    with pytest.raises(ValueError, match="no frames"):
        parse_vpdq("\n# nothing\n")


def test_vpdq_matching_counts_unique_good_frames_of_the_reference() -> None:
    reference = [random_hash() for _ in range(10)]
    video = frames([*reference, reference[0], random_hash(10)])  # a repeated frame and a flat one count once / never
    assert len(unique_frames(video)) == 10
    near = frames([flipped(h, 20) for h in reference[:8]] + [random_hash() for _ in range(30)])
    result = vpdq_match(near, video)
    assert result.compared_percent == pytest.approx(80.0) and result.matched()
    assert result.query_percent == pytest.approx(100 * 8 / 38)  # extra material in the query is allowed...
    assert not result.matched(query_percent=50.0)  # ...unless asked otherwise
    far = frames([flipped(h, 40) for h in reference])
    assert vpdq_match(far, video).compared_percent == 0.0


def test_the_vpdq_signal_matches_a_moving_window_of_the_stream() -> None:
    signal = VpdqSignal(31, 50, 80.0)
    reference = [random_hash() for _ in range(10)]
    item = VpdqHash(tuple(frames(reference)))
    index = signal.index([("item", item)])
    memory = signal.stream_state()

    def frame(value: PdqHash, at: float) -> list[str]:
        return [item_id for item_id, _ in index.match(VpdqLive((value,), at, at + 1.0), memory)]

    # 7 of the 10 frames, then unrelated material for longer than the window (10 s + 5 s): no match...
    assert all(frame(flipped(h, 10), t) == [] for t, h in enumerate(reference[:7]))
    assert all(frame(random_hash(), 7.0 + t) == [] for t in range(20))
    # ...and the 8th frame after that does not complete the old ones: they left the window.
    assert frame(flipped(reference[7], 10), 27.0) == []
    # A whole showing later matches once, at the 8th frame (80 %), and then starts afresh.
    hits = [frame(flipped(h, 12), 100.0 + t) for t, h in enumerate(reference)]
    assert hits[:7] == [[]] * 7 and hits[7] == ["item"] and hits[8:] == [[], []]
    # Without a stream (a lookup of one frame), a frame is its own window.
    assert index.match(VpdqLive((reference[0],), 0.0, 1.0)) == []
    assert signal.adjusted(10.0).index([("item", item)]).match(VpdqLive((reference[0],), 0.0, 1.0))


def test_the_multi_index_finds_exactly_what_a_scan_finds(monkeypatch: pytest.MonkeyPatch) -> None:
    bank = [random_hash() for _ in range(30_000)]
    queries = [flipped(bank[n], bits) for n, bits in zip(range(0, 3000, 100), range(0, 60, 2), strict=True)]
    queries += [random_hash() for _ in range(5)]
    index = PdqIndex.of((str(n), h) for n, h in enumerate(bank))
    for distance in (0, 15, 31, 40):
        found = [index.match(q, distance) for q in queries]
        assert index._tables is not None  # the multi-index answered
        monkeypatch.setattr(hashing, "MULTI_INDEX_MIN", 10**9)
        assert [index.match(q, distance) for q in queries] == found
        monkeypatch.undo()
        pairs = zip(queries, found, strict=True)
        assert all(hamming(q, bank[int(i)]) <= distance for q, hits in pairs for i, _ in hits)
    assert index.match(bank[0], 31)[0] == ("0", 0)
    words = np.frombuffer(bank[1].bits, np.uint64)
    assert list(hashing._distances(np.stack([words, ~words]), words)) == [0, 256]  # 256: the complement


def test_letterbox_and_pillarbox_bars_are_trimmed_before_hashing() -> None:
    picture = full_frame("astronaut")
    assert trim_borders(picture) is None
    letterboxed = np.zeros((480, 640, 3), np.uint8)
    letterboxed[60:420] = picture
    assert trim_borders(letterboxed).shape == (360, 640, 3)  # type: ignore[union-attr]
    pillarboxed = np.full((360, 800, 3), 20, np.uint8)
    pillarboxed[:, 80:720] = picture
    hashes = frame_hashes(pillarboxed)
    assert len(hashes) == 2 and hamming(hashes[1], pdq_hash(picture)) <= 4 < 60 <= hamming(hashes[0], pdq_hash(picture))


def test_typed_lists_mix_signals_and_name_unknown_types_by_line() -> None:
    signals = [PdqSignal(31, 50), VpdqSignal(31, 50, 80.0), Md5Signal(), Sha256Signal()]
    pdq, md5, sha = random_hash().to_hex(), "c" * 32, "d" * 64
    vpdq = format_vpdq_compact(frames([random_hash(), random_hash()]))
    text = f'pdq,{pdq},a\n"vpdq","{vpdq.replace(chr(34), chr(34) * 2)}",b\nphoto_md5\t{md5}\nvideo_sha256 {sha} d e\n'
    entries = read_hash_list(text, signals)
    assert [(e.signal.name, e.label, e.line) for e in entries] == [("pdq", "a", 1), ("vpdq", "b", 2), ("md5", "", 3),
                                                                   ("sha256", "d e", 4)]  # fmt: skip
    assert [e.signal.name for e in read_hash_list(f"{md5}\n{md5},x\n", signals, signal_type="video_md5")] == ["md5"] * 2
    meta = format_vpdq(frames([random_hash(), random_hash()]))
    [whole] = read_hash_list(meta, signals)
    assert whole.signal.name == "vpdq" and len(whole.values.frames) == 2
    with pytest.raises(InvalidRequest, match=r"line 3: unknown signal type 'tmk'") as info:
        read_hash_list(f"pdq,{pdq}\n\ntmk,{md5}\n", signals)
    assert info.value.field == "hash_list"
    with pytest.raises(InvalidRequest, match="line 2: bad video_md5 hash"):
        read_hash_list(f"pdq,{pdq}\nmd5,{md5[:-1]}\n", signals)
