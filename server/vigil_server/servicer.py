"""The gRPC servicer: protobuf in, dataclasses to the pipeline, dataclasses back to protobuf.

Conversions live in wire.py and wire_moderation.py. Errors become status codes here and nowhere else.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_server.errors import (
    AlreadyExists,
    InvalidMedia,
    InvalidRequest,
    NotFound,
    NotReady,
    Overloaded,
    StoreUnavailable,
    TooLarge,
    VigilError,
)
from vigil_server.pipeline import Pipeline
from vigil_server.types import DEFAULT_TENANT
from vigil_server.wire import alert_proto, chunks, event_proto, match_proto, search_query, stream_config
from vigil_server.wire_moderation import (
    archive_window,
    bank_item_proto,
    bank_item_spec,
    bank_name,
    hash_list,
    object_id,
    standing_query_proto,
    standing_query_spec,
    watch_filter,
)

log = logging.getLogger(__name__)

STATUS = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    InvalidMedia: grpc.StatusCode.INVALID_ARGUMENT,
    NotFound: grpc.StatusCode.NOT_FOUND,
    AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
    TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NotReady: grpc.StatusCode.UNAVAILABLE,
    StoreUnavailable: grpc.StatusCode.UNAVAILABLE,
}


@dataclass
class ServerState:
    """What the servicer needs; `pipeline` is None until the models have loaded."""

    pipeline: Pipeline | None
    default_frame_rate: float
    max_chunk_bytes: int

    def ready(self) -> Pipeline:
        if self.pipeline is None:
            raise NotReady("models are still loading; retry when the health status is SERVING")
        return self.pipeline


def status_of(error: VigilError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return grpc.StatusCode.INTERNAL


# -- the service ------------------------------------------------------------------------------


class VigilServicer(vigil_pb2_grpc.VigilServicer):
    def __init__(self, state: ServerState):
        self.state = state

    async def Ingest(  # noqa: N802 - generated name
        self, request_iterator: AsyncIterator[vigil_pb2.IngestRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[vigil_pb2.IngestEvent]:
        try:
            pipeline = self.state.ready()
            first = await anext(aiter(request_iterator), None)
            if first is None or first.WhichOneof("request") != "config":
                raise InvalidRequest("the first IngestRequest must carry a config (StreamConfig)")
            config = stream_config(first.config, self.state.default_frame_rate)
            body = chunks(request_iterator, self.state.max_chunk_bytes)
            async for event in pipeline.ingest(config, body):
                yield event_proto(event)
        except VigilError as error:
            log.info("Ingest failed: %s: %s", type(error).__name__, error)
            await context.abort(status_of(error), str(error))

    async def Search(  # noqa: N802 - generated name
        self, request: vigil_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.SearchResponse:
        try:
            matches = await self.state.ready().search(search_query(request))
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.SearchResponse(matches=[match_proto(m) for m in matches])

    # -- moderation

    async def AddStandingQuery(  # noqa: N802 - generated name
        self, request: vigil_pb2.AddStandingQueryRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.StandingQuery:
        try:
            query = await self.state.ready().moderation.add_query(standing_query_spec(request))
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return standing_query_proto(query)

    async def ListStandingQueries(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListStandingQueriesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListStandingQueriesResponse:
        try:
            queries = self.state.ready().moderation.watchlist.queries(DEFAULT_TENANT)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.ListStandingQueriesResponse(queries=[standing_query_proto(q) for q in queries])

    async def RemoveStandingQuery(  # noqa: N802 - generated name
        self, request: vigil_pb2.RemoveStandingQueryRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.RemoveStandingQueryResponse:
        try:
            query_id = object_id(request.query_id, "query_id")
            await self.state.ready().moderation.remove_query(query_id, DEFAULT_TENANT)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.RemoveStandingQueryResponse()

    async def AddBankItem(  # noqa: N802 - generated name
        self, request_iterator: AsyncIterator[vigil_pb2.AddBankItemRequest], context: grpc.aio.ServicerContext
    ) -> vigil_pb2.AddBankItemResponse:
        try:
            moderation = self.state.ready().moderation
            item, archive_alerts = await moderation.add_item(await bank_item_spec(request_iterator))
        except VigilError as error:
            log.info("AddBankItem failed: %s: %s", type(error).__name__, error)
            await context.abort(status_of(error), str(error))
        return vigil_pb2.AddBankItemResponse(item=bank_item_proto(item), archive_alerts=archive_alerts)

    async def ListBankItems(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListBankItemsRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListBankItemsResponse:
        try:
            bank = bank_name(request.bank) if request.bank else ""
            items = self.state.ready().moderation.watchlist.items(DEFAULT_TENANT, bank)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.ListBankItemsResponse(items=[bank_item_proto(i) for i in items])

    async def RemoveBankItem(  # noqa: N802 - generated name
        self, request: vigil_pb2.RemoveBankItemRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.RemoveBankItemResponse:
        try:
            item_id = object_id(request.item_id, "item_id")
            await self.state.ready().moderation.remove_item(item_id, DEFAULT_TENANT)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.RemoveBankItemResponse()

    async def ImportHashes(  # noqa: N802 - generated name
        self, request: vigil_pb2.ImportHashesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ImportHashesResponse:
        try:
            text = hash_list(request)
            window = archive_window(request.archive_window, "archive_window")
            moderation = self.state.ready().moderation
            imported, alerts = await moderation.import_hashes(request.bank, text, request.label, window, DEFAULT_TENANT)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.ImportHashesResponse(imported=imported, archive_alerts=alerts)

    async def ExportHashes(  # noqa: N802 - generated name
        self, request: vigil_pb2.ExportHashesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ExportHashesResponse:
        try:
            bank = bank_name(request.bank) if request.bank else ""
            text = self.state.ready().moderation.export_hashes(bank, DEFAULT_TENANT)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        return vigil_pb2.ExportHashesResponse(hash_list=text)

    async def Watch(  # noqa: N802 - generated name
        self, request: vigil_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[vigil_pb2.Alert]:
        try:
            subscription = self.state.ready().moderation.hub.watch(watch_filter(request))
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        try:
            # Response headers now tell the client it is subscribed: alerts from here on reach it.
            await context.send_initial_metadata(())
            async for alert in subscription:
                yield alert_proto(alert)
        except VigilError as error:
            await context.abort(status_of(error), str(error))
        finally:
            subscription.close()
