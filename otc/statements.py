"""Customer statements: the orders and every ledger movement of a customer's accounts and
wallets over a period of days, with opening and closing balances, as CSV or PDF.

The figures come from the ledger alone (``accounts.models.Posting``): a movement is one
posting on one of the customer's ledger accounts, dated by its journal entry. The opening
balance is the sum of the postings before the period; the closing balance is the opening plus
the period's movements, which is the sum of the postings up to the period's end (or up to the
moment the statement is made, for a period that ends today).

A wallet's figures are its whole balance, available and held together (what the custodian
holds): a sell's hold and its release move money between the two inside the wallet and are
not movements; the sell's collect, from the held part, is.

Days are the desk's days: a period from ``2026-03-01`` to ``2026-03-31`` runs from midnight
on 1 March to midnight on 1 April in ``OTC_DESK_TIMEZONE`` (Europe/Berlin by default, the
desk's bank's time zone), and every time on the statement is shown in that zone.

Building a statement costs the same few queries whatever the number of movements.
"""

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q, Sum
from django.utils import timezone
from fpdf import FPDF, FontFace

from accounts import money
from accounts.errors import DomainError
from accounts.models import Customer, LedgerAccount, Posting

from .models import Order

FORMATS = ("csv", "pdf")
MAX_DAYS = 366
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def desk_timezone() -> ZoneInfo:
    """The desk's time zone (``OTC_DESK_TIMEZONE``): statement days and times are in it."""
    name = settings.OTC_DESK_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ImproperlyConfigured(f"OTC_DESK_TIMEZONE={name!r} is not a time zone.") from exc


# --- the request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StatementRequest:
    date_from: date
    date_to: date
    format: str

    @property
    def filename(self) -> str:
        return f"statement_{self.date_from.isoformat()}_{self.date_to.isoformat()}.{self.format}"


def statement_request_parse(
    params: Mapping[str, str], *, today: date | None = None
) -> StatementRequest:
    """``from``, ``to`` (YYYY-MM-DD, desk days, both included) and ``format`` (csv or pdf).
    Raises a 400 ``VALIDATION_ERROR`` naming every problem, per field in ``details``."""
    today = today or timezone.now().astimezone(desk_timezone()).date()
    problems: dict[str, list[str]] = {}

    def problem(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    dates: dict[str, date] = {}
    for name in ("from", "to"):
        raw = (params.get(name) or "").strip()
        if not raw:
            problem(name, f"{name} is required, as YYYY-MM-DD.")
            continue
        try:
            if not _ISO_DATE.fullmatch(raw):
                raise ValueError
            dates[name] = date.fromisoformat(raw)
        except ValueError:
            problem(name, f"{name} must be a date as YYYY-MM-DD, not {raw[:20]!r}.")

    fmt = (params.get("format") or "").strip().lower()
    if not fmt:
        problem("format", "format is required: csv or pdf.")
    elif fmt not in FORMATS:
        problem("format", f"format must be csv or pdf, not {fmt[:20]!r}.")

    if len(dates) == 2:
        date_from, date_to = dates["from"], dates["to"]
        days = (date_to - date_from).days + 1
        if date_from > date_to:
            problem("to", f"to ({date_to}) is before from ({date_from}).")
        elif days > MAX_DAYS:
            problem("to", f"The period covers {days} days; a statement covers at most {MAX_DAYS}.")
        if date_to > today:
            problem("to", f"to ({date_to}) is after today ({today}, {desk_timezone().key}).")

    if problems:
        message = " ".join(m for messages in problems.values() for m in messages)
        raise DomainError(message, code="VALIDATION_ERROR", status=400, details=problems)
    return StatementRequest(date_from=dates["from"], date_to=dates["to"], format=fmt)


# --- the statement --------------------------------------------------------------------------


@dataclass(frozen=True)
class Movement:
    booked_at: datetime  # in the desk's time zone
    entry_id: str
    kind: str
    description: str
    order_id: str | None
    amount: Decimal
    balance: Decimal  # after this movement


@dataclass
class AccountStatement:
    resource_type: str  # "fiat_account" or "wallet"
    resource_id: str
    label: str
    currency: str
    opening: Decimal
    movements: list[Movement] = field(default_factory=list)

    @property
    def closing(self) -> Decimal:
        return self.opening + sum((m.amount for m in self.movements), Decimal(0))

    @property
    def money_in(self) -> Decimal:
        return sum((m.amount for m in self.movements if m.amount > 0), Decimal(0))

    @property
    def money_out(self) -> Decimal:
        return sum((m.amount for m in self.movements if m.amount < 0), Decimal(0))

    @property
    def name(self) -> str:
        kind = "Account" if self.resource_type == "fiat_account" else "Wallet"
        return f"{kind} {self.label}"


@dataclass(frozen=True)
class OrderLine:
    order_id: str
    confirmed_at: datetime  # in the desk's time zone
    side: str
    status: str
    source_amount: Decimal
    source_currency: str
    fee: Decimal  # in the source currency, off the source amount
    destination_amount: Decimal
    destination_currency: str
    rate: Decimal
    final: bool  # False: the indicative figures (not yet approved, or never)


@dataclass
class Statement:
    customer_name: str
    date_from: date
    date_to: date
    timezone_name: str
    starts_at: datetime  # the period, in the desk's time zone: [starts_at, ends_at)
    ends_at: datetime  # the end of the last day, or the moment of making for today
    period_ends_at: datetime  # midnight after the last day
    generated_at: datetime
    accounts: list[AccountStatement]
    orders: list[OrderLine]

    @property
    def is_partial(self) -> bool:
        """The period ends today: its closing balances are as of the making."""
        return self.ends_at < self.period_ends_at


def _period_bounds(date_from: date, date_to: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(date_from, time.min, tzinfo=zone)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone)
    return start, end


def _customer_ledger_accounts(customer: Customer) -> list[LedgerAccount]:
    """The customer's accounts' and wallets' ledger accounts and their hold accounts."""
    return list(
        LedgerAccount.objects.filter(
            Q(fiat_account__customer=customer)
            | Q(wallet__customer=customer)
            | Q(held_for__fiat_account__customer=customer)
            | Q(held_for__wallet__customer=customer)
        ).select_related("fiat_account", "wallet")
    )


def _resource(ledger_account: LedgerAccount) -> tuple[int, object, str, str, str]:
    fiat = getattr(ledger_account, "fiat_account", None)
    if fiat is not None:
        return (0, fiat.created_at, "fiat_account", str(fiat.pk), fiat.label)
    wallet = ledger_account.wallet
    return (1, wallet.created_at, "wallet", str(wallet.pk), f"{wallet.label} on {wallet.network}")


def statement_build(
    *, customer: Customer, date_from: date, date_to: date, now: datetime | None = None
) -> Statement:
    """The customer's statement for the desk days ``date_from``..``date_to`` (both included).
    Only the customer's own ledger accounts and orders are read."""
    zone = desk_timezone()
    now = (now or timezone.now()).astimezone(zone)
    start, end = _period_bounds(date_from, date_to, zone)
    until = min(end, now)

    ledger_accounts = _customer_ledger_accounts(customer)
    ids = [account.pk for account in ledger_accounts]
    # A hold account's postings count on the account it holds for.
    owner = {account.pk: account.held_for_id or account.pk for account in ledger_accounts}
    openings: dict = {}
    for account_id, total in (
        Posting.objects.filter(ledger_account_id__in=ids, entry__created_at__lt=start)
        .values("ledger_account_id")
        .annotate(total=Sum("amount"))
        .values_list("ledger_account_id", "total")
    ):
        openings[owner[account_id]] = openings.get(owner[account_id], Decimal(0)) + total
    statements: dict = {}
    own_accounts = [account for account in ledger_accounts if account.held_for_id is None]
    for account in sorted(own_accounts, key=_resource):
        _, _, resource_type, resource_id, label = _resource(account)
        statements[account.pk] = AccountStatement(
            resource_type=resource_type,
            resource_id=resource_id,
            label=label,
            currency=account.currency,
            opening=openings.get(account.pk) or Decimal(0),
        )

    postings = (
        Posting.objects.filter(
            ledger_account_id__in=ids,
            entry__created_at__gte=start,
            entry__created_at__lt=until,
        )
        .select_related("entry")
        .order_by("entry__created_at", "id")
    )
    # One movement per entry and account (its hold account included); an entry that only
    # moves money between the two (a hold, a release) is no movement.
    per_entry: dict = {}
    for posting in postings:
        key = (posting.entry_id, owner[posting.ledger_account_id])
        if key in per_entry:
            per_entry[key][1] += posting.amount
        else:
            per_entry[key] = [posting.entry, posting.amount]
    running = {pk: s.opening for pk, s in statements.items()}
    for (_, account_id), (entry, amount) in per_entry.items():
        if not amount:
            continue
        running[account_id] += amount
        statements[account_id].movements.append(
            Movement(
                booked_at=entry.created_at.astimezone(zone),
                entry_id=str(entry.pk),
                kind=entry.kind,
                description=entry.description,
                order_id=str(entry.reference_id) if entry.reference_id else None,
                amount=amount,
                balance=running[account_id],
            )
        )

    orders = Order.objects.filter(
        customer=customer, confirmed_at__gte=start, confirmed_at__lt=until
    ).order_by("confirmed_at", "id")
    lines = [
        OrderLine(
            order_id=str(order.pk),
            confirmed_at=order.confirmed_at.astimezone(zone),
            side=order.side,
            status=order.status,
            source_amount=order.source_amount,
            source_currency=order.source_currency,
            fee=order.fee_total,
            destination_amount=(
                order.final_destination_amount
                if order.final_destination_amount is not None
                else order.indicative_destination_amount
            ),
            destination_currency=order.destination_currency,
            rate=order.final_rate if order.final_rate is not None else order.indicative_rate,
            final=order.final_rate is not None,
        )
        for order in orders
    ]
    return Statement(
        customer_name=customer.name,
        date_from=date_from,
        date_to=date_to,
        timezone_name=zone.key,
        starts_at=start,
        ends_at=until,
        period_ends_at=end,
        generated_at=now,
        accounts=list(statements.values()),
        orders=lines,
    )


# --- renderers ------------------------------------------------------------------------------


def _amount(value: Decimal, currency: str) -> str:
    return money.format_amount(value, currency)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = [
    "record",
    "resource_type",
    "resource_id",
    "resource",
    "currency",
    "time",
    "entry_id",
    "kind",
    "description",
    "order_id",
    "amount",
    "balance",
    "side",
    "status",
    "source_amount",
    "source_currency",
    "fee",
    "destination_amount",
    "destination_currency",
    "rate",
]


def render_csv(statement: Statement) -> bytes:
    """One table, one header: a ``record`` column says what each row is (``statement``,
    ``opening_balance``, ``movement``, ``closing_balance``, ``order``). Amounts carry their
    currency's decimals, times are ISO 8601 with the desk's offset."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(
        {
            "record": "statement",
            "resource": _cell(statement.customer_name),
            "time": _iso(statement.generated_at),
            "description": (
                f"Statement {statement.date_from} to {statement.date_to}, "
                f"times in {statement.timezone_name}"
            ),
        }
    )
    for account in statement.accounts:
        base = {
            "resource_type": account.resource_type,
            "resource_id": account.resource_id,
            "resource": _cell(account.label),
            "currency": account.currency,
        }
        writer.writerow(
            {
                **base,
                "record": "opening_balance",
                "time": _iso(statement.starts_at),
                "balance": _amount(account.opening, account.currency),
            }
        )
        for movement in account.movements:
            writer.writerow(
                {
                    **base,
                    "record": "movement",
                    "time": _iso(movement.booked_at),
                    "entry_id": movement.entry_id,
                    "kind": movement.kind,
                    "description": _cell(movement.description),
                    "order_id": movement.order_id or "",
                    "amount": _amount(movement.amount, account.currency),
                    "balance": _amount(movement.balance, account.currency),
                }
            )
        writer.writerow(
            {
                **base,
                "record": "closing_balance",
                "time": _iso(statement.ends_at),
                "balance": _amount(account.closing, account.currency),
            }
        )
    for order in statement.orders:
        writer.writerow(
            {
                "record": "order",
                "time": _iso(order.confirmed_at),
                "order_id": order.order_id,
                "description": "final" if order.final else "indicative",
                "side": order.side,
                "status": order.status,
                "source_amount": _amount(order.source_amount, order.source_currency),
                "source_currency": order.source_currency,
                "fee": _amount(order.fee, order.source_currency),
                "destination_amount": _amount(order.destination_amount, order.destination_currency),
                "destination_currency": order.destination_currency,
                "rate": money.format_rate(order.rate),
            }
        )
    # A BOM so that spreadsheet programs read the file as UTF-8.
    return buffer.getvalue().encode("utf-8-sig")


def latin1_text(text: str) -> str:
    """The PDF's built-in Helvetica covers Latin-1 only: keep what it can draw, spell the rest
    out (NFKD) or replace it, so a label in another script never breaks the document."""
    out = []
    for char in text:
        try:
            char.encode("latin-1")
            out.append(char)
        except UnicodeEncodeError:
            plain = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode()
            out.append(plain or "?")
    return "".join(out)


class DeskPdf(FPDF):
    """An A4 document of the desk (statements, receipts): built-in Helvetica, the title and
    page numbers in the footer."""

    def __init__(self, title: str) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.document_title = title
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(title)
        self.set_author("OTC Desk")
        self.set_creator("OTC Desk")

    def paragraph(self, line: str, size: float = 9, style: str = "", height: float = 5) -> None:
        """One paragraph in Helvetica, wrapped to the page, the next one below it."""
        self.set_font("Helvetica", style=style, size=size)
        self.multi_cell(0, height, latin1_text(line), new_x="LMARGIN", new_y="NEXT")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=7)
        self.set_text_color(110)
        self.cell(0, 5, latin1_text(self.document_title), align="L")
        self.cell(0, 5, f"Page {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)


def render_pdf(statement: Statement) -> bytes:
    """An A4 statement: a summary of every account, each account's movements with the running
    balance, then the orders. Made with fpdf2 and its built-in Helvetica (no font files)."""
    title = f"Statement {statement.customer_name} {statement.date_from} to {statement.date_to}"
    pdf = DeskPdf(latin1_text(title))
    pdf.add_page()
    heading = FontFace(emphasis="BOLD", fill_color=(230, 233, 238))

    text = pdf.paragraph

    def stamp(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M")

    text("Statement of account", size=16, style="B", height=8)
    text(statement.customer_name, size=11, style="B")
    text(
        f"Period {statement.date_from} to {statement.date_to} (both days included). "
        f"Times in {statement.timezone_name}. "
        f"Made {statement.generated_at.strftime('%Y-%m-%d %H:%M %Z')}."
    )
    if statement.is_partial:
        text(f"Closing balances are as of {stamp(statement.ends_at)}, when it was made.")
    pdf.ln(3)

    text("Summary", size=11, style="B", height=7)
    pdf.set_font("Helvetica", size=8)
    with pdf.table(
        col_widths=(70, 18, 30, 30, 30, 30),
        text_align=("LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=heading,
        line_height=5,
    ) as table:
        row = table.row()
        for title_cell in ("Account / wallet", "Currency", "Opening", "In", "Out", "Closing"):
            row.cell(title_cell)
        for account in statement.accounts:
            row = table.row()
            row.cell(latin1_text(account.name))
            row.cell(account.currency)
            for value in (account.opening, account.money_in, account.money_out, account.closing):
                row.cell(_amount(value, account.currency))

    for account in statement.accounts:
        pdf.ln(4)
        if pdf.will_page_break(30):  # keep a heading with the start of its table
            pdf.add_page()
        text(f"{account.name} ({account.currency})", size=10, style="B", height=6)
        pdf.set_font("Helvetica", size=7)
        text(f"{account.resource_type.replace('_', ' ')} {account.resource_id}", size=7, height=4)
        pdf.set_font("Helvetica", size=8)
        with pdf.table(
            col_widths=(28, 102, 30, 30),
            text_align=("LEFT", "LEFT", "RIGHT", "RIGHT"),
            headings_style=heading,
            line_height=4.5,
        ) as table:
            row = table.row()
            for title_cell in ("Booked", "Description", "Amount", "Balance"):
                row.cell(title_cell)
            row = table.row()
            row.cell(f"Start of {statement.date_from}")
            row.cell("Opening balance")
            row.cell("")
            row.cell(_amount(account.opening, account.currency))
            for movement in account.movements:
                row = table.row()
                row.cell(stamp(movement.booked_at))
                row.cell(latin1_text(movement.description))
                row.cell(_amount(movement.amount, account.currency))
                row.cell(_amount(movement.balance, account.currency))
            row = table.row()
            row.cell(
                stamp(statement.ends_at) if statement.is_partial else f"End of {statement.date_to}"
            )
            row.cell("Closing balance")
            row.cell("")
            row.cell(_amount(account.closing, account.currency))

    pdf.ln(4)
    if pdf.will_page_break(30):
        pdf.add_page()
    text("Orders confirmed in the period", size=11, style="B", height=7)
    if not statement.orders:
        text("None.")
    else:
        pdf.set_font("Helvetica", size=7)
        with pdf.table(
            col_widths=(22, 50, 8, 20, 24, 18, 30, 18),
            text_align=("LEFT", "LEFT", "LEFT", "LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
            headings_style=heading,
            line_height=4,
        ) as table:
            row = table.row()
            for title_cell in ("Confirmed", "Order", "Side", "Status", "Source", "Fees"):
                row.cell(title_cell)
            row.cell("Destination")
            row.cell("Rate")
            for order in statement.orders:
                row = table.row()
                row.cell(stamp(order.confirmed_at))
                row.cell(order.order_id)
                row.cell(order.side)
                row.cell(order.status.replace("_", " "))
                row.cell(
                    f"{_amount(order.source_amount, order.source_currency)} {order.source_currency}"
                )
                row.cell(_amount(order.fee, order.source_currency))
                suffix = "" if order.final else " (ind.)"
                row.cell(
                    f"{_amount(order.destination_amount, order.destination_currency)} "
                    f"{order.destination_currency}{suffix}"
                )
                row.cell(money.format_rate(order.rate))
        text("(ind.): indicative figures; the final ones are fixed when the desk approves.", 7)
    return bytes(pdf.output())


def statement_render(statement: Statement, fmt: str) -> bytes:
    return render_pdf(statement) if fmt == "pdf" else render_csv(statement)
