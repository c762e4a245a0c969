"""A completed order's receipt: what was quoted and what was executed (rates, the reference
rate, each fee line, both amounts), and the money movements with the ledger entry and, where
the provider gives one, the bank reference or the on-chain transaction.

One builder (``receipt_build``) for the portal's page, its PDF and the API's
``GET otc-exchanges/{id}/receipt.pdf``. The PDF is made the way statements are
(``otc.statements.DeskPdf``), with money and rates in the reader's locale
(``otc.web.numbers``: grouped digits, the currency's decimals). Times are the desk's
(``OTC_DESK_TIMEZONE``).
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils import timezone
from fpdf import FontFace

from accounts.errors import DomainError, error
from accounts.models import Customer

from . import selectors
from .models import Order, ProviderTransfer, Side, Status
from .statements import DeskPdf, desk_timezone, latin1_text
from .web import numbers

CONTENT_TYPE = "application/pdf"

# The legs a customer sees on a receipt (a refund never belongs to a completed order).
STEPS = (ProviderTransfer.Step.DEBIT, ProviderTransfer.Step.COLLECT, ProviderTransfer.Step.DELIVER)
REFERENCE_KINDS = {
    ProviderTransfer.Provider.BANK: "Bank reference",
    ProviderTransfer.Provider.CUSTODY: "On-chain transaction",
}


def receipt_not_found() -> DomainError:
    return error(
        "RECEIPT_NOT_FOUND",
        404,
        "This order has no receipt: a receipt is made once an order is completed.",
    )


@dataclass(frozen=True)
class ReceiptMovement:
    what: str  # "EUR from your account Master"
    amount: Decimal
    currency: str
    ledger_entry_id: str | None
    reference_kind: str  # "Bank reference" or "On-chain transaction"
    provider_reference: str  # "" when the provider gave none
    settled_at: datetime | None


@dataclass(frozen=True)
class Receipt:
    order: Order
    customer_name: str
    movements: tuple[ReceiptMovement, ...]
    timezone_name: str
    generated_at: datetime

    @property
    def filename(self) -> str:
        return f"receipt-{self.order.pk}.pdf"

    @property
    def source_transaction_id(self) -> str | None:
        value = getattr(self.order, "source_transaction_id", None)
        return str(value) if value else None

    @property
    def destination_transaction_id(self) -> str | None:
        value = getattr(self.order, "destination_transaction_id", None)
        return str(value) if value else None


def _what(order: Order, transfer: ProviderTransfer) -> str:
    if transfer.step == ProviderTransfer.Step.DELIVER:
        if order.side == Side.BUY:
            return f"{transfer.asset} to your wallet {order.wallet.label}"
        return f"{transfer.asset} to your account {order.fiat_account.label}"
    if order.side == Side.BUY:
        return f"{transfer.asset} from your account {order.fiat_account.label}"
    return f"{transfer.asset} from your wallet {order.wallet.label}"


def receipt_for(order: Order) -> Receipt:
    """The receipt of ``order`` (read through ``selectors.order_get``, so its money trail is
    annotated); ``RECEIPT_NOT_FOUND`` unless it is completed. One query for the transfers."""
    if order.status != Status.COMPLETED:
        raise receipt_not_found()
    transfers = (
        ProviderTransfer.objects.filter(
            order=order, step__in=STEPS, state=ProviderTransfer.State.SETTLED
        )
        .only(
            "step",
            "provider",
            "asset",
            "amount",
            "journal_entry_id",
            "provider_reference",
            "settled_at",
            "created_at",
        )
        .order_by("created_at")
    )
    movements = tuple(
        ReceiptMovement(
            what=_what(order, transfer),
            amount=transfer.amount,
            currency=transfer.asset,
            ledger_entry_id=str(transfer.journal_entry_id) if transfer.journal_entry_id else None,
            reference_kind=REFERENCE_KINDS.get(transfer.provider, "Provider reference"),
            provider_reference=transfer.provider_reference,
            settled_at=transfer.settled_at,
        )
        for transfer in transfers
    )
    zone = desk_timezone()
    return Receipt(
        order=order,
        customer_name=order.customer.name,
        movements=movements,
        timezone_name=zone.key,
        generated_at=timezone.now().astimezone(zone),
    )


def receipt_build(*, customer: Customer, order_id: uuid.UUID) -> Receipt:
    """The caller's own completed order's receipt: another customer's order is
    ``ORDER_NOT_FOUND`` (404), as if it did not exist."""
    return receipt_for(selectors.order_get(customer=customer, order_id=order_id))


# --- the PDF ----------------------------------------------------------------------------------


def render_receipt_pdf(receipt: Receipt) -> bytes:
    """An A4 page: the order, the price as quoted and as executed, each fee line, the money
    movements with their references."""
    order = receipt.order
    zone = desk_timezone()
    source, dest = order.source_currency, order.destination_currency

    def stamp(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if moment else "-"

    pdf = DeskPdf(latin1_text(f"Receipt {order.pk}"))
    pdf.add_page()
    heading = FontFace(emphasis="BOLD", fill_color=(230, 233, 238))
    text = pdf.paragraph
    text("Receipt", size=16, style="B", height=8)
    text(receipt.customer_name, size=11, style="B")
    made = receipt.generated_at.strftime("%Y-%m-%d %H:%M %Z")
    text(
        f"Order {order.pk}: {order.get_side_display().split(' ')[0]} {source} for {dest} "
        f"({order.pair.code}). "
        f"Times in {receipt.timezone_name}. Made {made}."
    )
    pdf.ln(3)

    def table(rows: list[tuple[str, ...]], widths: tuple[int, ...], align: tuple[str, ...]):
        pdf.set_font("Helvetica", size=8)
        with pdf.table(
            col_widths=widths, text_align=align, headings_style=heading, line_height=5
        ) as grid:
            for values in rows:
                row = grid.row()
                for value in values:
                    row.cell(latin1_text(value))

    gave = "You paid" if order.side == Side.BUY else "You sold"
    text("What was executed", size=11, style="B", height=7)
    table(
        [
            ("", "Quoted", "Executed"),
            (
                "Rate (" + f"{dest} per {source})",
                numbers.format_rate(order.indicative_rate),
                numbers.format_rate(order.final_rate),
            ),
            (
                "Reference rate (market mid)",
                numbers.format_rate(order.reference_rate),
                numbers.format_rate(order.final_reference_rate),
            ),
            (
                f"{gave} (fees included)",
                numbers.format_money(order.source_amount, source),
                numbers.format_money(order.source_amount, source),
            ),
            (
                "You received",
                numbers.format_money(order.indicative_destination_amount, dest),
                numbers.format_money(order.final_destination_amount, dest),
            ),
        ],
        (80, 55, 55),
        ("LEFT", "RIGHT", "RIGHT"),
    )
    text(
        f"Confirmed {stamp(order.confirmed_at)}, executed {stamp(order.approved_at)}, "
        f"completed {stamp(order.completed_at)}.",
        size=8,
    )
    pdf.ln(3)

    text("Fees", size=11, style="B", height=7)
    fee_rows: list[tuple[str, ...]] = [("Line", "Amount / markup")]
    for line in order.fees.all():
        if line.amount is not None:
            fee_rows.append((line.description, numbers.format_money(line.amount, source)))
        else:
            fee_rows.append((line.description, f"{line.bps} bps off the rate"))
    fee_rows.append(("Fees charged", numbers.format_money(order.fee_total, source)))
    table(fee_rows, (130, 60), ("LEFT", "RIGHT"))
    pdf.ln(3)

    text("Money movements", size=11, style="B", height=7)
    movement_rows: list[tuple[str, ...]] = [("Movement", "Amount", "Settled", "References")]
    for movement in receipt.movements:
        references = f"Ledger entry {movement.ledger_entry_id or '-'}"
        if movement.provider_reference:
            references += f"\n{movement.reference_kind} {movement.provider_reference}"
        movement_rows.append(
            (
                movement.what,
                numbers.format_money(movement.amount, movement.currency),
                stamp(movement.settled_at),
                references,
            )
        )
    if len(movement_rows) == 1:
        movement_rows.append(("No settled movement recorded.", "", "", ""))
    table(movement_rows, (52, 38, 32, 68), ("LEFT", "RIGHT", "LEFT", "LEFT"))
    pdf.ln(3)
    text(
        "Fees are charged in the source currency and taken off the amount given; FX markups are "
        "taken off the reference rate. The executed rate is the one the desk fixed when it "
        "approved the order.",
        size=7,
        height=4,
    )
    return bytes(pdf.output())
