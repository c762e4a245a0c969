"""What each order status means for the customer, in one plain sentence, and how long the next
step usually takes where the desk knows it. One place, used by the order page and the lists.

The expected times are the desk's own commitments (the background jobs run every 15 seconds;
approvals are done by people during desk hours); change them here and every page follows.
"""

from dataclasses import dataclass

from otc.models import Kind, Side, Status

DESK_HOURS = "weekdays 08:00 to 20:00 Berlin time"

# Quotes (never confirmed) and orders (confirmed, then decided by the desk): the dashboard and
# the order list show orders by default and quotes on request.
QUOTE_STATUSES = (Status.QUOTED, Status.REQUOTED, Status.EXPIRED, Status.CANCELLED)
ORDER_STATUSES = tuple(s for s in Status if s not in QUOTE_STATUSES)


@dataclass(frozen=True)
class StatusText:
    sentence: str
    expected: str | None = None  # how long the next step usually takes, if the desk knows


_TEXT: dict[str, StatusText | dict[str, StatusText]] = {
    Status.QUOTED: StatusText(
        "This is a quote, not an order yet: confirm it before it expires to place the order."
    ),
    Status.REQUOTED: StatusText(
        "The quote was refreshed with a new rate: confirm it before it expires to place the order."
    ),
    Status.EXPIRED: StatusText(
        "The quote expired before it was confirmed. Nothing was debited; refresh it for a new rate."
    ),
    Status.CANCELLED: StatusText(
        "The quote was cancelled before it was confirmed. Nothing was debited."
    ),
    Status.DEBIT_PENDING: StatusText(
        "Confirmed. We are collecting the EUR from your account; then the desk reviews the order.",
        expected="usually within a minute",
    ),
    Status.PENDING_APPROVAL: {
        Side.BUY: StatusText(
            "Your EUR is with the desk. An operator reviews the order and fixes the final rate "
            "from the live market when approving it.",
            expected=f"usually within 30 minutes during desk hours ({DESK_HOURS})",
        ),
        Side.SELL: StatusText(
            "An operator reviews the order and fixes the final rate from the live market when "
            "approving it. Your USDC stays in your wallet until then.",
            expected=f"usually within 30 minutes during desk hours ({DESK_HOURS})",
        ),
    },
    Status.APPROVED: {
        Side.BUY: StatusText(
            "Approved at the final rate. The USDC is on its way to your wallet.",
            expected="usually within a few minutes",
        ),
        Side.SELL: StatusText(
            "Approved at the final rate. Your USDC is being collected and the EUR paid to your "
            "account.",
            expected="usually within a few minutes",
        ),
    },
    Status.REJECTED: {
        Side.BUY: StatusText(
            "The desk rejected this order (the reason is below). The EUR was refunded to your "
            "account."
        ),
        Side.SELL: StatusText(
            "The desk rejected this order (the reason is below). Your USDC never left your wallet."
        ),
    },
    Status.PRICE_REVIEW: StatusText(
        "The market moved beyond the slippage you allowed, so nothing was executed. Review the "
        "new price and accept it or cancel before it expires (a buy's EUR is then refunded).",
        expected="an answer before the new price expires (the page counts down the time left)",
    ),
    Status.COMPLETED: {
        Side.BUY: StatusText("Done: the USDC is in your wallet."),
        Side.SELL: StatusText("Done: the EUR is in your account."),
    },
    Status.FAILED: StatusText(
        "The order could not be completed (the reason is below). What was taken from you was "
        "refunded; contact the desk if anything looks wrong."
    ),
}


# A market exchange (``/exchanges``) executes at once when accepted; no operator, no refund.
_MARKET_TEXT: dict[str, StatusText | dict[str, StatusText]] = {
    Status.QUOTED: StatusText(
        "A market exchange quote: accept it (over the API) before it expires and it executes "
        "at once at the live price."
    ),
    Status.EXPIRED: StatusText("The exchange quote expired before it was accepted. Nothing moved."),
    Status.CANCELLED: StatusText(
        "The exchange was cancelled before it was accepted. Nothing moved."
    ),
    Status.EXECUTED: {
        Side.BUY: StatusText("Executed at once: the USDC is in your wallet."),
        Side.SELL: StatusText("Executed at once: the EUR is in your account."),
    },
    Status.FAILED: StatusText(
        "The exchange did not execute (the reason is below): the price moved beyond your "
        "slippage or the desk could not deliver. Nothing moved."
    ),
}

_TEXT[Status.EXECUTED] = _MARKET_TEXT[Status.EXECUTED]  # only market exchanges execute


def status_text(status: str, side: str, kind: str = Kind.OTC) -> StatusText:
    table = _MARKET_TEXT if kind == Kind.MARKET else _TEXT
    text = table.get(status) or _TEXT[status]
    return text[side] if isinstance(text, dict) else text


def is_quote(status: str) -> bool:
    return status in QUOTE_STATUSES
