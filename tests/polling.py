"""Waiting in tests for something the server does in the background."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], timeout: float = 60.0, every: float = 0.05) -> bool:
    """Whether `check()` came true within `timeout` seconds (asked every `every` seconds, and once more at the end)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return check()
