"""Rate limits: requests per customer (the API) and per client address (the token endpoint).

Counted in the shared cache (Redis in production), so every web process enforces one limit,
with one atomic counter per caller and window, started with its expiry and counted in one
round trip (Redis ``SET NX EX`` and ``INCR`` in one ``MULTI``). DRF's own
``SimpleRateThrottle`` keeps a list of every request's timestamp instead, read, trimmed and
written back whole on each request: two processes doing that at once both pass on the same
count (the limit leaks), and the list's size (and the time to load and store it) grows with
the rate allowed."""

import time

from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from accounts.authentication import Caller, client_ip


def _count(key: str, timeout: int) -> int:
    """The counter ``key`` plus one (a new one lives ``timeout`` seconds): one atomic round
    trip on Redis (``config.redis_cache.RedisCache.count``), ``add`` and ``incr`` on the
    embedded demo's file cache."""
    if hasattr(cache, "count"):
        return cache.count(key, timeout)
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: this request starts it again
        cache.add(key, 1, timeout=timeout)
        return 1


class WindowRateThrottle(SimpleRateThrottle):
    """At most ``num_requests`` per fixed window of ``duration`` seconds (the calendar minute
    for "600/min"), counted atomically. The rate comes from DRF's ``DEFAULT_THROTTLE_RATES``
    by ``scope``, as for DRF's throttles."""

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        ident = self.get_cache_key(request, view)
        if ident is None:
            return True
        now = time.time()
        window = int(now // self.duration)
        key = f"{ident}:{window}"
        # The counter outlives its window a little, so a late request of the window still
        # finds it; the next window has a key of its own.
        count = _count(key, self.duration + 5)
        self._window_ends = (window + 1) * self.duration
        self._now = now
        return count <= self.num_requests

    def wait(self) -> float | None:
        remaining = self._window_ends - self._now
        return max(remaining, 0.001)

    def get_ident(self, request) -> str:
        """The client's address by the one rule the sign-in lockout uses too
        (``accounts.authentication.client_ip``: forwarding headers only from trusted
        proxies)."""
        return client_ip(request) or "unknown"


class CustomerRateThrottle(WindowRateThrottle):
    """Requests per customer (all their keys and users together)."""

    scope = "customer"

    def get_cache_key(self, request, view):
        caller = request.user
        if isinstance(caller, Caller):
            ident = f"customer:{caller.customer.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenRateThrottle(WindowRateThrottle):
    """Token requests per client address: slows password guessing."""

    scope = "token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
