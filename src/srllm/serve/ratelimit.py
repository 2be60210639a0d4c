"""Per-key token buckets: `rate` requests per minute on average, bursts of up to `burst`."""

from __future__ import annotations

import math
import threading
import time


class RateLimiter:
    def __init__(self, per_minute: float, burst: int) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def acquire(self, key: str) -> float:
        """0 when allowed (and a token is spent), else the seconds to wait before the next request may pass."""
        return self._take(key, spend=True)

    def wait(self, key: str) -> float:
        """What `acquire` would answer, without spending a token: a gate consulted before costly work
        that is only charged when the work fails (failed API keys)."""
        return self._take(key, spend=False)

    def _take(self, key: str, *, spend: bool) -> float:
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 10_000:
                self._forget_full(now)
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1:
                if spend:
                    self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled: they hold no state worth keeping (bounds memory)."""
        for key, (tokens, last) in list(self._buckets.items()):
            if tokens + (now - last) * self.rate >= self.burst:
                del self._buckets[key]


def retry_after_header(wait: float) -> str:
    return str(max(1, math.ceil(wait)))
