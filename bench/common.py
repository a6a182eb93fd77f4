"""Helpers the benchmarks share: cutting an MPEG-TS into chunks of media time, sending them at the media
rate, summarising latencies, and reading a process's CPU time and peak memory from /proc.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vigil_client import VigilClient

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Packet:
    kind: str  # "video" or "audio"
    time: float  # presentation time from the start of its own stream, seconds
    pos: int  # byte offset in the file


@dataclass(frozen=True)
class Chunks:
    """The file cut into pieces of about `seconds` of media each, and where each packet went."""

    data: list[bytes]
    starts: list[int]  # byte offset of each chunk
    packets: dict[str, list[Packet]]  # by kind, in presentation order

    def holding(self, kind: str, t: float) -> int:
        """The chunk holding the first `kind` packet at or after stream time t (the last packet if none)."""
        packets = self.packets[kind]
        i = min(bisect.bisect_left([p.time for p in packets], t - 1e-6), len(packets) - 1)
        return bisect.bisect_right(self.starts, packets[i].pos) - 1


def probe_packets(path: Path) -> dict[str, list[Packet]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "packet=codec_type,pts_time,pos", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    rows = [p for p in json.loads(out)["packets"] if p.get("pts_time") not in (None, "N/A") and "pos" in p]
    packets: dict[str, list[Packet]] = {"video": [], "audio": []}
    for kind, found in packets.items():
        mine = [(float(p["pts_time"]), int(p["pos"])) for p in rows if p["codec_type"] == kind]
        first = min(t for t, _ in mine)
        found.extend(Packet(kind, t - first, pos) for t, pos in sorted(mine))
    return packets


def cut(path: Path, seconds: float) -> Chunks:
    """Cut at the packet where the media time (the latest presentation time so far, in file order) passes each
    multiple of `seconds`; MPEG-TS packets are 188-byte aligned, so every cut lies between transport packets."""
    packets = probe_packets(path)
    data = path.read_bytes()
    starts = [0]
    latest = 0.0
    for packet in sorted((p for ps in packets.values() for p in ps), key=lambda p: p.pos):
        latest = max(latest, packet.time)
        if latest >= seconds * len(starts) and packet.pos > starts[-1]:
            starts.append(packet.pos)
    bounds = [*starts, len(data)]
    return Chunks([data[a:b] for a, b in itertools.pairwise(bounds)], starts, packets)


def percentile(sorted_ms: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_ms[max(0, math.ceil(q / 100 * len(sorted_ms)) - 1)]


def summary(values: Sequence[float]) -> dict[str, float]:
    ms = sorted(values)
    if not ms:
        return {}
    return {"median": round(statistics.median(ms), 1), "p95": round(percentile(ms, 95), 1),
            "min": round(ms[0], 1), "max": round(ms[-1], 1)}  # fmt: skip


def stream_once(
    client: VigilClient,
    chunks: Chunks,
    stream_id: str,
    pace: float | None,
    on_event: Callable[[float, Any], None] | None = None,
) -> list[float]:
    """Ingest the chunks; return when each was handed to gRPC (perf_counter seconds).

    `pace`: seconds between chunks (chunk k leaves k * pace after the first); None: as fast as gRPC takes them.
    `on_event(arrival perf_counter seconds, IngestEvent)` sees every event the server sends, as it arrives.
    """
    sent: list[float] = []

    def paced() -> Iterator[bytes]:
        began = time.perf_counter()
        for k, data in enumerate(chunks.data):
            if pace is not None:
                time.sleep(max(0.0, began + k * pace - time.perf_counter()))
            sent.append(time.perf_counter())
            yield data

    for event in client.ingest(paced(), stream_id, "mpegts"):
        if on_event is not None:
            on_event(time.perf_counter(), event)
    return sent


def peak_rss_mib(pid: int) -> float:
    """A process's peak resident memory (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _descendants(pid: int) -> list[int]:
    found = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = list(Path(f"/proc/{parent}/task").iterdir())
        except FileNotFoundError:
            continue
        for task in tasks:
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except FileNotFoundError:
                continue
            found += children
            todo += children
    return found


def _stat_cpu(pid: int) -> float:
    """utime + stime + cutime + cstime of one process (its own threads and its waited-for children), seconds."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is the state (field 3)
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / CLOCK_TICKS  # fields 14-17 of proc(5)


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds a process has used so far, with all its threads and children: the finished children it waited
    for (ffmpeg, ffprobe) and the live ones with their own descendants."""
    return _stat_cpu(pid) + sum(_stat_cpu(child) for child in _descendants(pid))


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
