"""configure_logging on a real Milvus Lite: its expected AllocTimestamp error is not logged, real errors are."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import Mock

import pytest

from vigil_server.logs import configure_logging, drop_lite_alloc_timestamp
from vigil_server.store import SegmentStore, StoreSettings
from vigil_server.types import Modality, SearchFilter, Segment

ROOT = Path(__file__).resolve().parent.parent
FORMATTER = logging.Formatter()


def full_text(record: logging.LogRecord) -> str:
    return record.getMessage() + (FORMATTER.formatException(record.exc_info) if record.exc_info else "")


def is_alloc_timestamp(record: logging.LogRecord) -> bool:
    return "AllocTimestamp" in full_text(record) or (
        record.exc_info is not None and isinstance(record.exc_info[1], NotImplementedError)
    )


@contextmanager
def logging_restored() -> Iterator[None]:
    """Undo what configure_logging changes in this process's logging, so other tests see it as it was."""
    from transformers.utils import logging as hf_logging

    root, grpc_server, faiss = logging.getLogger(), logging.getLogger("grpc._server"), logging.getLogger("faiss")
    handlers, level, filters, faiss_level = root.handlers[:], root.level, grpc_server.filters[:], faiss.level
    verbosity, progress = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    try:
        yield
    finally:
        root.handlers[:], grpc_server.filters[:] = handlers, filters
        root.setLevel(level)
        faiss.setLevel(faiss_level)
        hf_logging.set_verbosity(verbosity)
        if progress:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def use_store(uri: str) -> None:
    """Create the collection (this is where pymilvus asks for a timestamp), insert a row, search."""
    store = SegmentStore(StoreSettings(uri=uri), "test", 4)
    try:
        store.insert([(Segment("s-0", "cam", Modality.FRAME, 0.0, 1.0), [1.0, 0.0, 0.0, 0.0])])
        assert [m.segment.segment_id for m in store.search([1.0, 0.0, 0.0, 0.0], SearchFilter(), 1)] == ["s-0"]
    finally:
        store.close()


def test_lite_alloc_timestamp_error_is_dropped_and_real_errors_pass(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    made: list[logging.LogRecord] = []  # every record grpc._server makes, before any filter drops it

    def spy(record: logging.LogRecord) -> bool:
        made.append(record)
        return True

    grpc_server = logging.getLogger("grpc._server")
    with logging_restored():
        grpc_server.filters.insert(0, spy)
        configure_logging("DEBUG")
        caplog.set_level(1)  # every level, every logger
        use_store(str(tmp_path / "milvus.db"))
        logging.getLogger("vigil_server.store").error("the Milvus store failed: a real one")
        try:
            raise RuntimeError("a handler that really failed")
        except RuntimeError:
            grpc_server.exception("Exception calling application: a handler that really failed")

    assert any(is_alloc_timestamp(r) for r in made), "Milvus Lite no longer reports AllocTimestamp: drop the filter"
    assert not [full_text(r) for r in caplog.records if is_alloc_timestamp(r)]
    errors = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        ("vigil_server.store", "the Milvus store failed: a real one"),
        ("grpc._server", "Exception calling application: a handler that really failed"),
    ]
    out, err = capfd.readouterr()
    assert "NotImplementedError" not in out + err and "AllocTimestamp" not in out + err


def record_of(call: Callable[[], object]) -> logging.LogRecord:
    """The record grpc._server makes when a handler raises, as `_LOGGER.exception(...)` does."""
    try:
        call()
    except NotImplementedError:
        return logging.LogRecord("grpc._server", logging.ERROR, __file__, 1, "Exception calling", None, sys.exc_info())
    raise AssertionError("expected NotImplementedError")


def test_filter_drops_only_the_generated_alloc_timestamp() -> None:
    from pymilvus.grpc_gen.milvus_pb2_grpc import MilvusServiceServicer

    servicer = MilvusServiceServicer()  # what Milvus Lite's servicer inherits its missing methods from
    assert not drop_lite_alloc_timestamp(record_of(lambda: servicer.AllocTimestamp(None, Mock())))
    assert drop_lite_alloc_timestamp(record_of(lambda: servicer.Connect(None, Mock())))  # same file, another method
    assert drop_lite_alloc_timestamp(logging.LogRecord("grpc._server", logging.ERROR, __file__, 1, "x", None, None))


@pytest.mark.slow  # a fresh interpreter loads transformers and Milvus Lite: about 3 s
def test_server_stderr_has_no_traceback(tmp_path: Path) -> None:
    """What an operator sees: a fresh process, configure_logging as main() calls it, a new store."""
    script = f"""
        import logging
        from tests.test_logs import use_store
        from vigil_server.logs import configure_logging
        configure_logging("INFO")
        use_store({str(tmp_path / "milvus.db")!r})
        logging.getLogger("vigil_server").error("a real error")
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "ERROR vigil_server: a real error" in done.stderr
    assert "MilvusLite server started" in done.stderr  # INFO lines get through
    assert "Traceback" not in done.stderr and "NotImplementedError" not in done.stderr, done.stderr
