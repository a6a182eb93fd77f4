"""Lookup throughput: MatchHashes for PDQ hashes against banks of 100k and 1M hashes, beside HMA's 4,000 lookups/s.

    .venv/bin/python bench/match_lookup.py                      # 100k and 1M hashes
    .venv/bin/python bench/match_lookup.py --sizes 100000 --lookups 2000

For each bank size it starts the real `vigil-server` once on an empty data directory (so it
creates its moderation database), stops it, and inserts the hashes straight into that database as
imported PDQ items (RulesDb.add_items, the table ImportHashes fills; `--import-api` sends them
through ImportHashes instead, 100k per call). Then it starts the server again, which loads them,
and times from the client side:

- latency: `--lookups` MatchHashes calls of one PDQ hash each, one after another; half are
  planted hashes with 0-30 of their bits flipped (they match), half random (they match nothing);
  median and p99;
- lookups/s: 8 client threads sending one-hash calls for 10 s; and one thread sending calls of
  100 hashes (hashes/s);
- the matcher alone (vigil_models.hashing.PdqIndex, in this process): a full scan and the
  multi-index per lookup, to show what the in-memory matcher costs before and after.

Prints a table and writes bench/results/match_lookup.json. HMA's published target is 4,000
lookups/s (its README's "target ... PDQ lookups per second"); the machine these numbers come from
is shared, so rerun on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "server"), str(ROOT / "models")]

import vigil_models.hashing as hashing  # noqa: E402
from tests.server_process import ServerProcess  # noqa: E402
from vigil_client import VigilClient  # noqa: E402
from vigil_models.hashing import PdqHash, PdqIndex  # noqa: E402
from vigil_server.moderation.rules_db import ItemRecord, RulesDb  # noqa: E402
from vigil_server.moderation.signals import PdqSignal  # noqa: E402
from vigil_server.types import BankItem, ReferenceKind  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "match_lookup.json"
HMA_TARGET = 4000  # lookups per second
PLANTED = 1000  # hashes the near-duplicate lookups are made from
INSERT_BATCH = 50_000
BANK = "bench"


def bank_hashes(n: int, seed: int = 0) -> np.ndarray:
    """n random PDQ hashes as uint8 [n, 32]."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 32), dtype=np.uint8)


def insert(data_dir: Path, bits: np.ndarray) -> float:
    """Write the hashes into the server's moderation database as imported PDQ items; returns seconds."""
    [path] = data_dir.glob("watchlist-*.sqlite3")
    db = RulesDb(path, 1)
    pdq = PdqSignal(31, 50)
    began = time.monotonic()
    now = time.time()
    for first in range(0, len(bits), INSERT_BATCH):
        records = [
            ItemRecord(BankItem(uuid.uuid4().hex, BANK, ReferenceKind.PDQ_HASH, f"hash {first + n}", "", (), now),
                       {"pdq": (pdq.encode((PdqHash(row.tobytes()),)), 1.0)})
            for n, row in enumerate(bits[first : first + INSERT_BATCH])
        ]  # fmt: skip
        db.add_items(records)
    db.close()
    return time.monotonic() - began


def import_api(address: str, bits: np.ndarray) -> float:
    began = time.monotonic()
    with VigilClient(address, timeout=3600) as client:
        for first in range(0, len(bits), 100_000):
            text = "".join(row.tobytes().hex() + "\n" for row in bits[first : first + 100_000])
            client.import_hashes(text, bank=BANK, archive_window=-1)
    return time.monotonic() - began


def queries(bits: np.ndarray, count: int, seed: int = 1) -> list[str]:
    """Half near-duplicates of planted hashes (0-30 bits flipped), half random hashes, as hex."""
    rng = np.random.default_rng(seed)
    out = []
    for n in range(count):
        if n % 2:
            out.append(rng.integers(0, 256, 32, dtype=np.uint8).tobytes().hex())
            continue
        row = bits[rng.integers(0, min(PLANTED, len(bits)))].copy()
        for bit in rng.choice(256, size=rng.integers(0, 31), replace=False):
            row[bit // 8] ^= 1 << (bit % 8)
        out.append(row.tobytes().hex())
    return out


def percentile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def latency(address: str, hexes: list[str]) -> dict[str, float]:
    with VigilClient(address) as client:
        for value in hexes[:50]:  # warm-up
            client.match_hashes([("pdq", value)])
        times, found = [], 0
        for value in hexes:
            began = time.perf_counter()
            found += bool(client.match_hashes([("pdq", value)]))
            times.append((time.perf_counter() - began) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p99_ms": percentile(times, 0.99),
            "mean_ms": statistics.fmean(times), "matched_share": found / len(hexes)}  # fmt: skip


def throughput(address: str, hexes: list[str], threads: int = 8, seconds: float = 10.0) -> float:
    """One-hash lookups per second from `threads` client threads."""
    done = [0] * threads
    stop = time.monotonic() + seconds

    def run(k: int) -> None:
        with VigilClient(address) as client:
            n = k
            while time.monotonic() < stop:
                client.match_hashes([("pdq", hexes[n % len(hexes)])])
                done[k] += 1
                n += threads

    workers = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    began = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(done) / (time.monotonic() - began)


def batched(address: str, hexes: list[str], per_call: int = 100) -> float:
    """Hashes looked up per second in calls of `per_call` hashes."""
    with VigilClient(address) as client:
        began = time.monotonic()
        for first in range(0, len(hexes), per_call):
            client.match_hashes([("pdq", h) for h in hexes[first : first + per_call]])
        return len(hexes) / (time.monotonic() - began)


def matcher(bits: np.ndarray, hexes: list[str]) -> dict[str, float]:
    """Microseconds per lookup of the in-memory PdqIndex alone: a full scan (before) and the multi-index (now)."""
    index = PdqIndex.of((str(n), PdqHash(row.tobytes())) for n, row in enumerate(bits))
    values = [PdqHash.from_hex(h) for h in hexes[:400]]
    began = time.perf_counter()
    index.match(values[0], 31)  # builds the multi-index
    build = time.perf_counter() - began
    began = time.perf_counter()
    for v in values:
        index.match(v, 31)
    multi = (time.perf_counter() - began) / len(values) * 1e6
    saved, hashing.MULTI_INDEX_MIN = hashing.MULTI_INDEX_MIN, 1 << 62
    try:
        began = time.perf_counter()
        for v in values[:50]:
            index.match(v, 31)
        scan = (time.perf_counter() - began) / 50 * 1e6
    finally:
        hashing.MULTI_INDEX_MIN = saved
    return {"scan_us": scan, "multi_index_us": multi, "multi_index_build_s": build}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_size(size: int, lookups: int, model_cache: Path, via_api: bool) -> dict[str, object]:
    bits = bank_hashes(size)
    hexes = queries(bits, lookups)
    row: dict[str, object] = {"hashes": size}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = ServerProcess(data, model_cache).start().wait_serving()
        try:
            if via_api:
                row["setup"] = "ImportHashes, 100k hashes per call"
                row["setup_s"] = import_api(server.address, bits)
            else:
                server.stop()
                row["setup"] = "inserted into the moderation database (RulesDb.add_items) before the server starts"
                row["setup_s"] = insert(data, bits)
                began = time.monotonic()
                server = ServerProcess(data, model_cache).start().wait_serving(timeout=1800)
                row["start_to_serving_s"] = time.monotonic() - began
            assert server.proc is not None
            row["server_rss_mib"] = rss_mib(server.proc.pid)
            row.update(latency(server.address, hexes))
            row["lookups_per_s_8_threads"] = throughput(server.address, hexes)
            row["hashes_per_s_100_per_call"] = batched(server.address, hexes)
        finally:
            server.stop()
    row["matcher"] = matcher(bits, hexes)
    return row


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--lookups", type=int, default=1000, help="sequential one-hash lookups timed per size")
    p.add_argument("--import-api", action="store_true", help="load the hashes through ImportHashes")
    p.add_argument(
        "--model-cache", type=Path, default=Path(os.environ.get("VIGIL_TEST_MODEL_CACHE", tempfile.mkdtemp()))
    )
    ns = p.parse_args(argv)
    rows = [run_size(size, ns.lookups, ns.model_cache, ns.import_api) for size in ns.sizes]
    print(f"{'hashes':>9} {'median ms':>9} {'p99 ms':>7} {'lookups/s (8 thr)':>17} {'hashes/s (100/call)':>19} "
          f"{'scan us':>8} {'multi-index us':>14} {'RSS MiB':>8}")  # fmt: skip
    for r in rows:
        m = r["matcher"]
        assert isinstance(m, dict)
        print(f"{r['hashes']:>9} {r['median_ms']:>9.2f} {r['p99_ms']:>7.2f} {r['lookups_per_s_8_threads']:>17.0f} "
              f"{r['hashes_per_s_100_per_call']:>19.0f} {m['scan_us']:>8.0f} {m['multi_index_us']:>14.0f} "
              f"{r['server_rss_mib']:>8.0f}")  # fmt: skip
    print(f"HMA's target: {HMA_TARGET} lookups/s")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
               "load_average": os.getloadavg()}  # fmt: skip
    RESULTS.write_text(json.dumps({"machine": machine, "hma_target_lookups_per_s": HMA_TARGET, "sizes": rows},
                                  indent=2))  # fmt: skip
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
