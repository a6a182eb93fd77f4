"""The gRPC servicer: protobuf in, dataclasses to the service, dataclasses back to protobuf.

Conversions live in wire.py and wire_moderation.py; errors become statuses in rpc.py's
decorators. The servicer talks to one object, the VigilService, once the models have loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace

import grpc

from vigil.v1 import vigil_pb2, vigil_pb2_grpc
from vigil_server.errors import IdleTimeout, InvalidRequest, NotReady
from vigil_server.identity import OPEN_DOOR, KeyBook, current_tenant
from vigil_server.idle import not_idle
from vigil_server.rpc import current_stream, streaming, unary
from vigil_server.service import VigilService
from vigil_server.types import HashListForm
from vigil_server.wire import alert_proto, chunks, event_proto, match_proto, search_query, stream_config
from vigil_server.wire_alerts import alert_listing, alert_page_proto, watch_request
from vigil_server.wire_captions import (
    caption_event_proto,
    caption_request,
    delete_response_proto,
    deleted_stream,
    deleted_stretch,
    segment_listing,
    segment_page_proto,
)
from vigil_server.wire_lookup import (
    alert_record_proto,
    bank_proto,
    bank_settings_change,
    export_form,
    hash_queries,
    match_file_request,
    match_response,
    review_request,
)
from vigil_server.wire_moderation import (
    EXPORT_PAGE,
    ITEM_PAGE,
    QUERY_PAGE,
    archive_window,
    bank_item_proto,
    bank_item_spec,
    bank_name,
    hash_list,
    object_id,
    page_of,
    page_request,
    standing_query_proto,
    standing_query_spec,
    text_page,
)

# What an upload (AddBankItem, MatchFile) that stopped sending is told.
UPLOAD_ADVICE = "send the header and then the media's chunks without long pauses"


@dataclass
class ServerState:
    """What the servicer needs; `service` is None until the models have loaded."""

    service: VigilService | None
    default_frame_rate: float
    max_chunk_bytes: int
    keys: KeyBook | None = None  # API keys and tenant policies; None: auth off (identity.py)
    on_rpc_finished: Callable[[str, str], None] | None = None  # (method, status code name) as each RPC ends: metrics
    stream_idle_timeout_s: float = 60.0  # an Ingest call's wait for its config (--stream-idle-timeout)

    def ready(self) -> VigilService:
        if self.service is None:
            raise NotReady("models are still loading; retry when the health status is SERVING")
        return self.service


class VigilServicer(vigil_pb2_grpc.VigilServicer):
    def __init__(self, state: ServerState):
        self.state = state

    @property
    def rpc_finished(self) -> Callable[[str, str], None] | None:
        """Told (method, status code name) as each RPC ends (rpc.py): the server's metrics; None: nobody."""
        return self.state.on_rpc_finished

    @property
    def guard(self) -> KeyBook | None:
        """Who may call what (rpc.py asks it on every RPC); None: auth off, every call the default tenant's admin."""
        return self.state.keys

    @streaming
    async def Ingest(  # noqa: N802 - generated name
        self, request_iterator: AsyncIterator[vigil_pb2.IngestRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[vigil_pb2.IngestEvent]:
        service = self.state.ready()
        idle_s = self.state.stream_idle_timeout_s
        try:
            async with asyncio.timeout(idle_s):
                first = await anext(aiter(request_iterator), None)
        except TimeoutError:
            raise IdleTimeout(f"no config arrived for {idle_s:g} s (the server's --stream-idle-timeout); send the "
                              "StreamConfig first, at once", field="config") from None  # fmt: skip
        if first is None or first.WhichOneof("request") != "config":
            raise InvalidRequest("the first IngestRequest must carry a config (StreamConfig)", field="config")
        config = replace(stream_config(first.config, self.state.default_frame_rate), tenant=current_tenant())
        current_stream.set(config.stream_id)
        body = chunks(request_iterator, self.state.max_chunk_bytes)
        policy = (self.state.keys or OPEN_DOOR).policy(config.tenant)
        async for event in service.ingest(config, body, policy):
            yield event_proto(event)

    @unary
    async def Search(  # noqa: N802 - generated name
        self, request: vigil_pb2.SearchRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.SearchResponse:
        query = search_query(request)
        query = replace(query, filter=replace(query.filter, tenant=current_tenant()))
        matches = await self.state.ready().search(query)
        return vigil_pb2.SearchResponse(matches=[match_proto(m) for m in matches])

    @unary
    async def ListSegments(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListSegmentsResponse:
        listing = segment_listing(request, current_tenant())
        page = await self.state.ready().list_segments(listing.filter, listing.page_size, listing.after)
        return segment_page_proto(page, listing.filter)

    @unary
    async def DeleteStream(  # noqa: N802 - generated name
        self, request: vigil_pb2.DeleteStreamRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.DeleteResponse:
        stream_id = deleted_stream(request)
        current_stream.set(stream_id)
        return delete_response_proto(await self.state.ready().delete_stream(current_tenant(), stream_id))

    @unary
    async def DeleteSegments(  # noqa: N802 - generated name
        self, request: vigil_pb2.DeleteSegmentsRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.DeleteResponse:
        stream_id, start, end = deleted_stretch(request)
        current_stream.set(stream_id)
        erased = await self.state.ready().delete_segments(current_tenant(), stream_id, start, end)
        return delete_response_proto(erased)

    @streaming
    async def WatchCaptions(  # noqa: N802 - generated name
        self, request: vigil_pb2.WatchCaptionsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[vigil_pb2.CaptionEvent]:
        asked = caption_request(request)
        current_stream.set(asked.stream_id)
        watch = self.state.ready().watch_captions(
            current_tenant(), asked.stream_id, asked.interims, asked.descriptions, asked.replay
        )
        try:
            # Response headers now tell the client it is registered: every caption from here on reaches it.
            await context.send_initial_metadata(())
            async for event in watch:
                yield caption_event_proto(event)
        finally:
            watch.close()

    # -- moderation

    @unary
    async def AddStandingQuery(  # noqa: N802 - generated name
        self, request: vigil_pb2.AddStandingQueryRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.StandingQuery:
        spec = replace(standing_query_spec(request), tenant=current_tenant())
        return standing_query_proto(await self.state.ready().add_query(spec))

    @unary
    async def ListStandingQueries(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListStandingQueriesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListStandingQueriesResponse:
        size, offset = page_request(request.page_size, request.page_token, QUERY_PAGE)
        queries = self.state.ready().list_queries(current_tenant())
        page, token = page_of(queries, standing_query_proto, size, offset)
        return vigil_pb2.ListStandingQueriesResponse(queries=page, next_page_token=token)

    @unary
    async def RemoveStandingQuery(  # noqa: N802 - generated name
        self, request: vigil_pb2.RemoveStandingQueryRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.RemoveStandingQueryResponse:
        query_id = object_id(request.query_id, "query_id")
        await self.state.ready().remove_query(query_id, current_tenant())
        return vigil_pb2.RemoveStandingQueryResponse()

    @unary
    async def AddBankItem(  # noqa: N802 - generated name
        self, request_iterator: AsyncIterator[vigil_pb2.AddBankItemRequest], context: grpc.aio.ServicerContext
    ) -> vigil_pb2.AddBankItemResponse:
        service = self.state.ready()
        requests = not_idle(request_iterator, self.state.stream_idle_timeout_s, "message", "chunk", UPLOAD_ADVICE)
        spec = replace(await bank_item_spec(requests), tenant=current_tenant())
        item, archive_alerts = await service.add_item(spec)
        return vigil_pb2.AddBankItemResponse(item=bank_item_proto(item), archive_alerts=archive_alerts)

    @unary
    async def ListBankItems(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListBankItemsRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListBankItemsResponse:
        bank = bank_name(request.bank) if request.bank else ""
        size, offset = page_request(request.page_size, request.page_token, ITEM_PAGE)
        items = self.state.ready().list_items(current_tenant(), bank)
        page, token = page_of(items, bank_item_proto, size, offset)
        return vigil_pb2.ListBankItemsResponse(items=page, next_page_token=token)

    @unary
    async def RemoveBankItem(  # noqa: N802 - generated name
        self, request: vigil_pb2.RemoveBankItemRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.RemoveBankItemResponse:
        item_id = object_id(request.item_id, "item_id")
        await self.state.ready().remove_item(item_id, current_tenant())
        return vigil_pb2.RemoveBankItemResponse()

    @unary
    async def ImportHashes(  # noqa: N802 - generated name
        self, request: vigil_pb2.ImportHashesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ImportHashesResponse:
        text = hash_list(request)
        window = archive_window(request.archive_window, "archive_window")
        service = self.state.ready()
        imported, alerts = await service.import_hashes(request.bank, text, request.label, window, current_tenant(),
                                                       request.signal_type, request.external_id)  # fmt: skip
        return vigil_pb2.ImportHashesResponse(imported=sum(imported.values()), archive_alerts=alerts, signals=imported)

    @unary
    async def ExportHashes(  # noqa: N802 - generated name
        self, request: vigil_pb2.ExportHashesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ExportHashesResponse:
        bank, form, item_id = export_form(request)
        size, offset = page_request(request.page_size, request.page_token, EXPORT_PAGE)
        text = self.state.ready().export_hashes(bank, current_tenant(), form, item_id)
        page, token = text_page(text, form is not HashListForm.VPDQ, size, offset)
        return vigil_pb2.ExportHashesResponse(hash_list=page, next_page_token=token)

    @streaming
    async def Watch(  # noqa: N802 - generated name
        self, request: vigil_pb2.WatchRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[vigil_pb2.Alert]:
        watch, resume_after = watch_request(request, current_tenant())
        subscription = self.state.ready().watch(watch, resume_after)
        try:
            # Response headers now tell the client it is subscribed: alerts from here on reach it.
            await context.send_initial_metadata(())
            async for alert in subscription:
                yield alert_proto(alert)
        finally:
            subscription.close()

    # -- hash sharing: lookups, bank settings, reviews

    @unary
    async def MatchFile(  # noqa: N802 - generated name
        self, request_iterator: AsyncIterator[vigil_pb2.MatchFileRequest], context: grpc.aio.ServicerContext
    ) -> vigil_pb2.MatchResponse:
        service = self.state.ready()
        requests = not_idle(request_iterator, self.state.stream_idle_timeout_s, "message", "chunk", UPLOAD_ADVICE)
        kind, data, fmt = await match_file_request(requests)
        return match_response(await service.match_file(kind, data, fmt, current_tenant()))

    @unary
    async def MatchHashes(  # noqa: N802 - generated name
        self, request: vigil_pb2.MatchHashesRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.MatchResponse:
        queries = hash_queries(request)
        return match_response(await self.state.ready().match_hashes(queries, current_tenant()))

    @unary
    async def SetBankSettings(  # noqa: N802 - generated name
        self, request: vigil_pb2.SetBankSettingsRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.Bank:
        change = replace(bank_settings_change(request), tenant=current_tenant())
        return bank_proto(await self.state.ready().set_bank(change))

    @unary
    async def ListBanks(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListBanksRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListBanksResponse:
        service = self.state.ready()
        banks = [bank_proto(b) for b in service.list_banks(current_tenant())]
        return vigil_pb2.ListBanksResponse(banks=banks, default_thresholds=service.default_thresholds())

    @unary
    async def ReviewAlert(  # noqa: N802 - generated name
        self, request: vigil_pb2.ReviewAlertRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.AlertRecord:
        alert_id, verdict, reviewer, note = review_request(request)
        record = await self.state.ready().review_alert(alert_id, current_tenant(), verdict, reviewer, note)
        return alert_record_proto(record)

    @unary
    async def ListAlerts(  # noqa: N802 - generated name
        self, request: vigil_pb2.ListAlertsRequest, context: grpc.aio.ServicerContext
    ) -> vigil_pb2.ListAlertsResponse:
        listing = alert_listing(request, current_tenant())
        page = await self.state.ready().list_alerts(listing.filter, listing.page_size)
        return alert_page_proto(page, listing)
