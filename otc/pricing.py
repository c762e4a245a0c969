"""The price feed (live EUR→USDC mid) and how the desk turns a mid into a customer's rate.

``simulated`` is a market that moves smoothly with time. It is a pure function of the clock,
so every web process and worker sees the same price without sharing any state.
``static:<rate>`` pins the mid (tests, demos). ``kraken`` reads a real exchange (Kraken's
public USDC/EUR ticker) and shares one short-lived snapshot between processes in the cache
(Redis in production).
"""

import math
import time
from decimal import Decimal
from typing import Protocol

import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from accounts import money
from accounts.errors import ProviderUnavailable

from .models import Side


class PriceFeed(Protocol):
    def mid_rate(self) -> Decimal:
        """USDC per EUR at mid market. Raises ``ProviderUnavailable``."""
        ...


class StaticFeed:
    def __init__(self, rate: Decimal) -> None:
        if rate <= 0:
            raise ImproperlyConfigured("OTC_PRICE_FEED static rate must be positive.")
        self.rate = rate

    def mid_rate(self) -> Decimal:
        return self.rate


class SimulatedFeed:
    """Around 1.0850 USDC/EUR, drifting ±0.6% over minutes with faster ripples."""

    BASE = 1.085

    def __init__(self, clock=time.time) -> None:
        self.clock = clock

    def mid_rate(self) -> Decimal:
        t = self.clock()
        drift = 0.004 * math.sin(2 * math.pi * t / 900) + 0.0015 * math.sin(2 * math.pi * t / 97)
        ripple = 0.0004 * math.sin(2 * math.pi * t / 13)
        return money.quantize_rate(Decimal(repr(self.BASE * (1 + drift + ripple))))


class KrakenFeed:
    """Kraken's public ticker for the USDC/EUR pair: the mid of the best bid and ask (EUR per
    USDC), inverted to USDC per EUR. Every web process and worker shares one snapshot through
    the cache for ``snapshot_seconds``; past that the exchange is asked again, and when it
    cannot answer (or answers nonsense) the feed is unavailable: the desk never prices or
    approves on a stale market."""

    CACHE_KEY = "otc:price-feed:kraken:mid"
    PAIR = "USDCEUR"

    def __init__(self, base_url: str, *, snapshot_seconds: float = 2, timeout: float = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.snapshot_seconds = snapshot_seconds
        self.timeout = timeout

    def mid_rate(self) -> Decimal:
        cached = cache.get(self.CACHE_KEY)
        if cached is not None:
            return Decimal(cached)
        rate = self._fetch()
        cache.set(self.CACHE_KEY, str(rate), self.snapshot_seconds)
        return rate

    def _fetch(self) -> Decimal:
        transport = httpx.HTTPTransport(retries=2)  # connection errors only
        try:
            with httpx.Client(transport=transport, timeout=self.timeout) as client:
                response = client.get(
                    f"{self.base_url}/0/public/Ticker", params={"pair": self.PAIR}
                )
                response.raise_for_status()
                body = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable("The exchange's price feed cannot be reached.") from exc
        try:
            if body.get("error"):
                raise ValueError(body["error"])
            (ticker,) = body["result"].values()
            ask, bid = Decimal(ticker["a"][0]), Decimal(ticker["b"][0])
            if not (0 < bid <= ask) or (ask - bid) / ask > Decimal("0.02"):
                raise ValueError(f"implausible book: bid {bid}, ask {ask}")
        except (
            AttributeError,
            KeyError,
            IndexError,
            TypeError,
            ValueError,
            ArithmeticError,
        ) as exc:
            raise ProviderUnavailable("The exchange's price feed answered nonsense.") from exc
        return money.quantize_rate(2 / (ask + bid))


def price_feed() -> PriceFeed:
    spec = settings.OTC_PRICE_FEED
    if spec == "simulated":
        return SimulatedFeed()
    if spec == "kraken":
        return KrakenFeed(settings.OTC_KRAKEN_API_URL)
    if spec.startswith("static:"):
        try:
            return StaticFeed(Decimal(spec.removeprefix("static:")))
        except ArithmeticError as exc:
            raise ImproperlyConfigured(f"OTC_PRICE_FEED={spec!r} is not a rate.") from exc
    raise ImproperlyConfigured(f"Unknown OTC_PRICE_FEED {spec!r}.")


def live_mid_rate() -> Decimal:
    try:
        return price_feed().mid_rate()
    except ProviderUnavailable:
        raise
    except Exception as exc:  # a feed that misbehaves is an unavailable feed
        raise ProviderUnavailable("The market price feed is unavailable.") from exc


def customer_rate(side: str, mid: Decimal, spread_bps: int) -> Decimal:
    """The rate the customer gets: destination units per source unit, the spread taken off
    the mid in the desk's favour, rounded down to 6 decimals."""
    factor = 1 - Decimal(spread_bps) / money.BPS
    base = mid if side == Side.BUY else 1 / mid
    return money.quantize_rate(base * factor)


def destination_amount(side: str, source_amount: Decimal, rate: Decimal) -> Decimal:
    currency = money.USDC if side == Side.BUY else money.EUR
    return money.quantize_down(source_amount * rate, currency)


def move_bps(old_rate: Decimal, new_rate: Decimal) -> Decimal:
    """Relative move from ``old_rate`` to ``new_rate`` in basis points (signed)."""
    return ((new_rate - old_rate) / old_rate * money.BPS).quantize(Decimal("0.1"))
