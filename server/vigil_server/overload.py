"""Overload: how far behind real time a live stream is, and which of its frames are dropped to catch up.

Every queue on the ingest path is bounded (ingest.py, lanes.py, live_speech.py, decode.py). Where
losing data is not allowed (chunks once acknowledged, speech audio, stored segments) a full queue
makes its producer wait, and the wait reaches the client as gRPC flow control. Sampled frames are
the one thing dropped, by this policy, before they are encoded:

- Lag. The stream's *live edge* advances with the wall clock from its first chunk. A piece of media
  (a sampled frame, a block of audio) handled t s after the first chunk at media time m is (t - m)
  behind; its *lag* is how much more than the least (t - m) the stream has had, so the start-up
  delay (the decoder probes about 2 s of a container before anything comes out) is not lag.
- A frame's expected lag is its lag as it comes out of the decoder plus the stream's encoding delay
  (decoder to stored, for its last stored frame). A frame expected to lag more than `max_lag_s`
  (`--max-frame-lag`, default 3 s) is dropped: not encoded, stored or checked; `frames_dropped`
  counts it, and the frames after it keep their times.
- Only when the server is the cause, for a live source. Frames are dropped only from a stream
  whose producer paces itself (the server has waited PACED_GAPS times for one of its chunks),
  that has not run more than UPLOAD_LEAD_S ahead of its wall clock (then it is an upload, sent
  faster than real time: it gets backpressure, never drops), and that the server has been holding
  up (within BUSY_FOR_S, the stream waited at least WAIT_S for its decoder input or for room to
  encode a frame, or its encoding delay is over half of max_lag_s). A producer that itself sends
  slower than real time falls behind too, but dropping would not help it: its lag is reported.
- Kept even when late: the stream's first frame, and one frame every `keep_every_s` (5 s) of
  media when none of the stream's frames is still being encoded, so that the stream stays visible
  (searchable, moderated) however far behind it is, without these frames piling up in turn.
- The producer may say which it is (StreamConfig.pacing): a declared upload never has frames
  dropped, a declared live stream is treated as live from its first chunk; unspecified, the
  server tells by the timing above. A server slower than real time cannot tell a bulk upload from
  a live stream by timing alone (flow control paces both), so clients that send recordings say so.
- `max_lag_s <= 0` turns dropping off: every frame is kept and a slow server slows its producers.

Speech audio is never dropped. Its lag (the newest audio the speech detector has scanned, against
the same live edge) is reported beside the frame lag; when it grows, the producer is slowed down.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

# Media that has run this far ahead of the wall clock was sent faster than real time: an upload.
UPLOAD_LEAD_S = 2.0
# A wait at least this long counts: for a producer's chunk (pacing), for the decoder or encoder (holding up).
WAIT_S = 0.02
# Waits for the producer's chunks (after its first) that mark it as a live source, pacing itself.
PACED_GAPS = 3
# The server is holding a stream up for this long after the stream last waited on it.
BUSY_FOR_S = 10.0
# A late frame is kept anyway when none was kept in the last this many seconds of media.
KEEP_EVERY_S = 5.0
# A StreamProgress event is sent each time the stream's media advances by this much.
PROGRESS_EVERY_S = 1.0


class LiveEdge:
    """One stream's real-time reference: `start` at its first chunk, then `lag` of each piece of media.

    The ingest tasks also report their waits: `chunk_waited` (for the producer), `held_up` (for the
    decoder's input or for room to encode)."""

    def __init__(self, now: Callable[[], float] = time.monotonic, declared: bool | None = None):
        self._now = now
        self._declared = declared  # the producer said it is live (True) or an upload (False); None: tell by timing
        self._began: float | None = None
        self._best: float | None = None  # the smallest (wall - media) seen
        self._gaps = 0  # waits for the producer's chunks
        self._held_up_at = -math.inf  # when the server last held the stream up
        self.ahead = False  # the media ran more than UPLOAD_LEAD_S ahead of the wall clock (once is enough)

    def start(self) -> None:
        """The stream's first chunk arrived (later calls do nothing)."""
        if self._began is None:
            self._began = self._now()

    def lag(self, media_s: float) -> float:
        """Seconds that media at `media_s` (from the start of the stream), handled now, lags the live edge."""
        self.start()
        assert self._began is not None
        behind = self._now() - self._began - media_s
        if self._best is None or behind < self._best:
            self._best = behind
            self.ahead = self.ahead or behind < -UPLOAD_LEAD_S
        return behind - self._best

    def chunk_waited(self, seconds: float) -> None:
        """The server waited this long for the producer's next chunk."""
        if seconds >= WAIT_S:
            self._gaps += 1

    def held_up(self, seconds: float) -> None:
        """The stream waited this long for the server (its decoder's input, room to encode a frame)."""
        if seconds >= WAIT_S:
            self._held_up_at = self._now()

    @property
    def paced(self) -> bool:
        """The producer sends no faster than the server takes it (a live source), and not ahead of real time."""
        if self._declared is not None:
            return self._declared
        return self._gaps >= PACED_GAPS and not self.ahead

    @property
    def held_up_lately(self) -> bool:
        return self._now() - self._held_up_at < BUSY_FOR_S


class FramePacer:
    """Decides, frame by frame in order, whether a sampled frame is encoded or dropped (see the module doc).

    `keep` each frame as it comes out of the decoder; `stored` each kept frame once it is stored."""

    def __init__(self, edge: LiveEdge, max_lag_s: float, keep_every_s: float = KEEP_EVERY_S):
        self._edge = edge
        self._max_lag = max_lag_s
        self._keep_every = keep_every_s
        self._kept_at: float | None = None  # media time of the last frame kept
        self._decoded_lag: dict[float, float] = {}  # lag at the decoder of frames kept and not stored yet
        self.delay = 0.0  # encoding delay: decoder to stored, of the last frame stored
        self.dropped = 0
        self.lag = 0.0  # of the last frame stored, when it was stored
        self.max_lag = 0.0

    def keep(self, media_s: float) -> bool:
        """Whether the frame at `media_s` (just decoded) should be encoded; counts it when it is dropped."""
        lag = self._edge.lag(media_s)
        if self._late(lag + self.delay) and not self._visible_again(media_s):
            self.dropped += 1
            return False
        self._kept_at = media_s
        self._decoded_lag[media_s] = lag
        return True

    def stored(self, media_s: float) -> None:
        """The kept frame at `media_s` is stored (searchable)."""
        self.lag = self._edge.lag(media_s)
        self.max_lag = max(self.max_lag, self.lag)
        self.delay = max(0.0, self.lag - self._decoded_lag.pop(media_s, self.lag))

    def _visible_again(self, media_s: float) -> bool:
        """Keep a late frame anyway: the first, or none kept for `keep_every_s` of media and none being encoded."""
        if self._kept_at is None:
            return True
        return media_s - self._kept_at >= self._keep_every and not self._decoded_lag

    def _late(self, expected: float) -> bool:
        if self._max_lag <= 0 or expected <= self._max_lag or not self._edge.paced:
            return False
        return self._edge.held_up_lately or self.delay > self._max_lag / 2


class SpeechPace:
    """The lag of a stream's audio as the speech detector scans it."""

    def __init__(self, edge: LiveEdge):
        self._edge = edge
        self.lag = 0.0
        self.max_lag = 0.0

    def scanned(self, media_s: float) -> None:
        self.lag = self._edge.lag(media_s)
        self.max_lag = max(self.max_lag, self.lag)


class ProgressClock:
    """When to report progress: each time the media position passes the next PROGRESS_EVERY_S mark."""

    def __init__(self, every_s: float = PROGRESS_EVERY_S):
        self._every = every_s
        self._next = every_s

    def due(self, media_s: float) -> bool:
        if media_s < self._next:
            return False
        self._next = (media_s // self._every + 1) * self._every
        return True
