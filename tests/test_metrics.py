"""Prometheus metrics (metrics.py) scraped over HTTP from the in-process server and parsed by prometheus_client.

One stream (colour slides, two spoken words as tones, then music: tests/fakes.py) is ingested on a
server started with `--metrics-listen 127.0.0.1:0`; the endpoint is scraped while the stream is in
progress and after it, around a search that succeeds and one that fails. The README's Observability
section is checked against the registry.
"""

from __future__ import annotations

import asyncio
import re
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from scripts.sample_media import tone_video
from tests.fakes import TONE_WORDS
from tests.inprocess import InProcessServer
from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import VigilClient
from vigil_server.app import serve
from vigil_server.metrics import DecodeTimes, Metrics, MetricsServer, parse_listen
from vigil_server.settings import load_settings

README = Path(__file__).resolve().parents[1] / "README.md"
WORD_FREQ = {word: float(freq) for freq, word in TONE_WORDS.items()}
STREAM = "metrics-stream"
SLIDES = (((255, 0, 0), 3.0), ((0, 0, 255), 3.0))
TONES = ((WORD_FREQ["alpha"], 0.5, 1.5), (2500.0, 3.5, 1.5))  # a word, then music
# (name, labels) -> value of every sample in a scrape
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(address: str) -> Samples:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(key)[label] for (n, key) in samples if n == name and label in dict(key)}


@dataclass(frozen=True)
class Run:
    during: Samples  # scraped while the stream was being ingested
    after: Samples  # scraped after the stream, a search and a failed search
    stored: dict[str, int]  # segments the Ingest call announced, per modality name
    alerts: int  # alerts the Ingest call was sent
    metrics_address: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    server = InProcessServer(tmp_path_factory.mktemp("metrics-data"), ["--metrics-listen", "127.0.0.1:0"]).start()
    try:
        assert re.fullmatch(r"127\.0\.0\.1:\d+", server.metrics_address), server.metrics_address
        data = tone_video(tmp_path_factory.mktemp("metrics-media"), SLIDES, TONES).read_bytes()
        pieces = [data[i : i + (16 << 10)] for i in range(0, len(data), 16 << 10)]
        scraped = threading.Event()

        def chunks() -> Iterator[bytes]:
            yield from pieces[:-1]
            assert scraped.wait(60), "the mid-stream scrape never happened"  # the stream stays open until then
            yield pieces[-1]

        stored: dict[str, int] = {}
        during: Samples = {}
        alerts = 0
        with VigilClient(server.address, timeout=120) as client:
            client.add_query(keywords=["alpha"])  # fires on the spoken word
            for event in client.ingest(chunks(), STREAM, "mpegts", pacing="upload"):
                alerts += event.HasField("alert")
                if event.HasField("segment"):
                    modality = vigil_pb2.Modality.Name(event.segment.segment.modality).removeprefix("MODALITY_").lower()
                    stored[modality] = stored.get(modality, 0) + 1
                    if modality == "frame" and not scraped.is_set():
                        during = scrape(server.metrics_address)
                        scraped.set()
            assert client.search("alpha", top_k=5)
        with grpc.insecure_channel(server.address) as channel:
            with pytest.raises(grpc.RpcError) as failed:
                vigil_pb2_grpc.VigilStub(channel).Search(vigil_pb2.SearchRequest(top_k=5), timeout=60)  # no query
            assert failed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        yield Run(during, scrape(server.metrics_address), stored, alerts, server.metrics_address)
    finally:
        server.stop()


def test_segments_are_counted_per_modality_with_their_latency(run: Run) -> None:
    assert run.stored.get("frame", 0) >= 5 and run.stored.get("speech") and run.stored.get("sound"), run.stored
    for modality in ("frame", "speech", "sound", "on_screen_text"):
        assert value(run.after, "vigil_segments_stored_total", modality=modality) == run.stored.get(modality, 0)
    frames = value(run.after, "vigil_segment_latency_seconds_count", modality="frame")
    assert frames == run.stored["frame"]  # every frame is timed from its decoding
    assert (value(run.after, "vigil_segment_latency_seconds_sum", modality="frame") or 0) > 0
    for modality in ("speech", "sound"):  # timed from the decoding of their audio's last block
        assert value(run.after, "vigil_segment_latency_seconds_count", modality=modality) == run.stored[modality]


def test_alerts_raised_and_delivered_are_counted(run: Run) -> None:
    assert run.alerts >= 1
    assert value(run.after, "vigil_alerts_delivered_total") == run.alerts  # the stream's own call is subscribed
    raised, held = value(run.after, "vigil_alerts_raised_total"), value(run.after, "vigil_alerts_held_total")
    assert raised is not None and held is not None and raised == held + run.alerts
    assert value(run.after, "vigil_alerts_store_failures_total") == 0


def test_rpcs_are_counted_by_method_and_code(run: Run) -> None:
    assert value(run.after, "vigil_rpcs_total", method="Ingest", code="OK") == 1
    assert value(run.after, "vigil_rpcs_total", method="AddStandingQuery", code="OK") == 1
    assert value(run.after, "vigil_rpcs_total", method="Search", code="OK") == 1
    assert value(run.after, "vigil_rpcs_total", method="Search", code="INVALID_ARGUMENT") == 1
    assert value(run.during, "vigil_rpcs_total", method="Ingest", code="OK") is None  # counted when it ends


def test_the_stream_gauge_and_its_lag_live_as_long_as_the_stream(run: Run) -> None:
    assert value(run.during, "vigil_streams_active") == 1
    for media in ("frames", "speech"):
        lag = value(run.during, "vigil_stream_lag_seconds", tenant="default", stream=STREAM, media=media)
        assert lag is not None and lag >= 0
    assert value(run.after, "vigil_streams_active") == 0
    assert STREAM not in label_values(run.after, "vigil_stream_lag_seconds", "stream")
    assert value(run.after, "vigil_frames_dropped_total") == 0  # an upload never drops


def test_queues_and_batches_of_every_worker_are_reported(run: Run) -> None:
    workers = {"text", "image", "vad", "asr", "sound", "store"}
    assert workers <= label_values(run.after, "vigil_queue_depth", "queue")
    assert value(run.after, "vigil_queue_capacity", queue="store") == 4096
    assert all(value(run.after, "vigil_queue_depth", queue=q) == 0 for q in workers)  # idle after the stream
    for worker in ("image", "text", "vad", "asr", "sound", "store"):
        batches = value(run.after, "vigil_batch_size_count", worker=worker)
        assert batches and batches >= 1, worker
        assert value(run.after, "vigil_batch_seconds_count", worker=worker) == batches
    items = value(run.after, "vigil_batch_size_sum", worker="store")
    assert items == sum(run.stored.values())  # every stored row went through the store worker once


def readme_metrics() -> set[str]:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Observability")
    end = text.find("\n## ", start + 1)
    return set(re.findall(r"^\| `(vigil_[a-z_]+)`", text[start : None if end < 0 else end], re.MULTILINE))


def test_the_readme_lists_every_metric() -> None:
    registered = Metrics().names()
    documented = readme_metrics()
    assert registered == documented, (
        f"not in the README: {registered - documented}; not registered: {documented - registered}"
    )


def test_two_servers_in_one_process_keep_their_own_series() -> None:
    one, two = Metrics(), Metrics()
    one.rpc_finished("Search", "OK")
    assert one.registry.get_sample_value("vigil_rpcs_total", {"method": "Search", "code": "OK"}) == 1
    assert two.registry.get_sample_value("vigil_rpcs_total", {"method": "Search", "code": "OK"}) is None


def test_a_stream_label_is_cut_and_its_lag_removed_at_the_end() -> None:
    metrics = Metrics()
    long_id = "s" * 500
    metrics.stream_started()
    metrics.stream_lag("default", long_id, 1.5, 0.25)
    cut = {"tenant": "default", "stream": "s" * 80, "media": "frames"}
    assert metrics.registry.get_sample_value("vigil_stream_lag_seconds", cut) == 1.5
    metrics.stream_ended("default", long_id)
    assert metrics.registry.get_sample_value("vigil_stream_lag_seconds", cut) is None
    assert metrics.registry.get_sample_value("vigil_streams_active") == 0


def test_decode_times_find_the_block_holding_a_moment() -> None:
    clock = iter([10.0, 11.0, 12.0, 20.0, 20.0, 20.0, 20.0])
    times = DecodeTimes(kept=3, now=lambda: next(clock))
    for end in (0.5, 1.0, 1.5):  # decoded at 10, 11, 12
        times.decoded(end)
    assert times.since(0.2) is None  # the oldest kept block may not hold it: the deque is full
    assert times.since(0.7) == 20.0 - 11.0
    assert times.since(1.5) == 20.0 - 12.0
    assert times.since(1.6) is None  # not decoded yet


def test_parse_listen_and_a_port_picked_by_the_system() -> None:
    assert parse_listen("127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_listen("[::1]:9100") == ("::1", 9100)
    for bad in ("9100", "host:", ":9100", "host:99999", "host:port"):
        with pytest.raises(ValueError):
            parse_listen(bad)
    metrics = Metrics()
    server = MetricsServer(metrics, "127.0.0.1:0")
    port = server.start()
    try:
        metrics.rpc_finished("Search", "NOT_FOUND")
        assert value(scrape(f"127.0.0.1:{port}"), "vigil_rpcs_total", method="Search", code="NOT_FOUND") == 1
        with pytest.raises(OSError):  # the port is taken
            MetricsServer(Metrics(), f"127.0.0.1:{port}").start()
    finally:
        server.stop()


def test_the_server_will_not_start_on_a_bad_metrics_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before the models load: the process ends at once with a line that names the flag's value."""
    taken = MetricsServer(Metrics(), "127.0.0.1:0")
    port = taken.start()
    try:
        for listen, reason in (("nonsense", "expected host:port"), (f"127.0.0.1:{port}", "in use")):
            args = ["--listen", "127.0.0.1:0", "--data-dir", str(tmp_path), "--metrics-listen", listen]
            assert asyncio.run(serve(load_settings(args, env={}))) == 2
            assert f"cannot serve metrics on {listen}" in caplog.text, caplog.text
            assert reason in caplog.text.lower(), caplog.text
            assert "listening on" in capsys.readouterr().out  # the gRPC port was open, and is closed again
            caplog.clear()
    finally:
        taken.stop()


def test_webhook_counts_are_read_at_scrape_time() -> None:
    @dataclass
    class Counts:  # webhooks.Webhooks keeps these as plain attributes
        delivered: int = 0
        failed: int = 0
        dead_lettered: int = 0

    metrics, counts = Metrics(), Counts()
    assert metrics.registry.get_sample_value("vigil_webhook_delivered_total") == 0  # shown before it is wired
    metrics.watch_webhooks(counts)
    counts.delivered, counts.failed, counts.dead_lettered = 3, 2, 1
    got = {n: metrics.registry.get_sample_value(f"vigil_webhook_{n}_total") for n in ("delivered", "failed_attempts",
                                                                                       "dead_lettered")}  # fmt: skip
    assert got == {"delivered": 3, "failed_attempts": 2, "dead_lettered": 1}
