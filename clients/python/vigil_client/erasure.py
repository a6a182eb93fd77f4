"""Erasure from the client: what DeleteStream and DeleteSegments removed, and the request for a stretch."""

from __future__ import annotations

from dataclasses import dataclass

from vigil.v1 import vigil_pb2


@dataclass(frozen=True)
class Deleted:
    segments: int  # stored segments removed, every modality
    alerts: int  # stored alerts about the stream (or the stretch) removed
    archive_entries: int  # archived hashes and fingerprints removed

    @classmethod
    def from_proto(cls, d: vigil_pb2.DeleteResponse) -> Deleted:
        return cls(d.segments_deleted, d.alerts_deleted, d.archive_entries_deleted)

    def as_json(self) -> dict[str, object]:
        return dict(self.__dict__)


def delete_segments_request(stream_id: str, start: float, end: float) -> vigil_pb2.DeleteSegmentsRequest:
    """The segments of a stream that overlap [start, end) in stream seconds; the server checks the range."""
    return vigil_pb2.DeleteSegmentsRequest(stream_id=stream_id, time_range=vigil_pb2.TimeRange(start=start, end=end))
