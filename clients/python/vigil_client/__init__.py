"""Python client for Vigil. Install with `pip install ./clients/python`; the CLI is `vigil`."""

from vigil_client.client import (
    DEFAULT_SERVER,
    AlertWatch,
    SearchMatch,
    SegmentInfo,
    VigilClient,
    VigilError,
)
from vigil_client.errors import ErrorDetails, error_details
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
    "AlertWatch",
    "BankItemInfo",
    "ErrorDetails",
    "Example",
    "ImportedHashes",
    "MediaBytes",
    "SearchMatch",
    "SegmentInfo",
    "StandingQueryInfo",
    "VigilClient",
    "VigilError",
    "error_details",
    "media_kind",
    "read_chunks",
]
