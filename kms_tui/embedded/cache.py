"""Key-metadata cache for describe lookups, with the counters /kms/status reports."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from kms_tui.embedded import timefmt

__all__ = ["CacheStats", "MetadataCache"]

ValueT = TypeVar("ValueT")


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Process-lifetime counters, as RustFS's ``cache_stats`` object."""

    hit_count: int
    miss_count: int
    entry_count: int
    eviction_count: int

    def to_json(self) -> dict[str, int]:
        """The wire form of ``cache_stats``."""
        return {
            "hit_count": self.hit_count,
            "miss_count": self.miss_count,
            "entry_count": self.entry_count,
            "eviction_count": self.eviction_count,
        }


class MetadataCache(Generic[ValueT]):
    """LRU + TTL cache; counters survive ``clear()`` and reconfiguration, as in RustFS."""

    def __init__(
        self,
        max_entries: int = 1000,
        ttl_seconds: int = 300,
        *,
        clock: Callable[[], datetime] = timefmt.utc_now,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._max_entries = max(1, max_entries)
        self._ttl_seconds = max(1, ttl_seconds)
        self._entries: OrderedDict[str, tuple[datetime, ValueT]] = OrderedDict()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    def configure(self, max_entries: int, ttl_seconds: int) -> None:
        """Apply new limits (reconfigure); extra entries are evicted oldest first."""
        with self._lock:
            self._max_entries = max(1, max_entries)
            self._ttl_seconds = max(1, ttl_seconds)
            self._trim_locked()

    def get(self, key: str) -> ValueT | None:
        """The cached value (a hit) or None (a miss); expired entries count as evictions."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                stored_at, value = entry
                age = (self._clock() - stored_at).total_seconds()
                if age < self._ttl_seconds:
                    self._entries.move_to_end(key)
                    self._hits += 1
                    return value
                del self._entries[key]
                self._evictions += 1
            self._misses += 1
            return None

    def put(self, key: str, value: ValueT) -> None:
        """Store a value, evicting the least recently used entry past the limit."""
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            self._trim_locked()

    def invalidate(self, key: str) -> None:
        """Forget one key (every change to a key calls this)."""
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        """Drop every entry; the counters are kept."""
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._entries), self._evictions)

    def _trim_locked(self) -> None:
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
            self._evictions += 1
