"""What the portal shows of an order beyond its status: the price line by line (the figures the
pricing function stored with the order, never recomputed here), time left before a deadline,
the rejection and its remediation, and a timeline that names channels and roles, not people.

Every figure goes through ``otc.web.numbers`` (the reader's locale, the currency's decimals).
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from otc.models import Channel, FixedSide, Order, OrderTransition, Status
from otc.representations import rejection_representation
from otc.web import numbers

# --- the price, line by line -------------------------------------------------------------------


@dataclass(frozen=True)
class FeeRow:
    type: str
    description: str
    value: str  # "12.50 EUR" or "50 bps off the rate"
    is_amount: bool


@dataclass(frozen=True)
class PriceBreakdown:
    """The quote's (or the executed order's) price as the console shows it to the operator."""

    fixed_side: str  # "source" or "destination"
    fixed_text: str
    reference_rate: str
    rate: str
    rate_unit: str
    lines: tuple[FeeRow, ...]
    fee_total: str
    source: str  # the total the customer gives, fees included
    destination: str
    final: bool


def fee_rows(order: Order) -> tuple[FeeRow, ...]:
    """The order's stored fee lines (``OrderFee``, prefetched by the selectors)."""
    currency = order.source_currency
    rows = []
    for line in order.fees.all():
        if line.amount is not None:
            value = numbers.format_money(line.amount, currency)
            rows.append(FeeRow(line.type, line.description, value, True))
        else:
            rows.append(FeeRow(line.type, line.description, f"{line.bps} bps off the rate", False))
    return tuple(rows)


def price_breakdown(order: Order) -> PriceBreakdown:
    """Reference rate, the customer's rate, each fee line, the fees' total and both amounts:
    the final figures once the desk fixed them, the quoted ones before."""
    fixed = order.fixed_side
    if fixed == FixedSide.DESTINATION:
        asked = numbers.format_money(
            order.indicative_destination_amount, order.destination_currency
        )
        fixed_text = (
            f"You asked to receive exactly {asked}; the {order.source_currency} it needs, "
            "fees included, is worked out from it."
        )
    else:
        given = numbers.format_money(order.source_amount, order.source_currency)
        fixed_text = (
            f"You give exactly {given}, fees included; what you receive is worked out from it."
        )
    return PriceBreakdown(
        fixed_side=fixed,
        fixed_text=fixed_text,
        reference_rate=numbers.format_rate(order.shown_reference_rate),
        rate=numbers.format_rate(order.rate),
        rate_unit=f"{order.destination_currency} per {order.source_currency}",
        lines=fee_rows(order),
        fee_total=numbers.format_money(order.fee_total, order.source_currency),
        source=numbers.format_money(order.source_amount, order.source_currency),
        destination=numbers.format_money(order.destination_amount, order.destination_currency),
        final=order.final_rate is not None,
    )


# --- deadlines --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Countdown:
    """Time left until ``ends_at``, as the server sees it; ``static/portal/countdown.js``
    keeps counting from ``seconds`` (not from the browser's clock)."""

    ends_at: datetime
    seconds: int

    @property
    def text(self) -> str:
        return time_left_text(self.seconds)

    @property
    def passed(self) -> bool:
        return self.seconds <= 0


def countdown(ends_at: datetime | None, now: datetime | None = None) -> Countdown | None:
    if ends_at is None:
        return None
    now = now or timezone.now()
    return Countdown(ends_at=ends_at, seconds=max(0, int((ends_at - now).total_seconds())))


def time_left_text(seconds: int) -> str:
    """``2 h 05 min``, ``4 min 09 s``, ``42 s``; the script writes the same."""
    if seconds <= 0:
        return "no time left"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


# --- the price review ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewFigures:
    previous_rate: str
    new_rate: str
    reference_rate: str
    source: str  # unchanged: the confirmed source
    previous_destination: str
    new_destination: str
    destination_change: str  # signed, in the destination currency
    worse: bool
    # What accept-price must send back (the API's plain strings).
    plain_rate: str
    plain_destination: str


def review_figures(order: Order, review: dict) -> ReviewFigures:
    """``review`` is ``representations.review_representation(order)``: the same figures the
    API's ``GET …/review`` returns, here in the reader's locale."""
    dest = order.destination_currency
    change = order.review_destination_amount - order.indicative_destination_amount
    return ReviewFigures(
        previous_rate=numbers.format_rate(order.indicative_rate),
        new_rate=numbers.format_rate(order.review_rate),
        reference_rate=numbers.format_rate(order.review_reference_rate),
        source=numbers.format_money(order.source_amount, order.source_currency),
        previous_destination=numbers.format_money(order.indicative_destination_amount, dest),
        new_destination=numbers.format_money(order.review_destination_amount, dest),
        destination_change=signed_money(change, dest),
        worse=change < 0,
        plain_rate=review["rate"],
        plain_destination=review["destinationAmount"],
    )


# --- rejection and timeline -----------------------------------------------------------------


REJECTION_LABELS = {
    "KYC_REQUIRED": "Verification (KYC) needed",
    "LIMIT_EXCEEDED": "Above your limit",
    "PRICE_UNAVAILABLE": "No market price",
    "COMPLIANCE_REVIEW": "Compliance review",
    "DUPLICATE": "Looks like a duplicate",
    "OTHER": "Other reason",
}


@dataclass(frozen=True)
class Rejection:
    code: str
    label: str
    message: str
    remediation: str


def rejection(order: Order) -> Rejection | None:
    """The order's rejection as the API shows it (``rejection {code, message, remediation}``)."""
    shown = rejection_representation(order)
    if shown is None:
        return None
    return Rejection(
        code=shown["code"],
        label=REJECTION_LABELS.get(shown["code"], shown["code"]),
        message=shown["message"],
        remediation=shown["remediation"],
    )


# Who acted, as the customer may know it: a role and a channel, never a person's name.
ROLES = {
    Channel.PORTAL: "Your team",
    Channel.API: "Your integration",
    Channel.OPS: "The desk",
    Channel.ADMIN: "The desk",
    Channel.COMMAND: "The desk",
    Channel.TASK: "The desk, automatically",
}

# A customer-facing sentence per step. The transitions' own reasons are written for the desk
# (mid rates, slippage in bps, the names of four-eyes approvers) and are not shown here; the
# exception is the rejection's message, which the operator writes for the customer.
STEP_TEXT = {
    Status.QUOTED: "Quote given.",
    Status.REQUOTED: "Quote refreshed with a new rate.",
    Status.EXPIRED: "The quote expired.",
    Status.CANCELLED: "Cancelled.",
    Status.DEBIT_PENDING: "Confirmed; collecting the EUR.",
    Status.PENDING_APPROVAL: "Waiting for the desk's approval.",
    Status.PRICE_REVIEW: "The market moved beyond your slippage limit: a new price awaits you.",
    Status.APPROVED: "Approved at the final rate.",
    Status.REJECTED: "Rejected.",
    Status.COMPLETED: "Settled.",
    Status.FAILED: "Could not be completed.",
}


@dataclass(frozen=True)
class TimelineStep:
    to_status: str
    status_label: str
    at: datetime
    role: str
    channel: str
    text: str
    reason: str  # shown to the customer: only a rejection's message


def timeline(steps: list[OrderTransition]) -> list[TimelineStep]:
    return [
        TimelineStep(
            to_status=step.to_status,
            status_label=step.get_to_status_display(),
            at=step.created_at,
            role=ROLES.get(step.channel, "The desk"),
            channel=step.get_channel_display(),
            text=STEP_TEXT.get(step.to_status, ""),
            reason=step.reason if step.to_status == Status.REJECTED else "",
        )
        for step in steps
    ]


MINUS = "\u2212"  # the typographic minus sign


def signed_money(value: Decimal, currency: str) -> str:
    """``+1.50 EUR``, ``\u22121.50 EUR``, ``0.00 EUR``."""
    sign = "+" if value > 0 else (MINUS if value < 0 else "")
    return f"{sign}{numbers.format_money(abs(value), currency)}"
