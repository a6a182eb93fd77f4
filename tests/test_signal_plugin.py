"""A signal is one file: a test-only signal, defined here and handed to the server, raises alerts end to end.

MeanColourSignal describes a picture by its mean RGB colour and matches a frame whose mean colour
lies within MAX_DISTANCE of it. Nothing in vigil_server.moderation knows it: the in-process server
gets it through `assemble(..., extra_signals)`, beside the registered PDQ, copy-descriptor and
Chromaprint signals, and it must then describe bank items, check live frames, keep its archive,
search that archive for a new item, and show up as evidence on the alerts.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import grpc
import numpy as np
import pytest
from PIL import Image

from scripts.sample_media import tone_video
from tests.inprocess import InProcessServer
from tests.moderation_media import Watcher, add_item, alerts_of, ingest
from vigil.v1 import vigil_pb2 as pb
from vigil.v1 import vigil_pb2_grpc
from vigil_server.moderation.signals import Comparison, ItemMedia, LiveAudio, LiveFrame, LiveInput, Signal
from vigil_server.types import Evidence, MatchMethod

MAX_DISTANCE = 12.0  # RGB units (0-255 per channel)
ORANGE, TEAL, PURPLE = (230, 120, 20), (20, 150, 150), (120, 40, 160)


class MeanColourSignal(Signal[np.ndarray, np.ndarray]):
    name: ClassVar[str] = "mean_colour"
    method: ClassVar[MatchMethod | None] = None  # the wire contract has no method for it: evidence only
    reads: ClassVar[LiveInput] = LiveInput.FRAME

    async def describe_item(self, media: ItemMedia) -> np.ndarray | None:
        return np.stack([f.reshape(-1, 3).mean(axis=0) for f in media.frames]) if media.frames else None

    def amount(self, values: np.ndarray) -> float:
        return len(values)

    def encode(self, values: np.ndarray) -> bytes:
        return values.astype(np.float64).tobytes()

    def decode(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype=np.float64).reshape(-1, 3)

    def describe_live(self, live: LiveFrame | LiveAudio) -> np.ndarray | None:
        assert isinstance(live, LiveFrame)
        return live.pixels.reshape(-1, 3).mean(axis=0)

    def compare(self, values: np.ndarray, live: np.ndarray) -> Comparison | None:
        distance = float(np.min(np.linalg.norm(values - live, axis=1)))
        return Comparison(Evidence(self.name, self.method, distance, distance <= MAX_DISTANCE))

    def encode_live(self, live: np.ndarray) -> bytes:
        return live.astype(np.float64).tobytes()

    def decode_live(self, blob: bytes) -> np.ndarray:
        return np.frombuffer(blob, dtype=np.float64)


@pytest.fixture(scope="module")
def stub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[vigil_pb2_grpc.VigilStub]:
    # The fake copy descriptor (tests/fakes.py) sees flat colours alike: only exact copies may match by it here.
    data = tmp_path_factory.mktemp("plugin-data")
    server = InProcessServer(data, ["--bank-min-cosine", "1.0"], signals=[MeanColourSignal()]).start()
    with grpc.insecure_channel(server.address) as channel:
        yield vigil_pb2_grpc.VigilStub(channel)
    server.stop()


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "PNG")
    return out.getvalue()


def colour_evidence(alert: pb.Alert) -> pb.Evidence:
    return next(e for e in alert.evidence if e.signal == "mean_colour")


def test_a_signal_from_the_tests_describes_items_and_raises_alerts_live_and_from_the_archive(
    stub: vigil_pb2_grpc.VigilStub, tmp_path: Path
) -> None:
    added = add_item(stub, png(ORANGE), "colours", "orange", archive_window=-1)
    assert added.item.signals["mean_colour"] == 1  # it described the item, and listings show it

    # teal 0-3 s, orange 3-6 s, purple 6-9 s
    video = tone_video(tmp_path, [(TEAL, 3.0), (ORANGE, 3.0), (PURPLE, 3.0)], [])
    watcher = Watcher(stub, pb.WatchRequest(banks=["colours"]))
    try:
        alerts = [a for a in alerts_of(ingest(stub, video, "colour-stream")) if a.match_id == added.item.item_id]
        assert len(alerts) == 1, alerts  # flood control holds the other orange frames back
        alert = alerts[0]
        assert 2.0 <= alert.start < 6.0, alert
        evidence = colour_evidence(alert)
        assert evidence.matched and evidence.value <= MAX_DISTANCE
        assert [a.alert_id for a in watcher.wait_for(1)] == [alert.alert_id]
    finally:
        watcher.close()

    # The signal kept what it saw: a new purple item finds the purple frames in its archive.
    purple = add_item(stub, png(PURPLE), "colours-later", "purple", archive_window=3600)
    assert purple.archive_alerts >= 1
    # A colour that never streamed finds nothing, live or in the archive.
    assert add_item(stub, png((250, 250, 40)), "colours-later", "yellow", archive_window=3600).archive_alerts == 0


def test_other_signals_still_report_their_evidence_beside_it(stub: vigil_pb2_grpc.VigilStub, tmp_path: Path) -> None:
    added = add_item(stub, png(TEAL), "colours-b", "teal", archive_window=-1)
    video = tone_video(tmp_path, [(TEAL, 3.0)], [])
    [alert] = [a for a in alerts_of(ingest(stub, video, "teal-stream")) if a.match_id == added.item.item_id]
    signals = [e.signal for e in alert.evidence]
    assert "mean_colour" in signals and signals.index("copy_descriptor") < signals.index("mean_colour")
