"""Logging for vigil-server: one line format, and third-party lines held to what is true.

Milvus Lite (milvus-lite 3.x) is an in-process gRPC server: pymilvus starts it on a thread pool
of this very process and talks to it over 127.0.0.1. When the store creates a collection with an
index, pymilvus's `wait_for_creating_index` first asks for a timestamp (`alloc_timestamp`). Milvus
Lite does not implement the AllocTimestamp RPC, so the servicer base class it inherits from
pymilvus's generated code raises `NotImplementedError('Method not implemented!')`, and grpc's
sync server logs that on the `grpc._server` logger at ERROR with the traceback, as it does for any
exception from a handler. The client gets UNIMPLEMENTED, which pymilvus expects
(`@ignore_unimplemented(0)`): it uses timestamp 0 and the index is built and used as usual. So the
ERROR says something went wrong when nothing did. It appears once per collection created: twice at
the first start on an empty data directory (segments and copies), never on a restart, never with
a Milvus server. Its message is only "Exception calling application: Method not implemented!";
the method's name is in the traceback alone, so the filter looks at the exception, not the text.

Two formats (`--log-format`): `text`, one line per record (FORMAT), and `json`, one JSON object per
line: `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, then `tenant` and
`stream` when the record is made while a call is served (the transport hands in `call_ids`, which
reads them from the call's context), and `exception` with the traceback when there is one.

What is never logged at INFO or above: transcripts, caption and on-screen text, query texts
(standing queries' labels and regexes included), media bytes, API keys and tokens. Such text may
appear at DEBUG only.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import PurePath
from typing import TextIO

__all__ = ["FORMAT", "FORMATS", "CallIds", "JsonFormatter", "configure_logging", "drop_lite_alloc_timestamp", "handler"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The generated pymilvus servicer method whose "not implemented" error is expected (see above).
UNIMPLEMENTED_BY_LITE = ("pymilvus", "grpc_gen", "milvus_pb2_grpc.py", "AllocTimestamp")
FORMATS = ("text", "json")
# The ids of the call being served, those that are known: {"tenant": ..., "stream": ...}.
CallIds = Callable[[], Mapping[str, str]]


def _no_ids() -> Mapping[str, str]:
    return {}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (see the module doc)."""

    def __init__(self, call_ids: CallIds = _no_ids):
        super().__init__()
        self._call_ids = call_ids

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(self._call_ids())  # formatted on the thread (and in the context) that logged it
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def handler(log_format: str, call_ids: CallIds = _no_ids, stream: TextIO | None = None) -> logging.Handler:
    """A handler writing to `stream` (default stderr) in `log_format` ("text" or "json")."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r}: choose one of {', '.join(FORMATS)}")
    out = logging.StreamHandler(stream if stream is not None else sys.stderr)
    out.setFormatter(JsonFormatter(call_ids) if log_format == "json" else logging.Formatter(FORMAT))
    return out


def configure_logging(level: str, log_format: str = "text", call_ids: CallIds = _no_ids) -> None:
    """Log to stderr at `level` (a name such as "INFO") in `log_format`, without the noise of the libraries we load.

    `call_ids` gives the tenant and stream of the call being served, for the json format."""
    logging.basicConfig(level=level, handlers=[handler(log_format, call_ids)])
    logging.getLogger("faiss").setLevel(logging.WARNING)  # Milvus Lite announces its CPU kernels
    # A filter on the logger that makes the record: records do not pass logger filters on their way
    # up to the root. Adding the same function twice is a no-op.
    logging.getLogger("grpc._server").addFilter(drop_lite_alloc_timestamp)
    from transformers.utils import logging as hf_logging  # heavy: only when the server starts

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]


def drop_lite_alloc_timestamp(record: logging.LogRecord) -> bool:
    """False (drop) for grpc's report of Milvus Lite's unimplemented AllocTimestamp; True for anything else."""
    if not record.exc_info or not isinstance(record.exc_info[1], NotImplementedError):
        return True
    tb = record.exc_info[2]
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return True
    raised_in = tb.tb_frame.f_code  # the innermost frame: where the exception was raised
    return (*PurePath(raised_in.co_filename).parts[-3:], raised_in.co_name) != UNIMPLEMENTED_BY_LITE
