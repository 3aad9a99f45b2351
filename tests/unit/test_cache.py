"""The key-metadata cache: counters, TTL, LRU eviction, invalidation, threads."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from kms_tui.embedded.cache import CacheStats, MetadataCache


def make(max_entries: int = 3, ttl: int = 60) -> tuple[MetadataCache[str], list[datetime]]:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    return MetadataCache(max_entries, ttl, clock=lambda: now[0]), now


def test_hits_and_misses_are_counted() -> None:
    cache, _ = make()
    assert cache.get("a") is None
    cache.put("a", "A")
    assert cache.get("a") == "A"
    assert cache.get("a") == "A"
    assert cache.stats() == CacheStats(hit_count=2, miss_count=1, entry_count=1, eviction_count=0)


def test_ttl_expiry_is_a_miss_and_an_eviction() -> None:
    cache, now = make(ttl=60)
    cache.put("a", "A")
    now[0] += timedelta(seconds=59)
    assert cache.get("a") == "A"
    now[0] += timedelta(seconds=1)
    assert cache.get("a") is None
    assert cache.stats() == CacheStats(1, 1, 0, 1)


def test_lru_eviction_at_capacity() -> None:
    cache, _ = make(max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    cache.get("a")  # b is now the least recently used
    cache.put("c", "C")
    assert cache.get("b") is None
    assert cache.get("a") == "A" and cache.get("c") == "C"
    assert cache.stats().eviction_count == 1
    cache.configure(max_entries=1, ttl_seconds=60)
    assert cache.stats().entry_count == 1 and cache.stats().eviction_count == 2


def test_clear_and_invalidate_keep_counters() -> None:
    cache, _ = make()
    cache.put("a", "A")
    cache.put("b", "B")
    cache.get("a")
    cache.invalidate("a")
    assert cache.get("a") is None
    cache.clear()
    assert cache.get("b") is None
    assert cache.stats() == CacheStats(1, 2, 0, 0)
    assert cache.stats().to_json() == {
        "hit_count": 1,
        "miss_count": 2,
        "entry_count": 0,
        "eviction_count": 0,
    }


def test_counters_are_exact_under_threads() -> None:
    cache, _ = make(max_entries=1000)
    cache.put("k", "v")

    def worker() -> None:
        for _ in range(500):
            cache.get("k")
            cache.get("absent")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cache.stats()
    assert (stats.hit_count, stats.miss_count) == (4000, 4000)
