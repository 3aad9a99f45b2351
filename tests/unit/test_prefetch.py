"""prefetched(): the next page is fetched while the caller handles this one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from kms_tui.api.prefetch import prefetched


class _Source:
    """Pages 0..n-1; records when each fetch starts; can fail at one page; knows if closed."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.started: list[int] = []
        self.fetch_started = {n: asyncio.Event() for n in range(pages + 1)}
        self.closed = False

    async def iterate(self) -> AsyncIterator[int]:
        try:
            for number in range(self.pages):
                self.started.append(number)
                self.fetch_started[number].set()
                await asyncio.sleep(0)  # the request's round trip
                if number == self.fail_at:
                    raise RuntimeError(f"page {number} failed")
                yield number
        finally:
            self.closed = True


async def test_every_page_arrives_in_order() -> None:
    source = _Source(5)
    assert [page async for page in prefetched(source.iterate())] == [0, 1, 2, 3, 4]


async def test_the_next_page_is_fetched_while_the_caller_works_on_this_one() -> None:
    source = _Source(3)
    async for page in prefetched(source.iterate()):
        if page < 2:
            # Without prefetching the next fetch starts only after this body: this would time out.
            await asyncio.wait_for(source.fetch_started[page + 1].wait(), 5)


async def test_an_error_comes_after_the_pages_before_it() -> None:
    source = _Source(5, fail_at=2)
    seen: list[int] = []
    with pytest.raises(RuntimeError, match="page 2 failed"):
        async for page in prefetched(source.iterate()):
            seen.append(page)
    assert seen == [0, 1]


async def test_stopping_early_stops_the_fetching_and_closes_the_source() -> None:
    source = _Source(100)
    pages = prefetched(source.iterate(), depth=2)
    async for page in pages:
        if page == 1:
            break
    await pages.aclose()
    assert source.closed
    assert len(source.started) <= 1 + 1 + 2 + 1  # this page, the next, depth queued, one more


async def test_cancelling_the_consumer_stops_the_fetching() -> None:
    source = _Source(1000)
    release = asyncio.Event()

    async def consume() -> None:
        async with contextlib.aclosing(prefetched(source.iterate())) as pages:
            async for page in pages:
                if page == 0:
                    release.set()
                    await asyncio.sleep(3600)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(release.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert source.closed
    assert len(source.started) < 10


async def test_a_depth_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="depth"):
        async for _ in prefetched(_Source(1).iterate(), depth=0):
            pass
