"""The committed stubs are exactly what scripts/gen_protos.py makes from protos/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "clients" / "python"


def test_generated_stubs_are_fresh(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    generated = [line.strip() for line in done.stdout.splitlines() if line.strip()]
    assert any(name.endswith("vigil_pb2_grpc.py") for name in generated)
    stale = [name for name in generated if (tmp_path / name).read_bytes() != (COMMITTED / name).read_bytes()]
    assert not stale, f"stubs differ from protos/: run python scripts/gen_protos.py ({stale})"


def test_contract_is_versioned() -> None:
    from vigil.v1 import vigil_pb2

    assert vigil_pb2.DESCRIPTOR.package == "vigil.v1"
    assert set(vigil_pb2.DESCRIPTOR.services_by_name["Vigil"].methods_by_name) == {
        "Ingest", "Search", "AddStandingQuery", "ListStandingQueries", "RemoveStandingQuery", "AddBankItem",
        "ListBankItems", "RemoveBankItem", "ImportHashes", "ExportHashes", "Watch",
        "MatchFile", "MatchHashes", "SetBankSettings", "ListBanks", "ReviewAlert",
        "ListSegments", "WatchCaptions", "ListAlerts", "DeleteStream", "DeleteSegments",
    }  # fmt: skip
