"""Prices: where a market mid comes from, and the one function that turns a mid into what a
customer pays and receives.

``price`` is pure: from a pair, a side, which side is fixed, the amount, the customer's fee
terms, the mid and the time, it returns a ``Price`` breakdown (reference rate, the customer's
rate after FX markups, every fee line, both amounts and the rounding applied). Quote, requote,
approval, the market exchange, the portal, the console and the admin all call it (through
``otc.quoting``), so every figure the desk shows comes from the same arithmetic.

The rules (seed 004's model, the contract's "Pricing" section):

- Fixed, percentage and network fees are charged in the source currency and taken off the
  source amount. Fixed and network fees are stated in the pair's base asset (EUR); on a sell
  they are converted at the mid. Fee amounts round **up** (the desk never under-collects).
- FX markups (platform, client, off-hours penalty) are basis points off the reference rate;
  the rate rounds **down** to 6 decimals.
- ``destination = round_down((source - fees) * rate)``. A fixed destination is delivered
  exactly; the source it needs is the smallest amount whose forward price delivers at least
  that destination (rounded up by construction).

Price feeds: ``simulated`` moves smoothly with the clock (a pure function of time and symbol,
so every process agrees without shared state), ``static:<rate>`` or
``static:USDCEUR=1.08,USDTEUR=1.07`` pins mids, ``kraken`` reads Kraken's public ticker and
shares a 2 s snapshot through the cache. A manual override (``price_override``) pins a pair's
mid for every process through the shared cache.
"""

import json
import math
import time
import zlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import httpx
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from accounts import money
from accounts.errors import ProviderUnavailable, error

from .models import FixedSide, Side

# --- price feeds ------------------------------------------------------------------------------


class PriceFeed(Protocol):
    def mid_rate(self, symbol: str) -> Decimal:
        """Units of the pair's quote asset per base unit (USDC per EUR) at mid market for the
        feed's ``symbol``. Raises ``ProviderUnavailable``."""
        ...


class StaticFeed:
    def __init__(self, rates: dict[str, Decimal], default: Decimal | None = None) -> None:
        if any(rate <= 0 for rate in [*rates.values(), *([] if default is None else [default])]):
            raise ImproperlyConfigured("OTC_PRICE_FEED static rates must be positive.")
        self.rates = rates
        self.default = default

    @classmethod
    def parse(cls, spec: str) -> "StaticFeed":
        """``1.08`` (every symbol) or ``USDCEUR=1.08,USDTEUR=1.07``."""
        try:
            if "=" not in spec:
                return cls({}, Decimal(spec))
            rates = {}
            for part in spec.split(","):
                symbol, _, rate = part.partition("=")
                rates[symbol.strip().upper()] = Decimal(rate.strip())
            return cls(rates)
        except ArithmeticError as exc:
            raise ImproperlyConfigured(f"OTC_PRICE_FEED=static:{spec!r} is not a rate.") from exc

    def mid_rate(self, symbol: str) -> Decimal:
        rate = self.rates.get(symbol.upper(), self.default)
        if rate is None:
            raise ProviderUnavailable(f"The static feed has no price for {symbol}.")
        return rate


class SimulatedFeed:
    """Around 1.0850 quote per base, drifting ±0.6% over minutes with faster ripples; every
    symbol has its own phase so two stablecoins do not move in lockstep."""

    BASE = 1.085

    def __init__(self, clock=time.time) -> None:
        self.clock = clock

    def mid_rate(self, symbol: str) -> Decimal:
        phase = 0.0 if symbol == "USDCEUR" else (zlib.crc32(symbol.encode()) % 997) / 997 * 900
        t = self.clock() + phase
        drift = 0.004 * math.sin(2 * math.pi * t / 900) + 0.0015 * math.sin(2 * math.pi * t / 97)
        ripple = 0.0004 * math.sin(2 * math.pi * t / 13)
        return money.quantize_rate(Decimal(repr(self.BASE * (1 + drift + ripple))))


class KrakenFeed:
    """Kraken's public ticker for the symbol (e.g. USDCEUR, EUR per USDC): the mid of the best
    bid and ask, inverted to USDC per EUR. Every web process and worker shares one snapshot
    through the cache for ``snapshot_seconds``; past that the exchange is asked again, and when
    it cannot answer (or answers nonsense) the feed is unavailable: the desk never prices or
    approves on a stale market."""

    CACHE_KEY = "otc:price-feed:kraken:{symbol}"

    def __init__(self, base_url: str, *, snapshot_seconds: float = 2, timeout: float = 3) -> None:
        self.base_url = base_url.rstrip("/")
        self.snapshot_seconds = snapshot_seconds
        self.timeout = timeout

    def mid_rate(self, symbol: str) -> Decimal:
        key = self.CACHE_KEY.format(symbol=symbol)
        cached = cache.get(key)
        if cached is not None:
            return Decimal(cached)
        rate = self._fetch(symbol)
        cache.set(key, str(rate), self.snapshot_seconds)
        return rate

    def _fetch(self, symbol: str) -> Decimal:
        transport = httpx.HTTPTransport(retries=2)  # connection errors only
        try:
            with httpx.Client(transport=transport, timeout=self.timeout) as client:
                response = client.get(f"{self.base_url}/0/public/Ticker", params={"pair": symbol})
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
        return StaticFeed.parse(spec.removeprefix("static:"))
    raise ImproperlyConfigured(f"Unknown OTC_PRICE_FEED {spec!r}.")


# --- manual price override (shared by every process through the cache) ---------------------

OVERRIDE_KEY = "otc:price-override:{pair}"


@dataclass(frozen=True)
class PriceOverride:
    pair: str
    rate: Decimal
    set_by: str
    set_at: datetime
    expires_at: datetime | None


def price_override_get(pair_code: str) -> PriceOverride | None:
    raw = cache.get(OVERRIDE_KEY.format(pair=pair_code))
    if not raw:
        return None
    data = json.loads(raw)
    expires_at = datetime.fromisoformat(data["expiresAt"]) if data["expiresAt"] else None
    if expires_at is not None and expires_at <= datetime.now(UTC):
        return None
    return PriceOverride(
        pair=pair_code,
        rate=Decimal(data["rate"]),
        set_by=data["setBy"],
        set_at=datetime.fromisoformat(data["setAt"]),
        expires_at=expires_at,
    )


def price_override_store(override: PriceOverride | None, pair_code: str) -> None:
    key = OVERRIDE_KEY.format(pair=pair_code)
    if override is None:
        cache.delete(key)
        return
    timeout = None
    if override.expires_at is not None:
        timeout = max(1, math.ceil((override.expires_at - datetime.now(UTC)).total_seconds()))
    payload = {
        "rate": str(override.rate),
        "setBy": override.set_by,
        "setAt": override.set_at.isoformat(),
        "expiresAt": override.expires_at.isoformat() if override.expires_at else None,
    }
    cache.set(key, json.dumps(payload), timeout)


def live_mid_rate(pair) -> Decimal:
    """The pair's mid now: the operator's override when one is set, else the feed's."""
    override = price_override_get(pair.code)
    if override is not None:
        return override.rate
    try:
        return price_feed().mid_rate(pair.feed_symbol)
    except ProviderUnavailable:
        raise
    except Exception as exc:  # a feed that misbehaves is an unavailable feed
        raise ProviderUnavailable("The market price feed is unavailable.") from exc


# --- off-hours and holidays -------------------------------------------------------------------

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OffHoursCalendar:
    """Weekly off-hours windows in a time zone, plus a financial holiday calendar (the
    ``holidays`` package's; TARGET2 is ``XECB``) whose days are off-hours all day."""

    timezone: str
    windows: tuple[tuple[int, int], ...]  # (start, end) minutes from Monday 00:00, end > start
    window_specs: tuple[str, ...] = ()
    holiday_calendar: str | None = "XECB"

    @classmethod
    def parse(cls, timezone: str, specs: str, holiday_calendar: str | None) -> "OffHoursCalendar":
        """``specs``: comma-separated ``fri 20:00-mon 08:00`` windows (a window may wrap past
        Sunday midnight)."""
        windows = []
        names = []
        for spec in filter(None, (part.strip() for part in specs.split(","))):
            try:
                start, end = (cls._minute(half) for half in spec.split("-"))
            except (ValueError, IndexError) as exc:
                raise ImproperlyConfigured(f"Bad off-hours window {spec!r}.") from exc
            if end <= start:
                end += 7 * 24 * 60
            windows.append((start, end))
            names.append(spec)
        try:
            ZoneInfo(timezone)
        except (ValueError, ZoneInfoNotFoundError) as exc:
            raise ImproperlyConfigured(f"Unknown off-hours time zone {timezone!r}.") from exc
        return cls(timezone, tuple(windows), tuple(names), holiday_calendar or None)

    @staticmethod
    def _minute(text: str) -> int:
        day, clock = text.strip().lower().split()
        hours, minutes = (int(part) for part in clock.split(":"))
        if not (0 <= hours < 24 and 0 <= minutes < 60):
            raise ValueError(f"{clock} is not a time of day")
        return DAYS.index(day) * 1440 + hours * 60 + minutes

    def holidays_between(self, start: date, end: date) -> list[tuple[date, str]]:
        if not self.holiday_calendar:
            return []
        calendar = _holiday_calendar(self.holiday_calendar, tuple(range(start.year, end.year + 1)))
        return sorted((day, name) for day, name in calendar.items() if start <= day <= end)

    def is_off_hours(self, at: datetime) -> bool:
        local = at.astimezone(ZoneInfo(self.timezone))
        if self.holiday_calendar and local.date() in _holiday_calendar(
            self.holiday_calendar, (local.year,)
        ):
            return True
        minute = local.weekday() * 1440 + local.hour * 60 + local.minute
        week = 7 * 1440
        return any(
            start <= minute < end or start <= minute + week < end for start, end in self.windows
        )


@lru_cache(maxsize=32)
def _holiday_calendar(name: str, years: tuple[int, ...]):
    # Pure data for the given years; cached per process (it never changes).
    return holidays.financial_holidays(name, years=years)


def desk_calendar() -> OffHoursCalendar:
    return OffHoursCalendar.parse(
        settings.OTC_OFF_HOURS_TIMEZONE,
        settings.OTC_OFF_HOURS_WINDOWS,
        settings.OTC_HOLIDAY_CALENDAR,
    )


# --- the pricing function -----------------------------------------------------------------------


@dataclass(frozen=True)
class FeeTerms:
    """The fee schedule that applies to one customer on one pair and network (seed 004): the
    platform's and the client's fixed fees (in the pair's base asset), percentage fees and FX
    markups (bps), the network fee (base asset) and the off-hours penalty (bps)."""

    platform_fixed_fee: Decimal = Decimal(0)
    platform_percentage_bps: int = 0
    platform_fx_markup_bps: int = 0
    client_fixed_fee: Decimal = Decimal(0)
    client_percentage_bps: int = 0
    client_fx_markup_bps: int = 0
    network_fee: Decimal = Decimal(0)
    off_hours_penalty_bps: int = 0


@dataclass(frozen=True)
class FeeLine:
    type: str
    description: str
    amount: Decimal | None = None  # in the source currency
    bps: int | None = None  # off the rate


@dataclass(frozen=True)
class Price:
    side: str
    fixed_side: str
    source_currency: str
    destination_currency: str
    mid: Decimal
    reference_rate: Decimal
    rate: Decimal
    fx_markup_bps: int
    fee_lines: tuple[FeeLine, ...]
    fee_total: Decimal
    source_amount: Decimal
    destination_amount: Decimal
    off_hours: bool
    rounding: dict = field(default_factory=dict)


def side_currencies(pair, side: str) -> tuple[str, str]:
    """(source, destination) asset codes: a buy converts base into quote, a sell back."""
    base, quote = pair.base_asset_id, pair.quote_asset_id
    return (base, quote) if side == Side.BUY else (quote, base)


def reference_rate_raw(side: str, mid: Decimal) -> Decimal:
    """The mid as destination units per source unit (unrounded)."""
    with localcontext() as ctx:
        ctx.prec = 34
        return mid if side == Side.BUY else 1 / mid


def customer_rate(side: str, mid: Decimal, fx_markup_bps: int) -> Decimal:
    """The reference rate less every FX markup, rounded down to 6 decimals."""
    factor = 1 - Decimal(fx_markup_bps) / money.BPS
    return money.quantize_rate(reference_rate_raw(side, mid) * factor)


def forward_destination(
    source_amount: Decimal, fee_total: Decimal, rate: Decimal, destination_currency: str
) -> Decimal:
    """What ``source_amount`` delivers after ``fee_total`` at ``rate``, rounded down."""
    return money.quantize_down((source_amount - fee_total) * rate, destination_currency)


def _fee_amount_lines(
    terms: FeeTerms, side: str, mid: Decimal, source_currency: str
) -> tuple[list[FeeLine], Decimal]:
    """The fixed and network fee lines in the source currency (their sum too)."""

    def in_source(base_amount: Decimal) -> Decimal:
        converted = base_amount if side == Side.BUY else base_amount * mid
        return money.quantize_up(converted, source_currency)

    lines = [
        FeeLine("platform_fixed", "Platform fee", in_source(terms.platform_fixed_fee)),
        FeeLine("client_fixed", "Your account's fixed fee", in_source(terms.client_fixed_fee)),
        FeeLine("network", "Network fee", in_source(terms.network_fee)),
    ]
    lines = [line for line in lines if line.amount]
    return lines, sum((line.amount for line in lines), Decimal(0))


def _percentage_lines(terms: FeeTerms, source_amount: Decimal, source_currency: str):
    lines = []
    for kind, description, bps in (
        ("platform_percentage", "Platform fee", terms.platform_percentage_bps),
        ("client_percentage", "Your account's percentage fee", terms.client_percentage_bps),
    ):
        if bps:
            amount = money.quantize_up(source_amount * Decimal(bps) / money.BPS, source_currency)
            lines.append(FeeLine(kind, f"{description} ({Decimal(bps) / 100}%)", amount, bps))
    return lines


def _markup_lines(terms: FeeTerms, off_hours: bool) -> tuple[list[FeeLine], int]:
    lines = [
        FeeLine("fx_markup", "Desk FX markup", bps=terms.platform_fx_markup_bps),
        FeeLine("client_fx_markup", "Your account's FX markup", bps=terms.client_fx_markup_bps),
    ]
    if off_hours:
        lines.append(
            FeeLine("off_hours", "Off-hours / holiday markup", bps=terms.off_hours_penalty_bps)
        )
    lines = [line for line in lines if line.bps]
    return lines, sum(line.bps for line in lines)


def price(
    *,
    pair,
    side: str,
    fixed_side: str,
    amount: Decimal,
    terms: FeeTerms,
    mid: Decimal,
    at: datetime,
    calendar: OffHoursCalendar | None = None,
) -> Price:
    """Price ``amount`` (of the source, or of the destination when ``fixed_side`` says so).

    Raises ``FEES_EXCEED_AMOUNT`` (409) when a fixed source does not cover its fees,
    ``INVALID_CALCULATED_AMOUNT`` (400) when a fixed destination is too small for the fees (or a
    fixed source too small to deliver anything)."""
    source_currency, destination_currency = side_currencies(pair, side)
    calendar = calendar or desk_calendar()
    off_hours = bool(terms.off_hours_penalty_bps) and calendar.is_off_hours(at)
    markup_lines, markup_bps = _markup_lines(terms, off_hours)
    if markup_bps >= money.BPS:
        raise ImproperlyConfigured("FX markups add up to 100% or more.")
    rate = customer_rate(side, mid, markup_bps)
    fixed_lines, fixed_total = _fee_amount_lines(terms, side, mid, source_currency)

    def fees_for(source_amount: Decimal) -> list[FeeLine]:
        return fixed_lines + _percentage_lines(terms, source_amount, source_currency)

    def delivers(source_amount: Decimal) -> Decimal:
        total = sum((line.amount for line in fees_for(source_amount)), Decimal(0))
        if total >= source_amount:
            return Decimal(-1)
        return forward_destination(source_amount, total, rate, destination_currency)

    if fixed_side == FixedSide.SOURCE:
        source_amount = amount
        lines = fees_for(source_amount)
        fee_total = sum((line.amount for line in lines), Decimal(0))
        if fee_total >= source_amount:
            raise error(
                "FEES_EXCEED_AMOUNT",
                409,
                "The fees are as large as the amount; send a larger amount.",
                amount=money.format_amount(source_amount, source_currency),
                totalFees=money.format_amount(fee_total, source_currency),
                currency=source_currency,
            )
        destination_amount = forward_destination(
            source_amount, fee_total, rate, destination_currency
        )
        if destination_amount <= 0:
            raise error(
                "INVALID_CALCULATED_AMOUNT",
                400,
                "The amount is too small to deliver anything at this rate.",
                requestedAmount=money.format_amount(source_amount, source_currency),
            )
        rounding = {"source": "exact", "destination": "down"}
    else:
        destination_amount = amount
        unit = money.minor_unit(source_currency)
        percentage = Decimal(terms.platform_percentage_bps + terms.client_percentage_bps)
        with localcontext() as ctx:
            ctx.prec = 40
            estimate = (amount / rate + fixed_total) / (1 - percentage / money.BPS)
        source_amount = money.quantize_up(estimate, source_currency)
        # The estimate is within a unit or two of the answer; walk to the smallest source whose
        # forward price delivers the destination (forward pricing is monotonic in the source).
        while delivers(source_amount) < destination_amount:
            source_amount += unit
        while source_amount > unit and delivers(source_amount - unit) >= destination_amount:
            source_amount -= unit
        lines = fees_for(source_amount)
        fee_total = sum((line.amount for line in lines), Decimal(0))
        if fee_total >= source_amount - fee_total:
            raise error(
                "INVALID_CALCULATED_AMOUNT",
                400,
                "The destination amount is too small: the fees would cost more than the "
                "amount exchanged.",
                requestedAmount=money.format_amount(destination_amount, destination_currency),
                calculatedSourceAmount=money.format_amount(source_amount, source_currency),
                totalFees=money.format_amount(fee_total, source_currency),
            )
        rounding = {"source": "up", "destination": "exact"}
    return Price(
        side=side,
        fixed_side=fixed_side,
        source_currency=source_currency,
        destination_currency=destination_currency,
        mid=mid,
        reference_rate=money.quantize_rate(reference_rate_raw(side, mid)),
        rate=rate,
        fx_markup_bps=markup_bps,
        fee_lines=tuple(lines + markup_lines),
        fee_total=fee_total,
        source_amount=source_amount,
        destination_amount=destination_amount,
        off_hours=off_hours,
        rounding=rounding,
    )


def execution_price(
    *,
    side: str,
    mid: Decimal,
    fx_markup_bps: int,
    source_amount: Decimal,
    fee_total: Decimal,
    destination_currency: str,
    fixed_destination: Decimal | None = None,
) -> tuple[Decimal, Decimal, Decimal]:
    """At execution the source and its fees are those confirmed and the markups those quoted;
    only the market moved. Returns (reference rate, rate, destination amount). With a fixed
    destination the customer receives exactly that amount while the market still covers it
    (the source was rounded up, so its forward price delivers a little more), else what the
    source delivers."""
    rate = customer_rate(side, mid, fx_markup_bps)
    reference = money.quantize_rate(reference_rate_raw(side, mid))
    destination = forward_destination(source_amount, fee_total, rate, destination_currency)
    if fixed_destination is not None:
        destination = min(destination, fixed_destination)
    return reference, rate, destination


def move_bps(old_rate: Decimal, new_rate: Decimal) -> Decimal:
    """Relative move from ``old_rate`` to ``new_rate`` in basis points (signed)."""
    return ((new_rate - old_rate) / old_rate * money.BPS).quantize(Decimal("0.1"))


def next_off_hours_days(calendar: OffHoursCalendar, *, days: int = 90) -> list[tuple[date, str]]:
    today = datetime.now(ZoneInfo(calendar.timezone)).date()
    return calendar.holidays_between(today, today + timedelta(days=days))
