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
"""

from __future__ import annotations

import logging
from pathlib import PurePath

__all__ = ["FORMAT", "configure_logging", "drop_lite_alloc_timestamp"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# The generated pymilvus servicer method whose "not implemented" error is expected (see above).
UNIMPLEMENTED_BY_LITE = ("pymilvus", "grpc_gen", "milvus_pb2_grpc.py", "AllocTimestamp")


def configure_logging(level: str) -> None:
    """Log to stderr at `level` (a name such as "INFO"), without the noise of the libraries we load."""
    logging.basicConfig(level=level, format=FORMAT)
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
