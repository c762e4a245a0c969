"""``pricing.price()`` with figures worked out by hand: every fee line type, buy and sell,
either side fixed, the two errors, the rounding directions, and the off-hours calendar on a
pinned clock. Pure: no database."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.errors import DomainError
from otc import pricing
from otc.models import Pair

D = Decimal
PAIR = Pair(code="EUR/USDC", base_asset_id="EUR", quote_asset_id="USDC")
NO_OFF_HOURS = pricing.OffHoursCalendar.parse("Europe/Berlin", "", None)
WEDNESDAY_NOON = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)  # a working day, inside no window

# Every fee at once: platform 1.50 EUR + 10 bps, client 0.75 EUR + 5 bps, network 2.00 EUR,
# platform FX markup 50 bps, client FX markup 10 bps.
ALL_FEES = pricing.FeeTerms(
    platform_fixed_fee=D("1.50"),
    platform_percentage_bps=10,
    platform_fx_markup_bps=50,
    client_fixed_fee=D("0.75"),
    client_percentage_bps=5,
    client_fx_markup_bps=10,
    network_fee=D("2.00"),
)


def price(side, fixed_side, amount, terms=ALL_FEES, mid="1.08", at=WEDNESDAY_NOON, calendar=None):
    return pricing.price(
        pair=PAIR,
        side=side,
        fixed_side=fixed_side,
        amount=D(amount),
        terms=terms,
        mid=D(mid),
        at=at,
        calendar=calendar or NO_OFF_HOURS,
    )


def lines(quoted) -> list[tuple]:
    return [(line.type, line.amount, line.bps) for line in quoted.fee_lines]


# --- buy ------------------------------------------------------------------------------------


def test_buy_fixed_source_every_fee_line():
    quoted = price("buy", "source", "999.99")
    # Fixed and network fees in EUR as stated; percentages off 999.99 rounded up:
    # 0.99999 -> 1.00 and 0.499995 -> 0.50. Total 1.50 + 0.75 + 2.00 + 1.00 + 0.50 = 5.75.
    assert lines(quoted) == [
        ("platform_fixed", D("1.50"), None),
        ("client_fixed", D("0.75"), None),
        ("network", D("2.00"), None),
        ("platform_percentage", D("1.00"), 10),
        ("client_percentage", D("0.50"), 5),
        ("fx_markup", None, 50),
        ("client_fx_markup", None, 10),
    ]
    assert quoted.fee_total == D("5.75")
    assert (quoted.source_currency, quoted.destination_currency) == ("EUR", "USDC")
    assert quoted.reference_rate == D("1.080000")
    assert quoted.rate == D("1.073520")  # 1.08 * (1 - 60 bps)
    assert quoted.fx_markup_bps == 60
    # (999.99 - 5.75) * 1.07352 = 994.24 * 1.07352 = 1067.3365248 -> down to 6 decimals.
    assert quoted.destination_amount == D("1067.336524")
    assert quoted.source_amount == D("999.99")
    assert quoted.rounding == {"source": "exact", "destination": "down"}
    assert not quoted.off_hours


def test_buy_fixed_destination_needs_the_smallest_source_rounded_up():
    quoted = price("buy", "destination", "1000.000000")
    # 1000 / 1.07352 = 931.515...: a net of 931.52 EUR is needed (931.51 gives 999.9946).
    # At 937.18 the percentages are 0.93718 -> 0.94 and 0.46859 -> 0.47: fees 5.66, net 931.52.
    # At 937.17 the fees are the same 5.66, net 931.51: not enough.
    assert quoted.source_amount == D("937.18")
    assert quoted.fee_total == D("5.66")
    assert quoted.destination_amount == D("1000.000000")
    assert quoted.rounding == {"source": "up", "destination": "exact"}
    assert [line.amount for line in quoted.fee_lines if line.bps and line.amount] == [
        D("0.94"),
        D("0.47"),
    ]


def test_a_computed_buy_destination_rounds_down_never_up():
    terms = pricing.FeeTerms(platform_fx_markup_bps=50)
    # 100.01 * 1.074600 = 107.470746 exactly; 100.03 * 1.0746 = 107.492238; with a mid giving
    # 8 decimals the tail is cut: 100.01 * 1.074613 (no markup) = 107.47204613.
    assert price("buy", "source", "100.01", terms).destination_amount == D("107.470746")
    no_markup = pricing.FeeTerms()
    quoted = price("buy", "source", "100.01", no_markup, mid="1.074613")
    assert quoted.destination_amount == D("107.472046")  # not ...047
    assert quoted.fee_lines == ()


def test_no_fees_no_lines_and_the_default_50_bps_price_of_today():
    quoted = price("buy", "source", "100.00", pricing.FeeTerms(platform_fx_markup_bps=50))
    assert lines(quoted) == [("fx_markup", None, 50)]
    assert (quoted.rate, quoted.fee_total, quoted.destination_amount) == (
        D("1.074600"),
        D("0"),
        D("107.460000"),
    )


def test_a_negative_client_markup_is_a_discount_on_the_platform_markup():
    terms = pricing.FeeTerms(platform_fx_markup_bps=50, client_fx_markup_bps=-20)
    quoted = price("buy", "source", "100.00", terms)
    assert quoted.fx_markup_bps == 30
    assert quoted.rate == D("1.076760")  # 1.08 * 0.997


# --- sell -----------------------------------------------------------------------------------


def test_sell_fixed_source_fees_stated_in_eur_are_converted_at_the_mid():
    quoted = price("sell", "source", "1000.000000")
    # EUR fees * 1.08 mid: 1.50 -> 1.62, 0.75 -> 0.81, 2.00 -> 2.16 USDC; percentages off the
    # USDC source: 1.000000 and 0.500000. Total 6.09 USDC.
    assert lines(quoted) == [
        ("platform_fixed", D("1.620000"), None),
        ("client_fixed", D("0.810000"), None),
        ("network", D("2.160000"), None),
        ("platform_percentage", D("1.000000"), 10),
        ("client_percentage", D("0.500000"), 5),
        ("fx_markup", None, 50),
        ("client_fx_markup", None, 10),
    ]
    assert quoted.fee_total == D("6.090000")
    assert (quoted.source_currency, quoted.destination_currency) == ("USDC", "EUR")
    assert quoted.reference_rate == D("0.925925")  # 1 / 1.08, rounded down
    assert quoted.rate == D("0.920370")  # 1 / 1.08 * 0.994 = 0.92037037...
    # 993.91 * 0.920370 = 914.7649467 -> 914.76 EUR (down).
    assert quoted.destination_amount == D("914.76")


def test_sell_fee_conversion_rounds_up_to_the_stablecoins_decimals():
    quoted = price(
        "sell",
        "source",
        "1000.000000",
        pricing.FeeTerms(platform_fixed_fee=D("1.55")),
        mid="1.083333",
    )
    # 1.55 EUR * 1.083333 = 1.67916615 USDC -> 1.679167 (up, never 1.679166).
    assert lines(quoted) == [("platform_fixed", D("1.679167"), None)]
    assert quoted.rate == D("0.923077")  # 1 / 1.083333 = 0.9230772...
    # 998.320833 * 0.923077 = 921.5270... -> 921.52
    assert quoted.destination_amount == D("921.52")


def test_sell_fixed_destination_delivers_exactly_and_rounds_the_source_up():
    quoted = price("sell", "destination", "500.00")
    # Needed net: 500 / 0.920370 = 543.2597... USDC, so net >= 543.259776 (543.259775 gives
    # 499.999999...). Fees: 4.59 fixed + 0.1% and 0.05% of the source (each rounded up).
    # S = 548.672786: 0.548673 + 0.274337 + 4.59 = 5.413010, net 543.259776.
    assert quoted.source_amount == D("548.672786")
    assert quoted.fee_total == D("5.413010")
    assert quoted.destination_amount == D("500.00")
    assert (quoted.source_amount - quoted.fee_total) * quoted.rate >= D("500.00")
    one_less = pricing.forward_destination(
        quoted.source_amount - D("0.000001"), quoted.fee_total, quoted.rate, "EUR"
    )
    assert one_less < D("500.00")


def test_sell_without_fees_is_todays_price():
    quoted = price("sell", "source", "100.000000", pricing.FeeTerms(platform_fx_markup_bps=50))
    assert (quoted.rate, quoted.destination_amount) == (D("0.921296"), D("92.12"))  # not 92.13


# --- the errors -----------------------------------------------------------------------------


def test_fees_as_large_as_a_fixed_source_are_fees_exceed_amount():
    terms = pricing.FeeTerms(platform_fixed_fee=D("3.00"), network_fee=D("2.00"))
    with pytest.raises(DomainError) as caught:
        price("buy", "source", "5.00", terms)
    assert (caught.value.code, caught.value.status) == ("FEES_EXCEED_AMOUNT", 409)
    assert caught.value.details["amount"] == "5.00"
    assert caught.value.details["totalFees"] == "5.00"
    # One cent more covers the fees and delivers something.
    assert price("buy", "source", "5.01", terms).destination_amount == D("0.010800")


def test_a_sell_whose_converted_fees_exceed_the_source_is_fees_exceed_amount():
    with pytest.raises(DomainError) as caught:
        price("sell", "source", "10.000000", pricing.FeeTerms(platform_fixed_fee=D("10.00")))
    assert caught.value.code == "FEES_EXCEED_AMOUNT"
    assert caught.value.details["totalFees"] == "10.800000"  # 10 EUR at the 1.08 mid


def test_a_fixed_destination_too_small_for_the_fees_is_invalid_calculated_amount():
    terms = pricing.FeeTerms(platform_fixed_fee=D("5.00"))
    with pytest.raises(DomainError) as caught:
        price("buy", "destination", "1.000000", terms)
    assert (caught.value.code, caught.value.status) == ("INVALID_CALCULATED_AMOUNT", 400)
    assert caught.value.details["requestedAmount"] == "1.000000"
    assert caught.value.details["totalFees"] == "5.00"
    # 1 USDC needs 0.93 EUR net; with 5.00 of fees the source is 5.93.
    assert caught.value.details["calculatedSourceAmount"] == "5.93"


def test_a_fixed_source_that_delivers_nothing_is_invalid_calculated_amount():
    with pytest.raises(DomainError) as caught:
        price("sell", "source", "0.000001", pricing.FeeTerms())
    assert (caught.value.code, caught.value.status) == ("INVALID_CALCULATED_AMOUNT", 400)


def test_markups_of_100_percent_are_a_configuration_error():
    with pytest.raises(ImproperlyConfigured):
        price("buy", "source", "100.00", pricing.FeeTerms(platform_fx_markup_bps=10_000))


# --- off-hours and holidays on a pinned clock -----------------------------------------------

PENALTY = pricing.FeeTerms(platform_fx_markup_bps=50, off_hours_penalty_bps=25)
WEEKEND = pricing.OffHoursCalendar.parse("Europe/Berlin", "fri 20:00-mon 08:00", None)


def berlin(*args) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime(*args, tzinfo=ZoneInfo("Europe/Berlin"))


def test_a_quote_inside_a_weekly_window_carries_the_penalty_line():
    quoted = price("buy", "source", "100.00", PENALTY, at=berlin(2026, 6, 6, 12), calendar=WEEKEND)
    assert quoted.off_hours
    assert lines(quoted) == [("fx_markup", None, 50), ("off_hours", None, 25)]
    assert quoted.rate == D("1.071900")  # 1.08 * (1 - 75 bps)
    assert quoted.destination_amount == D("107.190000")


def test_a_quote_outside_the_windows_has_no_penalty():
    quoted = price("buy", "source", "100.00", PENALTY, at=berlin(2026, 6, 3, 12), calendar=WEEKEND)
    assert not quoted.off_hours
    assert lines(quoted) == [("fx_markup", None, 50)]
    assert quoted.rate == D("1.074600")


def test_no_penalty_configured_means_no_off_hours_line_even_off_hours():
    quoted = price(
        "buy",
        "source",
        "100.00",
        pricing.FeeTerms(platform_fx_markup_bps=50),
        at=berlin(2026, 6, 6, 12),
        calendar=WEEKEND,
    )
    assert not quoted.off_hours and lines(quoted) == [("fx_markup", None, 50)]


@pytest.mark.parametrize(
    ("moment", "off"),
    [
        (berlin(2026, 6, 5, 19, 59), False),  # Friday just before
        (berlin(2026, 6, 5, 20, 0), True),  # Friday 20:00: the window opens
        (berlin(2026, 6, 7, 23, 59), True),  # Sunday night
        (berlin(2026, 6, 8, 0, 0), True),  # past Sunday midnight: the window wraps the week
        (berlin(2026, 6, 8, 7, 59), True),
        (berlin(2026, 6, 8, 8, 0), False),  # Monday 08:00: closed again
        (berlin(2026, 6, 10, 3, 0), False),  # Wednesday night: not in this calendar
    ],
)
def test_a_window_wrapping_past_sunday_midnight(moment, off):
    assert WEEKEND.is_off_hours(moment) is off


def test_several_windows_and_overnight_ones():
    calendar = pricing.OffHoursCalendar.parse(
        "Europe/Berlin", "fri 20:00-mon 08:00, wed 20:00-thu 08:00", None
    )
    assert calendar.window_specs == ("fri 20:00-mon 08:00", "wed 20:00-thu 08:00")
    assert calendar.is_off_hours(berlin(2026, 6, 10, 23))  # Wednesday night
    assert calendar.is_off_hours(berlin(2026, 6, 11, 7, 30))  # Thursday early
    assert not calendar.is_off_hours(berlin(2026, 6, 11, 8, 0))
    assert not calendar.is_off_hours(berlin(2026, 6, 9, 23))  # Tuesday night


@pytest.mark.parametrize(
    "day",
    [
        (2026, 12, 25),  # Christmas Day
        (2026, 12, 26),  # Christmas Holiday (a Saturday: off-hours in any case)
        (2027, 1, 1),  # New Year's Day
        (2027, 3, 26),  # Good Friday
        (2027, 3, 29),  # Easter Monday
        (2027, 5, 1),  # Labour Day
    ],
)
def test_target2_closing_days_are_off_hours_all_day(day):
    calendar = pricing.OffHoursCalendar.parse("Europe/Berlin", "", "XECB")
    for hour, minute in ((0, 0), (12, 0), (23, 59)):
        assert calendar.is_off_hours(berlin(*day, hour, minute)), (day, hour)
    quoted = price("buy", "source", "100.00", PENALTY, at=berlin(*day, 12), calendar=calendar)
    assert quoted.off_hours and ("off_hours", None, 25) in lines(quoted)


@pytest.mark.parametrize("day", [(2026, 12, 24), (2026, 12, 28), (2027, 3, 25), (2027, 3, 30)])
def test_the_days_around_the_holidays_are_working_days(day):
    calendar = pricing.OffHoursCalendar.parse("Europe/Berlin", "", "XECB")
    assert not calendar.is_off_hours(berlin(*day, 12))


def test_without_a_holiday_calendar_holidays_are_ordinary_days():
    calendar = pricing.OffHoursCalendar.parse("Europe/Berlin", "", "")
    assert calendar.holiday_calendar is None
    assert not calendar.is_off_hours(berlin(2026, 12, 25, 12))
    assert (
        calendar.holidays_between(datetime(2026, 1, 1).date(), datetime(2027, 12, 31).date()) == []
    )


def test_the_holiday_is_the_desks_local_day_not_utc():
    # 2026-12-24 23:30 UTC is already Christmas Day in Berlin (UTC+1 in winter).
    moment = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)
    assert pricing.OffHoursCalendar.parse("Europe/Berlin", "", "XECB").is_off_hours(moment)
    assert not pricing.OffHoursCalendar.parse("UTC", "", "XECB").is_off_hours(moment)
    # And 2027-01-01 23:30 UTC is 2 January in Berlin: a working day there, New Year in UTC.
    after = datetime(2027, 1, 1, 23, 30, tzinfo=UTC)
    assert not pricing.OffHoursCalendar.parse("Europe/Berlin", "", "XECB").is_off_hours(after)
    assert pricing.OffHoursCalendar.parse("UTC", "", "XECB").is_off_hours(after)


def test_windows_are_read_in_the_configured_time_zone_around_midnight():
    window = "mon 00:00-mon 06:00"
    sunday_late_utc = datetime(2026, 6, 7, 23, 30, tzinfo=UTC)  # Monday 01:30 in Berlin (CEST)
    assert pricing.OffHoursCalendar.parse("Europe/Berlin", window, None).is_off_hours(
        sunday_late_utc
    )
    assert not pricing.OffHoursCalendar.parse("UTC", window, None).is_off_hours(sunday_late_utc)


def test_windows_follow_daylight_saving_time():
    calendar = pricing.OffHoursCalendar.parse("Europe/Berlin", "mon 07:00-mon 08:00", None)
    # 05:30 UTC is 06:30 in Berlin before the switch (CET, 23 March 2026) and 07:30 after it
    # (CEST from 29 March 2026).
    assert not calendar.is_off_hours(datetime(2026, 3, 23, 5, 30, tzinfo=UTC))
    assert calendar.is_off_hours(datetime(2026, 3, 30, 5, 30, tzinfo=UTC))
    # And back in autumn (CET from 25 October 2026): 06:30 UTC is 07:30 in Berlin.
    assert not calendar.is_off_hours(datetime(2026, 10, 19, 6, 30, tzinfo=UTC))  # 08:30 CEST
    assert calendar.is_off_hours(datetime(2026, 10, 26, 6, 30, tzinfo=UTC))


def test_upcoming_holidays_are_listed_by_date():
    calendar = pricing.OffHoursCalendar.parse("Europe/Berlin", "", "XECB")
    listed = calendar.holidays_between(datetime(2026, 12, 1).date(), datetime(2027, 3, 31).date())
    assert [(day.isoformat(), name) for day, name in listed] == [
        ("2026-12-25", "Christmas Day"),
        ("2026-12-26", "Christmas Holiday"),
        ("2027-01-01", "New Year's Day"),
        ("2027-03-26", "Good Friday"),
        ("2027-03-29", "Easter Monday"),
    ]


@pytest.mark.parametrize(
    "spec",
    [
        "fri 20:00",
        "fri 20:00-mon",
        "someday 10:00-mon 08:00",
        "fri 25:00-sat 01:00",
        "fri 20:60-sat 01:00",
        "fri 8-sat 9",
    ],
)
def test_a_malformed_window_is_a_configuration_error(spec):
    with pytest.raises(ImproperlyConfigured):
        pricing.OffHoursCalendar.parse("Europe/Berlin", spec, None)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ImproperlyConfigured, match="Mars"):
        pricing.OffHoursCalendar.parse("Mars/Olympus", "", None)


# --- execution at approval --------------------------------------------------------------------


def execute(quoted, mid, fixed_destination=None):
    return pricing.execution_price(
        side=quoted.side,
        mid=D(mid),
        fx_markup_bps=quoted.fx_markup_bps,
        source_amount=quoted.source_amount,
        fee_total=quoted.fee_total,
        destination_currency=quoted.destination_currency,
        fixed_destination=fixed_destination,
    )


def test_execution_of_a_fixed_source_reprices_the_destination_at_the_live_mid():
    quoted = price("buy", "source", "999.99")
    assert execute(quoted, "1.08") == (D("1.080000"), D("1.073520"), D("1067.336524"))
    # The market moves to 1.10: 994.24 * 1.10 * 0.994 = 994.24 * 1.0934 = 1087.102016.
    assert execute(quoted, "1.10") == (D("1.100000"), D("1.093400"), D("1087.102016"))


def test_execution_of_a_fixed_destination_delivers_exactly_that_while_the_market_covers_it():
    quoted = price("buy", "destination", "1000.000000")
    fixed = quoted.destination_amount
    # At the quoted mid the rounded-up source would deliver 931.52 * 1.07352 = 1000.0055...;
    # the customer asked for, and receives, exactly 1000.
    assert execute(quoted, "1.08")[2] == D("1000.005350")
    assert execute(quoted, "1.08", fixed)[2] == D("1000.000000")
    assert execute(quoted, "1.20", fixed)[2] == D("1000.000000")  # a better market: still D
    # A worse market: what the collected source delivers (931.52 * 1.0437 = 972.227424).
    assert execute(quoted, "1.05", fixed)[2] == D("972.227424")
