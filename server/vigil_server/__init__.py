"""Vigil server: ingest live media over gRPC, index it in Milvus, answer searches."""

__version__ = "0.1.0"
