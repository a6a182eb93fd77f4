"""Which frames of a stream run the people detector; the others take the last answer of their shot.

The detector costs about 250 CPU-ms a frame, six times the rest of a frame's models. People rarely
change within a shot, so it runs on each shot's first frame (shots.py) and again every
`refresh_s` within a long shot; every other frame reuses that answer. Frames are planned in order
(synchronously, before the frame's first await), so a frame's answer is always its own or an
earlier frame's of the same shot.
"""

from __future__ import annotations

import asyncio
import math

from vigil_models import PeopleFound

REFRESH_S = 5.0  # a long shot is looked at again this often (people walk in and out)


class PeopleSchedule:
    def __init__(self, refresh_s: float = REFRESH_S):
        self.refresh_s = refresh_s
        self.detected = 0  # frames the detector ran on
        self.reused = 0  # frames that took an earlier frame's answer
        self._last: asyncio.Future[PeopleFound | None] | None = None
        self._at = -math.inf

    def plan(self, t: float, shot_start: bool) -> tuple[bool, asyncio.Future[PeopleFound | None]]:
        """(whether this frame runs the detector, the answer it is to set or to wait for). Call in frame order."""
        if self._last is None or shot_start or t - self._at >= self.refresh_s:
            self._last = asyncio.get_running_loop().create_future()
            self._last.add_done_callback(lambda f: f.cancelled() or f.exception())  # failures surface on their frame
            self._at = t
            self.detected += 1
            return True, self._last
        self.reused += 1
        return False, self._last
