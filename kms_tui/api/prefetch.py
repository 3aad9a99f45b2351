"""Fetch the next page while the caller works on this one.

A listing is a chain of requests, each sent once the previous answer is parsed. A caller that
does work of its own with each page (the Keys screen turns it into rows and draws them; the
command line writes JSON lines) would otherwise leave the server idle meanwhile, and the two
costs would add up. :func:`prefetched` keeps ``depth`` pages in flight ahead of the caller, so
the server renders page n+1 (on its own core, or its own machine) while the caller handles
page n. Errors arrive in order, after the pages before them. Closing the iterator stops the
fetching: a consumer that can be cancelled holds it in ``contextlib.aclosing``, so that
cancelling the consumer closes it at once rather than when it is garbage-collected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_DONE = object()


async def prefetched(source: AsyncIterator[T], depth: int = 1) -> AsyncGenerator[T, None]:
    """Yield ``source``'s items while up to ``depth`` more are fetched in the background."""
    if depth < 1:
        raise ValueError("depth must be 1 or more")
    queue: asyncio.Queue[tuple[object, BaseException | None]] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put((item, None))
        except Exception as err:  # handed to the consumer, in order, after the pages before it
            await queue.put((_DONE, err))
            return
        await queue.put((_DONE, None))

    task = asyncio.create_task(pump())
    try:
        while True:
            item, error = await queue.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]  # every item but _DONE came from source
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        closer = getattr(source, "aclose", None)
        if closer is not None:
            await closer()
