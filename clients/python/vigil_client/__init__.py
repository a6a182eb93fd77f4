"""Python client for Vigil. Install with `pip install ./clients/python`; the CLI is `vigil`."""

from vigil_client.captions import (
    CaptionInfo,
    CaptionProgress,
    CaptionWatch,
    CaptionWordInfo,
    CaptionWriter,
    StreamState,
)
from vigil_client.client import (
    DEFAULT_SERVER,
    AlertWatch,
    SearchMatch,
    SegmentInfo,
    SegmentPage,
    VigilClient,
)
from vigil_client.erasure import Deleted
from vigil_client.errors import ErrorDetails, VigilError, error_details
from vigil_client.hash_sharing import AlertRecordInfo, BankInfo, EvidenceInfo, LookupMatchInfo
from vigil_client.media import FORMAT_BY_EXTENSION, MODALITIES, MediaBytes, media_kind, read_chunks
from vigil_client.moderation import (
    AddedBankItem,
    AlertInfo,
    BankItemInfo,
    Example,
    ImportedHashes,
    StandingQueryInfo,
)

__all__ = [
    "DEFAULT_SERVER",
    "FORMAT_BY_EXTENSION",
    "MODALITIES",
    "AddedBankItem",
    "AlertInfo",
    "AlertRecordInfo",
    "AlertWatch",
    "BankInfo",
    "BankItemInfo",
    "CaptionInfo",
    "CaptionProgress",
    "CaptionWatch",
    "CaptionWordInfo",
    "CaptionWriter",
    "Deleted",
    "ErrorDetails",
    "EvidenceInfo",
    "Example",
    "ImportedHashes",
    "LookupMatchInfo",
    "MediaBytes",
    "SearchMatch",
    "SegmentInfo",
    "SegmentPage",
    "StandingQueryInfo",
    "StreamState",
    "VigilClient",
    "VigilError",
    "error_details",
    "media_kind",
    "read_chunks",
]
