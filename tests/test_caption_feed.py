"""Caption feeds (captions.py): replay, what each watcher gets, slow watchers, and bounded memory."""

from __future__ import annotations

import asyncio

import pytest

from vigil_models import Concept
from vigil_server.captions import Caption, CaptionHub, CaptionKind, CaptionProgress, CaptionWatch, FeedState
from vigil_server.errors import Overloaded
from vigil_server.settings import CaptionSettings


def caption(n: int, final: bool = True, kind: CaptionKind = CaptionKind.SPEECH, caption_id: str = "") -> Caption:
    concepts = (Concept("red", 1.0),) if kind is CaptionKind.DESCRIPTION else ()
    return Caption(caption_id or f"c{n}", kind, final, float(n), n + 0.5, f"words {n}", concepts=concepts)


async def drain(watch: CaptionWatch) -> list[object]:
    """Everything queued for a watcher so far."""
    got: list[object] = []

    async def read() -> None:
        async for event in watch:
            got.append(event)

    task = asyncio.create_task(read())
    await asyncio.sleep(0.01)
    task.cancel()
    return got


def test_a_late_watcher_gets_state_replay_interim_and_progress_then_live() -> None:
    async def main() -> None:
        hub = CaptionHub(CaptionSettings(replay=3))
        feed = hub.feed("default", "s")
        feed.begin()
        for n in range(5):
            feed.publish(caption(n))
        feed.publish(caption(5, kind=CaptionKind.DESCRIPTION))
        feed.publish(caption(6, final=False))
        feed.progress(CaptionKind.SPEECH, 6.0)
        plain = hub.watch("default", "s", interims=True, descriptions=False, replay=10)
        finals_only = hub.watch("default", "s", interims=False, descriptions=True, replay=1)
        feed.publish(caption(6))  # the interim's final
        got = await drain(plain)
        assert got[0] == FeedState("s", live=True)
        replayed = got[1:4]
        assert [c.caption_id for c in replayed] == ["c2", "c3", "c4"]  # the last three; no description asked
        assert all(isinstance(c, Caption) and c.replayed for c in replayed)
        assert isinstance(got[4], Caption) and not got[4].final and got[4].replayed  # the utterance in progress
        assert got[5] == CaptionProgress(CaptionKind.SPEECH, 6.0)
        assert isinstance(got[6], Caption) and got[6].final and not got[6].replayed and got[6].sequence == 8
        other = await drain(finals_only)
        kinds = [(e.kind, e.final) for e in other if isinstance(e, Caption)]
        # Replay 1 of each (in the order they were made), then live.
        assert kinds == [(CaptionKind.SPEECH, True), (CaptionKind.DESCRIPTION, True), (CaptionKind.SPEECH, True)]
        assert feed.take_describe_request() and not feed.take_describe_request()

    asyncio.run(main())


def test_a_slow_watcher_loses_interims_quietly_and_is_ended_when_finals_pile_up() -> None:
    async def main() -> None:
        hub = CaptionHub(CaptionSettings(watch_queue=3))
        feed = hub.feed("default", "s")
        watch = hub.watch("default", "s", interims=True, descriptions=False, replay=0)  # its state fills 1 of 3
        for n in range(10):
            feed.publish(caption(n, final=False, caption_id="u"))
        assert len(await drain(watch)) == 3  # the state and two interims; the rest superseded, no error
        watch = hub.watch("default", "s", interims=True, descriptions=False, replay=0)
        for n in range(5):
            feed.publish(caption(n))
        with pytest.raises(Overloaded, match="captions waited"):
            async for _ in watch:
                pass

    asyncio.run(main())


def test_feeds_are_bounded_but_live_and_watched_ones_stay() -> None:
    async def main() -> None:
        hub = CaptionHub(CaptionSettings(feeds=2))
        live = hub.feed("default", "live")
        live.begin()
        watched = hub.watch("default", "watched", interims=True, descriptions=False, replay=0)
        old = hub.feed("default", "old")
        old.publish(caption(1))
        hub.feed("default", "new")
        assert hub.feed("default", "live") is live
        assert hub.feed("default", "old") is not old  # forgotten: the least recently used idle feed
        watched.close()
        hub.feed("default", "newer")  # now the unwatched feed may go too
        assert len(hub) <= 3

    asyncio.run(main())
