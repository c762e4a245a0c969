"""The one way pages show money and rates (``otc.web.numbers``): grouped digits, the
currency's decimals, in the reader's locale.

    {% load money %}
    {{ order.source_amount|money:order.source_currency }}   -> 1,234.50 EUR / 1.234,50 EUR
    {{ balance|amount:"USDC" }}                             -> 1,234.500000
    {{ order.indicative_rate|rate }}                        -> 1.074600 / 1,074600
    {{ order.indicative_rate|plain_rate }}                  -> 1.074600 (form values, data-*)
"""

from decimal import Decimal

from django import template

from accounts import money as plain
from otc.web import numbers

register = template.Library()


def _value(value) -> Decimal | None:
    """A missing variable reaches a filter as ``""``: shown as a dash, like ``None``."""
    return None if value is None or value == "" else Decimal(value)


@register.filter
def amount(value: Decimal | None, currency: str) -> str:
    """The figure alone: ``1,234.50``."""
    return numbers.format_amount(_value(value), currency)


@register.filter(name="money")
def money_filter(value: Decimal | None, currency: str) -> str:
    """The figure and its currency: ``1,234.50 EUR``."""
    return numbers.format_money(_value(value), currency)


@register.filter
def rate(value: Decimal | None) -> str:
    return numbers.format_rate(_value(value))


@register.filter
def plain_amount(value: Decimal | None, currency: str) -> str:
    """The API's form (``1234.50``), for values a machine reads back."""
    value = _value(value)
    return "" if value is None else plain.format_amount(value, currency)


@register.filter
def plain_rate(value: Decimal | None) -> str:
    value = _value(value)
    return "" if value is None else plain.format_rate(value)
