"""rpc.py turns exceptions into gRPC statuses with google.rpc details, on a real grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_client import ErrorDetails, error_details
from vigil_server import errors
from vigil_server.rpc import STATUS, current_stream, status_of, streaming, unary

SECRET = "secret detail of a bug: /srv/vigil/models/key.bin"


class FailingServicer(vigil_pb2_grpc.VigilServicer):  # type: ignore[misc]
    """Each method fails in one way on purpose; Search with text "ok" succeeds."""

    def __init__(self) -> None:
        self.entered: queue.Queue[str] = queue.Queue()  # a hanging method was entered
        self.cancelled: queue.Queue[str] = queue.Queue()  # a method saw CancelledError
        self.abort_raised: queue.Queue[type[BaseException]] = queue.Queue()  # what context.abort raised

    @unary
    async def Search(self, request: vigil_pb2.SearchRequest, context: Any) -> vigil_pb2.SearchResponse:  # noqa: N802
        if request.text == "ok":
            return vigil_pb2.SearchResponse(matches=[vigil_pb2.Match(score=1.5)])
        raise errors.InvalidRequest("top_k must be 1-1000, got 5000", field="top_k")

    @unary
    async def ListStandingQueries(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise errors.Overloaded("the text encoder queue is full; retry with backoff")

    @unary
    async def RemoveStandingQuery(self, request: Any, context: Any) -> Any:  # noqa: N802
        raise ValueError(SECRET)

    @unary
    async def RemoveBankItem(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            await context.abort(grpc.StatusCode.NOT_FOUND, "aborted by the handler itself")
        except BaseException as raised:
            self.abort_raised.put(type(raised))
            raise

    @unary
    async def ExportHashes(self, request: Any, context: Any) -> Any:  # noqa: N802
        try:
            self.entered.put("ExportHashes")
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.put("ExportHashes")
            raise

    @streaming
    async def Watch(self, request: vigil_pb2.WatchRequest, context: Any) -> AsyncIterator[vigil_pb2.Alert]:  # noqa: N802
        current_stream.set(request.stream_ids[0] if request.stream_ids else "")
        if request.banks == ["hang"]:
            try:
                self.entered.put("Watch")
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.put("Watch")
                raise
        raise ValueError(SECRET)
        yield vigil_pb2.Alert()  # makes this an async generator

    @streaming
    async def Ingest(  # noqa: N802
        self, request_iterator: AsyncIterator[vigil_pb2.IngestRequest], context: Any
    ) -> AsyncIterator[vigil_pb2.IngestEvent]:
        async for request in request_iterator:
            current_stream.set(request.config.stream_id)
            yield vigil_pb2.IngestEvent(ack=vigil_pb2.ChunkAck(sequence=0))
            raise errors.NotFound(f"no stream {request.config.stream_id!r} is stored")


@dataclass
class RunningServer:
    servicer: FailingServicer
    stub: vigil_pb2_grpc.VigilStub


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    """A real grpc.aio server on 127.0.0.1:0, on its own event loop in a background thread."""
    servicer = FailingServicer()
    ready: queue.Queue[tuple[int, asyncio.AbstractEventLoop, asyncio.Event]] = queue.Queue()

    async def serve() -> None:
        aio_server = grpc.aio.server()
        vigil_pb2_grpc.add_VigilServicer_to_server(servicer, aio_server)
        port = aio_server.add_insecure_port("127.0.0.1:0")
        await aio_server.start()
        stop = asyncio.Event()
        ready.put((port, asyncio.get_running_loop(), stop))
        await stop.wait()
        await aio_server.stop(grace=None)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    port, loop, stop = ready.get(timeout=30)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield RunningServer(servicer, vigil_pb2_grpc.VigilStub(channel))
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="vigil_server.rpc")
    return caplog


def rpc_records(caplog: pytest.LogCaptureFixture, level: int) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "vigil_server.rpc" and r.levelno == level]


def assert_no_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_success_is_untouched(server: RunningServer, logs: pytest.LogCaptureFixture) -> None:
    response = server.stub.Search(vigil_pb2.SearchRequest(text="ok"), timeout=10)
    assert [m.score for m in response.matches] == [1.5]
    assert rpc_records(logs, logging.INFO) == []


def test_invalid_request_carries_the_field(server: RunningServer, logs: pytest.LogCaptureFixture) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.Search(vigil_pb2.SearchRequest(text="x", top_k=5000), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == "top_k must be 1-1000, got 5000"
    assert error_details(caught.value) == ErrorDetails((("top_k", "top_k must be 1-1000, got 5000"),), None)
    (record,) = rpc_records(logs, logging.INFO)
    assert all(part in record.getMessage() for part in ("Search", "InvalidRequest", "top_k must be"))
    assert_no_errors_logged(logs)


def test_overloaded_says_when_to_retry(server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.ListStandingQueries(vigil_pb2.ListStandingQueriesRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details() == "the text encoder queue is full; retry with backoff"
    assert error_details(caught.value) == ErrorDetails((), errors.Overloaded.retry_after_s)
    assert errors.Overloaded.retry_after_s == 1.0


def test_unexpected_error_is_internal_and_logged(server: RunningServer, logs: pytest.LogCaptureFixture) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.RemoveStandingQuery(vigil_pb2.RemoveStandingQueryRequest(query_id="q1"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error in RemoveStandingQuery; the server log has the details"
    assert error_details(caught.value) == ErrorDetails()
    (record,) = rpc_records(logs, logging.ERROR)
    assert "RemoveStandingQuery" in record.getMessage() and "stream=''" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[0] is ValueError


def test_unexpected_error_in_a_stream_names_the_stream(server: RunningServer, logs: pytest.LogCaptureFixture) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        list(server.stub.Watch(vigil_pb2.WatchRequest(stream_ids=["cam-7"]), timeout=10))
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error in Watch; the server log has the details"
    assert SECRET not in str(caught.value) and "ValueError" not in str(caught.value)
    (record,) = rpc_records(logs, logging.ERROR)
    assert "Watch" in record.getMessage() and "stream='cam-7'" in record.getMessage()
    assert record.exc_info is not None and SECRET in str(record.exc_info[1])
    # The stream id stays with its call: the next call's log line names none.
    logs.clear()
    with pytest.raises(grpc.RpcError):
        server.stub.RemoveStandingQuery(vigil_pb2.RemoveStandingQueryRequest(), timeout=10)
    (record,) = rpc_records(logs, logging.ERROR)
    assert "stream=''" in record.getMessage()


def test_error_after_streamed_responses(server: RunningServer, logs: pytest.LogCaptureFixture) -> None:
    requests = iter([vigil_pb2.IngestRequest(config=vigil_pb2.StreamConfig(stream_id="cam-1", format="mpegts"))])
    events = []
    with pytest.raises(grpc.RpcError) as caught:
        events.extend(server.stub.Ingest(requests, timeout=10))
    assert [e.WhichOneof("event") for e in events] == ["ack"]
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "no stream 'cam-1' is stored"
    assert error_details(caught.value) == ErrorDetails()
    (record,) = rpc_records(logs, logging.INFO)
    assert all(part in record.getMessage() for part in ("Ingest", "stream='cam-1'", "NotFound", "no stream"))
    assert_no_errors_logged(logs)


def test_the_handlers_own_abort_passes_through(server: RunningServer, logs: pytest.LogCaptureFixture) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.RemoveBankItem(vigil_pb2.RemoveBankItemRequest(item_id="i1"), timeout=10)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "aborted by the handler itself"
    assert server.servicer.abort_raised.get(timeout=5) is grpc.aio.AbortError
    time.sleep(0.2)  # anything the decorator or grpc.aio would log comes right after the abort
    assert rpc_records(logs, logging.INFO) == []
    assert_no_errors_logged(logs)


@pytest.mark.parametrize("method", ["ExportHashes", "Watch"])
def test_cancellation_is_not_swallowed(server: RunningServer, logs: pytest.LogCaptureFixture, method: str) -> None:
    if method == "Watch":
        call = server.stub.Watch(vigil_pb2.WatchRequest(stream_ids=["cam-2"], banks=["hang"]), timeout=10)
    else:
        call = server.stub.ExportHashes.future(vigil_pb2.ExportHashesRequest(), timeout=10)
    assert server.servicer.entered.get(timeout=5) == method
    call.cancel()
    assert server.servicer.cancelled.get(timeout=5) == method
    time.sleep(0.2)  # a swallowed CancelledError would be logged and aborted right after
    assert rpc_records(logs, logging.INFO) == []
    assert_no_errors_logged(logs)


def test_closing_a_stream_closes_the_method_and_aborts_nothing() -> None:
    closed: list[str] = []
    aborts: list[object] = []

    class Context:
        async def abort(self, *args: object, **kwargs: object) -> None:
            aborts.append(args)

    class Service:
        @streaming
        async def Tail(self, request: int, context: Any) -> AsyncIterator[int]:  # noqa: N802
            try:
                yield request
                await asyncio.sleep(60)
            finally:
                closed.append("Tail")

    async def run() -> None:
        responses = Service().Tail(7, Context())
        assert await anext(responses) == 7
        await responses.aclose()  # GeneratorExit, as when a caller stops iterating
        assert closed == ["Tail"]  # at once, not when the loop finalizes stray generators

    asyncio.run(run())
    assert closed == ["Tail"] and aborts == []


def test_decorators_refuse_the_wrong_kind_of_method() -> None:
    async def returns(self: object, request: object, context: object) -> None:
        return None

    async def yields(self: object, request: object, context: object) -> AsyncIterator[None]:
        yield None

    with pytest.raises(TypeError, match="@streaming"):
        unary(yields)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="@unary"):
        streaming(returns)  # type: ignore[arg-type]


def test_status_table_and_retry_hints() -> None:
    assert status_of(errors.InvalidMedia("x")) == grpc.StatusCode.INVALID_ARGUMENT
    assert status_of(errors.TooLarge("x")) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert status_of(errors.StoreUnavailable("x")) == grpc.StatusCode.UNAVAILABLE
    assert status_of(errors.VigilError("x")) == grpc.StatusCode.INTERNAL

    class StreamGone(errors.NotFound):
        pass

    assert status_of(StreamGone("x")) == grpc.StatusCode.NOT_FOUND
    classes: list[type[errors.VigilError]] = [errors.VigilError, *STATUS]
    for cls in classes:
        assert cls.retriable == (cls.retry_after_s is not None), cls
    assert errors.InvalidRequest("bad", field="examples[2].image").field == "examples[2].image"
