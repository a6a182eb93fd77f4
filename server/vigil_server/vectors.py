"""Small vector helpers shared by the query and moderation stages."""

from __future__ import annotations

import numpy as np

from vigil_server.errors import InvalidRequest


def normalise(vectors: list[np.ndarray]) -> np.ndarray:
    """The unit-length mean of some vectors (a query made of several parts)."""
    mean = np.mean(np.stack(vectors), axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < 1e-6:
        raise InvalidRequest("the query's parts cancel out; try a more specific query")
    result: np.ndarray = (mean / norm).astype(np.float32)
    return result
