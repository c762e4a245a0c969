"""Hypothesis properties of ``pricing.price()``: the fee amount lines sum to the total, a
computed destination is rounded down and a computed source up, and the inverse is consistent
(a quote for destination D gives a source S whose forward price delivers at least D, while S
minus one minor unit would not). Pure: no database."""

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts import money
from accounts.errors import DomainError
from otc import pricing
from otc.models import Pair

PAIR = Pair(code="EUR/USDC", base_asset_id="EUR", quote_asset_id="USDC")
CALENDAR = pricing.OffHoursCalendar.parse("Europe/Berlin", "sat 00:00-mon 00:00", "XECB")
PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PRICE_ERRORS = {"FEES_EXCEED_AMOUNT", "INVALID_CALCULATED_AMOUNT"}


def decimals(low: str, high: str, places: int):
    return st.decimals(
        min_value=Decimal(low), max_value=Decimal(high), places=places, allow_nan=False
    )


terms_strategy = st.builds(
    pricing.FeeTerms,
    platform_fixed_fee=st.one_of(st.just(Decimal(0)), decimals("0", "50", 6)),
    platform_percentage_bps=st.integers(0, 300),
    platform_fx_markup_bps=st.integers(0, 300),
    client_fixed_fee=st.one_of(st.just(Decimal(0)), decimals("0", "20", 2)),
    client_percentage_bps=st.integers(0, 200),
    client_fx_markup_bps=st.integers(-100, 300),
    network_fee=st.one_of(st.just(Decimal(0)), decimals("0", "10", 2)),
    off_hours_penalty_bps=st.integers(0, 100),
)
mids = decimals("0.500000", "2.000000", 6)
sides = st.sampled_from(["buy", "sell"])
moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def amounts(draw, side: str, role: str):
    """An amount of the side's source or destination currency, from one minor unit up."""
    currency = pricing.side_currencies(PAIR, side)[0 if role == "source" else 1]
    places = money.PRECISION[currency]
    unit = money.minor_unit(currency)
    return draw(decimals(str(unit), "2000000", places))


def run(side, fixed_side, amount, terms, mid, at):
    return pricing.price(
        pair=PAIR,
        side=side,
        fixed_side=fixed_side,
        amount=amount,
        terms=terms,
        mid=mid,
        at=at,
        calendar=CALENDAR,
    )


def priced_or_none(*args):
    try:
        return run(*args)
    except DomainError as exc:
        assert exc.code in PRICE_ERRORS, exc.code
        return None


@PROPERTIES
@given(
    data=st.data(),
    side=sides,
    fixed_side=st.sampled_from(["source", "destination"]),
    terms=terms_strategy,
    mid=mids,
    at=moments,
)
def test_fee_amount_lines_sum_to_the_total_and_are_in_the_source_currency(
    data, side, fixed_side, terms, mid, at
):
    amount = data.draw(amounts(side, fixed_side))
    quoted = priced_or_none(side, fixed_side, amount, terms, mid, at)
    if quoted is None:
        return
    amount_lines = [line for line in quoted.fee_lines if line.amount is not None]
    assert sum((line.amount for line in amount_lines), Decimal(0)) == quoted.fee_total
    for line in amount_lines:
        assert line.amount > 0
        assert line.amount == money.quantize_up(line.amount, quoted.source_currency)
    markup_bps = sum(line.bps for line in quoted.fee_lines if line.amount is None)
    assert markup_bps == quoted.fx_markup_bps
    assert quoted.off_hours == (bool(terms.off_hours_penalty_bps) and CALENDAR.is_off_hours(at))
    assert quoted.fee_total < quoted.source_amount


@PROPERTIES
@given(data=st.data(), side=sides, terms=terms_strategy, mid=mids, at=moments)
def test_a_computed_destination_is_rounded_down(data, side, terms, mid, at):
    source = data.draw(amounts(side, "source"))
    quoted = priced_or_none(side, "source", source, terms, mid, at)
    if quoted is None:
        return
    exact = (source - quoted.fee_total) * quoted.rate
    unit = money.minor_unit(quoted.destination_currency)
    assert quoted.destination_amount <= exact < quoted.destination_amount + unit
    assert quoted.destination_amount == money.quantize_down(
        quoted.destination_amount, quoted.destination_currency
    )
    # The rate itself never exceeds the reference less the markups.
    raw = pricing.reference_rate_raw(side, mid) * (1 - Decimal(quoted.fx_markup_bps) / money.BPS)
    assert quoted.rate <= raw
    assert quoted.source_amount == source


@PROPERTIES
@given(data=st.data(), side=sides, terms=terms_strategy, mid=mids, at=moments)
def test_inverse_consistency_for_a_fixed_destination(data, side, terms, mid, at):
    destination = data.draw(amounts(side, "destination"))
    quoted = priced_or_none(side, "destination", destination, terms, mid, at)
    if quoted is None:
        return
    source = quoted.source_amount
    unit = money.minor_unit(quoted.source_currency)
    assert quoted.destination_amount == destination  # delivered exactly
    # The computed source is rounded up: it covers the destination at the exact rate.
    assert (source - quoted.fee_total) * quoted.rate >= destination

    forward = run(side, "source", source, terms, mid, at)
    assert forward.destination_amount >= destination
    assert forward.fee_total == quoted.fee_total
    assert forward.rate == quoted.rate

    one_less = priced_or_none(side, "source", source - unit, terms, mid, at)
    assert one_less is None or one_less.destination_amount < destination


@PROPERTIES
@given(data=st.data(), side=sides, terms=terms_strategy, mid=mids, at=moments)
def test_the_source_for_a_fixed_destination_is_the_smallest_that_delivers_it(
    data, side, terms, mid, at
):
    """Stronger than one unit less: no smaller source (a few units down, where the rounded-up
    percentage fees can step) delivers the destination either."""
    destination = data.draw(amounts(side, "destination"))
    quoted = priced_or_none(side, "destination", destination, terms, mid, at)
    if quoted is None:
        return
    unit = money.minor_unit(quoted.source_currency)
    for steps in range(1, 4):
        smaller = priced_or_none(
            side, "source", quoted.source_amount - steps * unit, terms, mid, at
        )
        assert smaller is None or smaller.destination_amount < destination, steps


@PROPERTIES
@given(data=st.data(), side=sides, terms=terms_strategy, mid=mids, at=moments)
def test_a_fixed_source_round_trips_through_its_own_destination(data, side, terms, mid, at):
    """Quote S, take what it delivers as a fixed destination: the source needed is at most S."""
    source = data.draw(amounts(side, "source"))
    forward = priced_or_none(side, "source", source, terms, mid, at)
    if forward is None:
        return
    back = priced_or_none(side, "destination", forward.destination_amount, terms, mid, at)
    if back is None:
        return
    assert back.source_amount <= source


@PROPERTIES
@given(data=st.data(), side=sides, terms=terms_strategy, mid=mids, at=moments)
def test_a_fixed_destination_executed_at_its_quoted_mid_delivers_exactly_that(
    data, side, terms, mid, at
):
    destination = data.draw(amounts(side, "destination"))
    quoted = priced_or_none(side, "destination", destination, terms, mid, at)
    if quoted is None:
        return
    reference, rate, delivered = pricing.execution_price(
        side=side,
        mid=mid,
        fx_markup_bps=quoted.fx_markup_bps,
        source_amount=quoted.source_amount,
        fee_total=quoted.fee_total,
        destination_currency=quoted.destination_currency,
        fixed_destination=destination,
    )
    assert (reference, rate, delivered) == (quoted.reference_rate, quoted.rate, destination)
