"""Hash sharing on the in-process server (fake models; PDQ, vPDQ, MD5 and SHA-256 are real hashes of real media):
video items and their variants, vPDQ import/export (Vigil's own and Meta's `vpdq` package's), exact matches,
lookups that leave everything as it was, allow-lists, per-bank settings, reviews, and the errors.

The fake copy descriptor (tests/fakes.py) is switched off (--bank-min-cosine 1.0 needs identical
pictures), so every picture match here is a hash's.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from scripts.sample_media import run_ffmpeg, skimage_photo
from tests.hash_media import Clip, full_frame, original, unrelated, variants
from tests.inprocess import InProcessServer
from tests.moderation_media import CHUNK, MUSIC, add_item, alerts_of, jpeg
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_client import error_details
from vigil_models.hashing import pdq_hash
from vigil_models.vpdq import parse_vpdq

FIXTURE = Path(__file__).parent / "fixtures" / "vpdq"
Stub = vigil_pb2_grpc.VigilStub


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessServer]:
    data = tmp_path_factory.mktemp("hash-sharing-data")
    running = InProcessServer(data, ["--alert-window", "600", "--bank-min-cosine", "1.0"]).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stub(server: InProcessServer) -> Iterator[Stub]:
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Clip]:
    out = tmp_path_factory.mktemp("hash-media")
    source = original(out)
    return {"original": Clip(source, "mpegts"), "unrelated": Clip(unrelated(out), "mpegts"), **variants(out, source)}


def ingest(stub: Stub, clip: Clip, stream_id: str) -> list[pb.Alert]:
    data = clip.path.read_bytes()

    def requests() -> Iterator[pb.IngestRequest]:
        yield pb.IngestRequest(config=pb.StreamConfig(stream_id=stream_id, format=clip.format))
        for n, i in enumerate(range(0, len(data), CHUNK)):
            yield pb.IngestRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + CHUNK]))

    return alerts_of(list(stub.Ingest(requests(), timeout=300)))


def match_file(stub: Stub, data: bytes, kind: pb.ReferenceKind, fmt: str = "") -> list[pb.LookupMatch]:
    def requests() -> Iterator[pb.MatchFileRequest]:
        yield pb.MatchFileRequest(header=pb.MatchFileHeader(kind=kind, format=fmt))
        for n, i in enumerate(range(0, len(data), CHUNK)):
            yield pb.MatchFileRequest(chunk=pb.MediaChunk(sequence=n, data=data[i : i + CHUNK]))

    return list(stub.MatchFile(requests(), timeout=120).matches)


def match_hashes(stub: Stub, *hashes: tuple[str, str]) -> list[pb.LookupMatch]:
    request = pb.MatchHashesRequest(hashes=[pb.HashQuery(signal_type=t, value=v) for t, v in hashes])
    return list(stub.MatchHashes(request, timeout=60).matches)


def import_list(stub: Stub, bank: str, text: str, **fields: object) -> pb.ImportHashesResponse:
    request = pb.ImportHashesRequest(bank=bank, hash_list=text, archive_window=-1, **fields)  # type: ignore[arg-type]
    response: pb.ImportHashesResponse = stub.ImportHashes(request, timeout=60)
    return response


def failure(call: Callable[..., object], *args: object) -> tuple[grpc.StatusCode, str, list[str]]:
    """The status, message and BadRequest fields of a call that must fail."""
    with pytest.raises(grpc.RpcError) as info:
        call(*args, timeout=60)
    error = info.value
    return error.code(), error.details() or "", [f for f, _ in error_details(error).field_violations]


def bank_items(stub: Stub, bank: str) -> list[pb.BankItem]:
    return list(stub.ListBankItems(pb.ListBankItemsRequest(bank=bank)).items)


# -- video items, vPDQ, exact matches ----------------------------------------------------------------------


def test_a_video_item_and_its_vpdq_hash_alert_on_every_variant_and_not_on_an_unrelated_video(
    stub: Stub, media: dict[str, Clip]
) -> None:
    source = media["original"].path.read_bytes()
    video = add_item(stub, source, "videos", "flagged video", pb.REFERENCE_KIND_VIDEO, "mpegts", archive_window=-1)
    item = video.item
    assert item.signals["vpdq"] == 10 and item.signals["pdq"] >= 5  # 10 s at one frame a second; 5 photos
    assert item.signals["md5"] == 1 and item.signals["sha256"] == 1

    # Vigil's vPDQ file of the item, in Meta's grammar, imported again into a list of its own.
    exported = stub.ExportHashes(pb.ExportHashesRequest(format=pb.HASH_LIST_FORMAT_VPDQ, item_id=item.item_id))
    frames = parse_vpdq(exported.hash_list)
    assert [f.timestamp for f in frames] == [float(n) for n in range(10)]
    assert [f.frame_number for f in frames] == [5 * n for n in range(10)]  # the original runs at 5 fps
    assert all(line.count(",") == 3 for line in exported.hash_list.splitlines())
    reimported = import_list(stub, "vpdq-list", exported.hash_list, label="shared vPDQ")
    assert reimported.imported == 1 and dict(reimported.signals) == {"vpdq": 1}
    [shared] = bank_items(stub, "vpdq-list")
    assert shared.kind == pb.REFERENCE_KIND_VPDQ_HASH and shared.signals["vpdq"] == 10
    # And the exact bytes, as a shared MD5 list would carry them.
    md5 = import_list(stub, "md5-list", f"video_md5,{hashlib.md5(source).hexdigest()},exact copy\n")
    assert dict(md5.signals) == {"md5": 1}

    for name in ("original", "reencoded", "webm", "scaled", "letterboxed", "logo", "greyscale"):
        alerts = ingest(stub, media[name], f"variant-{name}")
        by_bank = {a.bank: a for a in alerts}
        assert pb.MATCH_METHOD_PDQ in by_bank["videos"].methods, (name, alerts)
        assert by_bank["videos"].match_id == item.item_id
        assert list(by_bank["vpdq-list"].methods) == [pb.MATCH_METHOD_VPDQ], (name, alerts)
        vpdq = next(e for e in by_bank["vpdq-list"].evidence if e.signal == "vpdq")
        assert vpdq.matched and vpdq.value >= 80.0  # % of the reference's frames seen in the window
        # Only the untouched bytes are the same file.
        assert ("md5-list" in by_bank) == (name == "original"), (name, alerts)
    exact = {a.bank: a for a in ingest(stub, media["original"], "original-again")}["md5-list"]
    assert list(exact.methods) == [pb.MATCH_METHOD_EXACT]
    assert exact.start == 0.0 and exact.end == pytest.approx(10, abs=0.6)  # the whole stream
    assert ingest(stub, media["unrelated"], "unrelated") == []


def test_a_vpdq_file_written_by_metas_vpdq_package_matches_the_live_stream_of_its_video(stub: Stub) -> None:
    text = (FIXTURE / "slideshow.vpdq").read_text()
    imported = import_list(stub, "meta-vpdq", text, label="hashed by vpdq", external_id="case-9")
    assert dict(imported.signals) == {"vpdq": 1}
    [item] = bank_items(stub, "meta-vpdq")
    assert item.external_id == "case-9" and item.signals["vpdq"] == 10
    alerts = [
        a for a in ingest(stub, Clip(FIXTURE / "slideshow.ts", "mpegts"), "meta-fixture") if a.bank == "meta-vpdq"
    ]
    assert len(alerts) == 1 and list(alerts[0].methods) == [pb.MATCH_METHOD_VPDQ], alerts
    # Vigil's own vPDQ hash of the same file agrees with Meta's frame for frame.
    with (FIXTURE / "slideshow.ts").open("rb") as f:
        added = add_item(stub, f.read(), "meta-ours", "ours", pb.REFERENCE_KIND_VIDEO, "mpegts", archive_window=-1)
    ours = stub.ExportHashes(pb.ExportHashesRequest(format=pb.HASH_LIST_FORMAT_VPDQ, item_id=added.item.item_id))
    theirs, mine = parse_vpdq(text), parse_vpdq(ours.hash_list)
    assert [f.frame_number for f in mine] == [f.frame_number for f in theirs][: len(mine)]
    distances = sorted(int.bit_count(int(a.hash) ^ int(b.hash)) for a, b in zip(mine, theirs, strict=False))
    assert distances[len(distances) // 2] <= 2, distances  # median frame distance (measured: 0)


# -- lookups ----------------------------------------------------------------------------------------------


def test_lookups_find_each_signal_and_leave_store_archive_and_alert_records_unchanged(
    server: InProcessServer, stub: Stub, media: dict[str, Clip]
) -> None:
    coffee = skimage_photo("coffee")
    picture = add_item(stub, jpeg(coffee), "pictures", "coffee", archive_window=-1).item
    video = add_item(stub, media["original"].path.read_bytes(), "lookup-videos", "video", pb.REFERENCE_KIND_VIDEO,
                     "mpegts", archive_window=-1).item  # fmt: skip
    before = counts(server)

    [found] = [m for m in match_file(stub, jpeg(coffee, 80), pb.REFERENCE_KIND_IMAGE) if m.item.bank == "pictures"]
    assert found.item.item_id == picture.item_id and found.item.label == "coffee"
    assert pb.MATCH_METHOD_PDQ in found.methods and not found.allow_list
    assert match_file(stub, jpeg(skimage_photo("text")), pb.REFERENCE_KIND_IMAGE) == []  # in no bank

    scaled = media["scaled"]
    matches = {m.item.item_id: m for m in match_file(stub, scaled.path.read_bytes(), pb.REFERENCE_KIND_VIDEO, "mpegts")}
    assert {pb.MATCH_METHOD_PDQ, pb.MATCH_METHOD_VPDQ} <= set(matches[video.item_id].methods)
    assert pb.MATCH_METHOD_EXACT not in matches[video.item_id].methods  # re-encoded: other bytes
    same = {m.item.item_id: m for m in match_file(stub, media["original"].path.read_bytes(), pb.REFERENCE_KIND_VIDEO,
                                                  "mpegts")}  # fmt: skip
    assert pb.MATCH_METHOD_EXACT in same[video.item_id].methods
    assert match_file(stub, media["unrelated"].path.read_bytes(), pb.REFERENCE_KIND_VIDEO, "mpegts") == []

    source = media["original"].path.read_bytes()
    by_md5 = match_hashes(stub, ("video_md5", hashlib.md5(source).hexdigest()), ("md5", "0" * 32))
    assert video.item_id in {m.item.item_id for m in by_md5} and {m.query for m in by_md5} == {0}
    assert video.item_id in {m.item.item_id for m in match_hashes(stub, ("sha256", hashlib.sha256(source).hexdigest()))}
    hit = match_hashes(stub, ("pdq", pdq_hash(coffee).to_hex()))
    assert picture.item_id in {m.item.item_id for m in hit}
    distance = next(e for e in hit[0].evidence if e.signal == "pdq")
    assert distance.matched and distance.value <= 31
    assert match_hashes(stub, ("pdq", pdq_hash(skimage_photo("page")).to_hex())) == []
    exported = stub.ExportHashes(pb.ExportHashesRequest(format=pb.HASH_LIST_FORMAT_VPDQ, item_id=video.item_id))
    other = "".join(
        f"{25 * n},100,{pdq_hash(skimage_photo(p)).to_hex()},{n}.000\n" for n, p in enumerate(["page", "text"])
    )
    by_vpdq = match_hashes(stub, ("vpdq", exported.hash_list), ("vpdq", other))
    assert video.item_id in {m.item.item_id for m in by_vpdq if m.query == 0}
    assert [m for m in by_vpdq if m.query == 1] == []

    assert counts(server) == before  # nothing stored, archived or recorded


def test_an_audio_lookup_finds_a_flagged_song_by_fingerprint(
    server: InProcessServer, stub: Stub, tmp_path: Path
) -> None:
    song, other = MUSIC / "macroform-cold_day.wav", MUSIC / "macroform-the_simplicity.wav"
    clip, longer, unrelated = tmp_path / "clip.mp3", tmp_path / "longer.wav", tmp_path / "other.wav"
    run_ffmpeg(["-ss", "30", "-t", "10", "-i", str(song), str(clip)])
    run_ffmpeg(["-ss", "25", "-t", "20", "-i", str(song), "-ar", "16000", "-ac", "1", str(longer)])
    run_ffmpeg(["-t", "20", "-i", str(other), "-ar", "16000", "-ac", "1", str(unrelated)])
    item = add_item(stub, clip.read_bytes(), "songs", "flagged song", pb.REFERENCE_KIND_AUDIO, "mp3",
                    archive_window=-1).item  # fmt: skip
    before = counts(server)
    [found] = [
        m for m in match_file(stub, longer.read_bytes(), pb.REFERENCE_KIND_AUDIO, "wav") if m.item.bank == "songs"
    ]
    assert found.item.item_id == item.item_id and list(found.methods) == [pb.MATCH_METHOD_FINGERPRINT]
    assert abs(found.start - 5.0) <= 1.5 and abs(found.end - 15.0) <= 1.5, found  # where the clip plays
    assert [
        m for m in match_file(stub, unrelated.read_bytes(), pb.REFERENCE_KIND_AUDIO, "wav") if m.item.bank == "songs"
    ] == []
    assert counts(server) == before


def raised_on(server: InProcessServer, stream_id: str, match_id: str) -> int:
    """Alerts of an item recorded for a stream (before flood control)."""
    assert server.service is not None
    sql = "SELECT COUNT(*) FROM alerts WHERE stream_id = ? AND match_id = ?"
    return int(server.service.moderation.db.read(sql, (stream_id, match_id))[0][0])


def counts(server: InProcessServer) -> tuple[int, int, int]:
    """Stored segments, archive rows, alert records."""
    service = server.service
    assert service is not None
    moderation = service.moderation
    archive = moderation.db.read("SELECT COUNT(*) FROM archive")[0][0]
    return service.index.store.count(), int(archive), moderation.alert_log.count("default")


# -- bank settings and reviews ----------------------------------------------------------------------------


def test_an_allow_list_keeps_a_block_lists_alert_off_and_counts_it(stub: Stub, media: dict[str, Clip]) -> None:
    source = media["original"].path.read_bytes()
    add_item(stub, source, "block", "blocked video", pb.REFERENCE_KIND_VIDEO, "mpegts", archive_window=-1)
    import_list(stub, "benign", f"video_md5,{hashlib.md5(source).hexdigest()},known benign\n")
    bank = stub.SetBankSettings(pb.SetBankSettingsRequest(bank="benign", allow_list=True))
    assert bank.allow_list and bank.enabled and bank.items == 1
    # The stream's bytes match the allow-list at its end; its frames match the block list as they come, and
    # the allow-list (a whole-file signal) cannot unsay those: it keeps back alerts of the same media only.
    add_item(stub, jpeg(skimage_photo("coffee")), "benign-pictures", "benign coffee", archive_window=-1)
    stub.SetBankSettings(pb.SetBankSettingsRequest(bank="benign-pictures", allow_list=True))
    add_item(stub, jpeg(skimage_photo("coffee")), "block-pictures", "blocked coffee", archive_window=-1)
    alerts = ingest(stub, media["original"], "allow-listed")
    assert "block-pictures" not in {a.bank for a in alerts}, alerts
    assert not {"benign", "benign-pictures"} & {a.bank for a in alerts}  # allow-lists never alert
    banks = {b.bank: b for b in stub.ListBanks(pb.ListBanksRequest()).banks}
    assert banks["benign-pictures"].suppressed >= 1 and banks["benign"].suppressed >= 1
    # Without the allow-list, the block list alerts.
    stub.SetBankSettings(pb.SetBankSettingsRequest(bank="benign-pictures", enabled=False))
    assert "block-pictures" in {a.bank for a in ingest(stub, media["original"], "allow-list-off")}
    listed = stub.ListBanks(pb.ListBanksRequest())
    assert not {b.bank: b for b in listed.banks}["benign-pictures"].enabled
    assert listed.default_thresholds["pdq"] == 31 and listed.default_thresholds["vpdq"] == 80


def test_per_bank_thresholds_and_disabled_banks(stub: Stub, media: dict[str, Clip]) -> None:
    # The original's first picture as a shared PDQ hash: scaled copies are 16-18 bits from it, re-encoded ones 2-4.
    import_list(stub, "strict", f"{pdq_hash(full_frame('astronaut')).to_hex()},astronaut\n")
    strict = stub.SetBankSettings(pb.SetBankSettingsRequest(bank="strict", thresholds={"pdq": 8, "vpdq": 95}))
    assert dict(strict.thresholds) == {"pdq": 8.0, "vpdq": 95.0} and strict.items == 1
    assert "strict" not in {a.bank for a in ingest(stub, media["scaled"], "strict-scaled")}
    [alert] = [a for a in ingest(stub, media["reencoded"], "strict-reencoded") if a.bank == "strict"]
    assert alert.hash_distance <= 8
    cleared = stub.SetBankSettings(pb.SetBankSettingsRequest(bank="strict", clear_thresholds=["pdq"]))
    assert dict(cleared.thresholds) == {"vpdq": 95.0}
    assert "strict" in {a.bank for a in ingest(stub, media["scaled"], "strict-scaled-2")}  # the server's 31
    stub.SetBankSettings(pb.SetBankSettingsRequest(bank="strict", enabled=False))
    assert "strict" not in {a.bank for a in ingest(stub, media["reencoded"], "strict-disabled")}
    scaled = media["scaled"].path.read_bytes()
    assert "strict" not in {m.item.bank for m in match_file(stub, scaled, pb.REFERENCE_KIND_VIDEO, "mpegts")}


def test_a_dismissed_item_is_not_alerted_again_on_that_stream_and_reviews_are_counted(
    server: InProcessServer, stub: Stub, media: dict[str, Clip]
) -> None:
    add_item(stub, media["original"].path.read_bytes(), "reviewed", "reviewed video", pb.REFERENCE_KIND_VIDEO,
             "mpegts", archive_window=-1)  # fmt: skip
    [first] = [a for a in ingest(stub, media["greyscale"], "review-a") if a.bank == "reviewed"]
    [other] = [a for a in ingest(stub, media["greyscale"], "review-b") if a.bank == "reviewed"]
    record = stub.ReviewAlert(pb.ReviewAlertRequest(alert_id=first.alert_id, verdict=pb.REVIEW_VERDICT_DISMISSED,
                                                    reviewer="ana", note="a press clip"))  # fmt: skip
    assert record.match_id == first.match_id and record.stream_id == "review-a"
    assert record.review.verdict == pb.REVIEW_VERDICT_DISMISSED and record.review.reviewer == "ana"
    assert record.review.note == "a press clip" and record.review.reviewed_at >= first.raised_at
    stub.ReviewAlert(pb.ReviewAlertRequest(alert_id=other.alert_id, verdict=pb.REVIEW_VERDICT_CONFIRMED,
                                           reviewer="bo"))  # fmt: skip
    [item] = bank_items(stub, "reviewed")
    assert (item.confirmed, item.dismissed) == (1, 1)
    # A new Ingest call on the dismissed stream raises nothing for the item; the confirmed stream still does.
    # (Flood control would hold both back from the calls: the alert records show what was raised.)
    raised = {
        "review-a": raised_on(server, "review-a", first.match_id),
        "review-b": raised_on(server, "review-b", first.match_id),
    }
    ingest(stub, media["greyscale"], "review-a")
    ingest(stub, media["scaled"], "review-b")
    assert raised_on(server, "review-a", first.match_id) == raised["review-a"]
    assert raised_on(server, "review-b", first.match_id) > raised["review-b"]
    code, _, fields = failure(
        stub.ReviewAlert, pb.ReviewAlertRequest(alert_id="nope", verdict=pb.REVIEW_VERDICT_CONFIRMED)
    )
    assert code == grpc.StatusCode.NOT_FOUND and fields == ["alert_id"]


# -- lists and errors -------------------------------------------------------------------------------------


def test_mixed_typed_lists_load_and_unknown_types_are_reported_by_line(stub: Stub) -> None:
    pdq, md5, sha = pdq_hash(skimage_photo("astronaut")).to_hex(), "a" * 32, "b" * 64
    mixed = (f"# a shared list\npdq,{pdq},astronaut\nvideo_md5\t{md5}\tsome clip\nsha256 {sha} a file\n"
             f"{pdq},90,untyped pdq line\n")  # fmt: skip
    done = import_list(stub, "mixed", mixed)
    assert done.imported == 4 and dict(done.signals) == {"pdq": 2, "md5": 1, "sha256": 1}
    kinds = sorted(pb.ReferenceKind.Name(i.kind) for i in bank_items(stub, "mixed"))
    assert kinds == ["REFERENCE_KIND_FILE_HASH", "REFERENCE_KIND_FILE_HASH", "REFERENCE_KIND_PDQ_HASH",
                     "REFERENCE_KIND_PDQ_HASH"]  # fmt: skip
    typed = stub.ExportHashes(pb.ExportHashesRequest(bank="mixed", format=pb.HASH_LIST_FORMAT_TYPED)).hash_list
    assert typed.splitlines()[0] == "signal_type,signal_value,label,external_id"
    assert f"video_md5,{md5},some clip," in typed and f"pdq,{pdq},astronaut," in typed
    assert import_list(stub, "mixed-again", typed).imported == 4  # typed export reads back
    legacy = stub.ExportHashes(pb.ExportHashesRequest(bank="mixed")).hash_list  # PDQ only, as before
    assert legacy.splitlines()[0] == "pdq_hash,quality,label" and md5 not in legacy

    for text, line, kind in [(f"pdq,{pdq}\ntmk,{md5}\n", 2, "tmk"), (f"# x\n\nphoto_tlsh {md5}\n", 3, "photo_tlsh")]:
        code, message, fields = failure(stub.ImportHashes, pb.ImportHashesRequest(bank="bad-types", hash_list=text))
        assert code == grpc.StatusCode.INVALID_ARGUMENT and fields == ["hash_list"], message
        assert f"line {line}" in message and repr(kind) in message, message
    assert bank_items(stub, "bad-types") == []  # all or nothing


def test_bad_hash_sharing_requests_get_statuses_naming_the_field(stub: Stub) -> None:
    invalid, missing, big = (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
                             grpc.StatusCode.RESOURCE_EXHAUSTED)  # fmt: skip
    cases: list[tuple[Callable[..., object], object, grpc.StatusCode, str]] = [
        (stub.MatchHashes, pb.MatchHashesRequest(hashes=[pb.HashQuery(signal_type="pdq", value="xyz")]), invalid,
         "hashes[0].value"),
        (stub.MatchHashes, pb.MatchHashesRequest(hashes=[pb.HashQuery(signal_type="tmk", value="ab")]), invalid,
         "hashes[0].signal_type"),
        (stub.MatchHashes, pb.MatchHashesRequest(hashes=[pb.HashQuery(signal_type="pdq", value="0" * 64)] * 1001),
         big, "hashes"),
        (stub.MatchHashes, pb.MatchHashesRequest(), invalid, "hashes"),
        (stub.ImportHashes, pb.ImportHashesRequest(bank="v", hash_list=f"0,100,{'0' * 64},0.000\n25,x,{'0' * 64},1\n"),
         invalid, "hash_list"),
        (stub.ImportHashes, pb.ImportHashesRequest(bank="v", hash_list="0" * 32, signal_type="tlsh"), invalid,
         "signal_type"),
        (stub.ImportHashes, pb.ImportHashesRequest(bank="v", hash_list="x" * ((16 << 20) + 1)), big, "hash_list"),
        (stub.SetBankSettings, pb.SetBankSettingsRequest(bank="bad bank!"), invalid, "bank"),
        (stub.SetBankSettings, pb.SetBankSettingsRequest(bank="b", thresholds={"pdq": 300}), invalid,
         "thresholds[pdq]"),
        (stub.SetBankSettings, pb.SetBankSettingsRequest(bank="b", thresholds={"nope": 1}), invalid,
         "thresholds[nope]"),
        (stub.SetBankSettings, pb.SetBankSettingsRequest(bank="b", thresholds={f"s{n}": 1 for n in range(17)}), big,
         "thresholds"),
        (stub.ExportHashes, pb.ExportHashesRequest(format=pb.HASH_LIST_FORMAT_VPDQ), invalid, "item_id"),
        (stub.ExportHashes, pb.ExportHashesRequest(format=pb.HASH_LIST_FORMAT_VPDQ, item_id="nope"), missing,
         "item_id"),
        (stub.ReviewAlert, pb.ReviewAlertRequest(alert_id="a"), invalid, "verdict"),
        (stub.ReviewAlert, pb.ReviewAlertRequest(alert_id="a", verdict=pb.REVIEW_VERDICT_CONFIRMED, note="n" * 2001),
         invalid, "note"),
    ]  # fmt: skip
    for call, request, status, field in cases:
        code, message, fields = failure(call, request)
        assert (code, fields) == (status, [field]), (request, message)
    picture = pb.MatchFileRequest(header=pb.MatchFileHeader(kind=pb.REFERENCE_KIND_IMAGE))
    corrupt = pb.MatchFileRequest(chunk=pb.MediaChunk(sequence=0, data=b"\xff\xd8 not a jpeg"))
    assert failure(stub.MatchFile, iter([picture, corrupt]))[0] == invalid
    no_header = iter([pb.MatchFileRequest(chunk=pb.MediaChunk(data=b"x"))])
    assert failure(stub.MatchFile, no_header)[:3:2] == (invalid, ["header"])
    hashed = pb.MatchFileRequest(header=pb.MatchFileHeader(kind=pb.REFERENCE_KIND_PDQ_HASH))
    assert failure(stub.MatchFile, iter([hashed, corrupt]))[:3:2] == (invalid, ["header.kind"])


def test_the_cli_matches_files_and_hashes_sets_banks_and_reviews(
    server: InProcessServer, stub: Stub, media: dict[str, Clip], tmp_path: Path
) -> None:
    def vigil(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "vigil_client.cli", "--server", server.address, *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    coffee = skimage_photo("coffee")
    item = add_item(stub, jpeg(coffee), "cli-pictures", "cli coffee", archive_window=-1).item
    picture = tmp_path / "coffee.jpg"
    picture.write_bytes(jpeg(coffee, 70))
    done = vigil("match", str(picture), "--json")
    assert done.returncode == 0, done.stderr
    found = [json.loads(line) for line in done.stdout.splitlines()]
    [mine] = [m for m in found if m["item_id"] == item.item_id]
    assert mine["bank"] == "cli-pictures" and "pdq" in mine["methods"] and mine["evidence"]["pdq"]["matched"]
    done = vigil("match", "--pdq", pdq_hash(coffee).to_hex(), "--md5", "0" * 32)
    assert done.returncode == 0 and item.item_id in done.stdout and "hash #0" in done.stdout, done.stderr
    assert vigil("match", "--pdq", "nothex").returncode == 1  # INVALID_ARGUMENT from the server
    assert vigil("match").returncode == 2  # neither a file nor hashes

    done = vigil("bank", "settings", "cli-pictures", "--allow-list", "--threshold", "pdq=12", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) | {"updated_at": 0} == {"bank": "cli-pictures", "enabled": True, "allow_list": True,
                                                           "thresholds": {"pdq": 12.0}, "items": 1, "suppressed": 0,
                                                           "updated_at": 0}  # fmt: skip
    assert "cli-pictures  1 items  enabled, allow-list  pdq=12" in vigil("bank", "banks").stdout
    assert vigil("bank", "settings", "cli-pictures", "--threshold", "pdq").returncode == 2

    [alert] = [a for a in ingest(stub, media["reencoded"], "cli-review") if a.bank == "videos"]
    done = vigil("alert", "review", alert.alert_id, "--dismiss", "--reviewer", "cy", "--note", "ok", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["verdict"] == "dismissed", done.stderr
    assert vigil("alert", "review", "nope", "--confirm").returncode == 1  # NOT_FOUND
