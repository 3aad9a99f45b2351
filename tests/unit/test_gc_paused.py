"""The listing's parse holds the cyclic collector and always gives it back."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kms_tui.api.admin import KmsAdminClient, gc_paused
from kms_tui.api.errors import KmsResponseError
from kms_tui.api.models import KeyPage


@pytest.fixture(autouse=True)
def _collector_restored() -> Iterator[None]:
    was_enabled = gc.isenabled()
    yield
    if was_enabled:
        gc.enable()
    else:
        gc.disable()


def test_held_inside_and_given_back_after() -> None:
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_given_back_when_the_parse_raises() -> None:
    gc.enable()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("unreadable page")
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off() -> None:
    gc.disable()
    with gc_paused():
        assert not gc.isenabled()
    assert not gc.isenabled()


def _client(handler: httpx.MockTransport) -> KmsAdminClient:
    return KmsAdminClient(
        "http://kms.test", "access", "secret-secret", retries=0, transport=handler
    )


async def test_a_listing_page_is_parsed_with_the_collector_held(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.enable()
    during_request: list[bool] = []
    during_parse: list[bool] = []
    body = (
        b'{"keys": [], "truncated": false, "next_marker": null, "unreadable_key_ids": [],'
        b' "success": true, "message": "ok"}'
    )
    parse = KeyPage.from_wire

    def watched_parse(data: dict[str, Any]) -> KeyPage:
        during_parse.append(gc.isenabled())
        return parse(data)

    monkeypatch.setattr(KeyPage, "from_wire", watched_parse)

    def answer(request: httpx.Request) -> httpx.Response:
        during_request.append(gc.isenabled())
        return httpx.Response(200, content=body)

    async with _client(httpx.MockTransport(answer)) as client:
        page = await client.list_keys(limit=10)
    assert not page.truncated
    assert during_request == [True]  # only the parse is held, not the wait for the answer
    assert during_parse == [False]
    assert gc.isenabled()


async def test_collector_given_back_after_a_garbled_page() -> None:
    gc.enable()

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"keys": "not a list", "truncated": false}')

    async with _client(httpx.MockTransport(answer)) as client:
        with pytest.raises(KmsResponseError):
            await client.list_keys(limit=10)
    assert gc.isenabled()
