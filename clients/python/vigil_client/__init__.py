"""Python client for Vigil. Install with `pip install ./clients/python`; the CLI is `vigil`."""

from vigil_client.client import (
    DEFAULT_SERVER,
    FORMAT_BY_EXTENSION,
    MODALITIES,
    MediaBytes,
    SearchMatch,
    SegmentInfo,
    VigilClient,
    VigilError,
    read_chunks,
)

__all__ = [
    "DEFAULT_SERVER",
    "FORMAT_BY_EXTENSION",
    "MODALITIES",
    "MediaBytes",
    "SearchMatch",
    "SegmentInfo",
    "VigilClient",
    "VigilError",
    "read_chunks",
]
