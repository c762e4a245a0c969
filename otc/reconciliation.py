"""Reconciliation: the desk's books against the bank's and the custodian's, one day at a time.

For every position (a fiat account at the bank; a wallet and asset at the custodian) and day
(the desk's time zone) three comparisons are made:

1. **Movements, by reference.** The provider's statement lines against what the desk recorded:
   its settled provider transfers (``order:<id>:<step>``) and deposits (``deposit:<entry>``).
   Same reference and amount: matched. Different amount: ``amount_mismatch``. Only the desk
   has it: ``missing_in_provider``. Only the provider has it (or the desk's step is not
   settled): ``missing_in_ledger``. A reference found on the other side on another day (a call
   made just before midnight) counts as matched.
2. **Ledger entries.** Every journal entry of the day touching the position must be explained
   by a provider movement (a settled transfer's entry, a deposit) or be internal (the buy's
   EUR into clearing at confirm and back from clearing). Anything else (a manual posting, say)
   moved money in the books only: ``missing_in_provider``.
3. **Closing balance.** The provider's closing balance against the ledger's, corrected for
   what the ledger books elsewhere by design (fees at fee income, a buy's EUR in clearing
   until the bank settles the debit): ``balance_mismatch``.

A wallet's position is its ledger account **and** that account's hold account: a confirmed
sell's USDC is held (available -> held, a ledger-only entry inside the position) but stays in
the wallet on chain until the collect sends it, so available + held is what the custodian
holds, and a hold or its release is never a break.

A report stores the counts and one row per break. A newer report for the same day supersedes
the older one (its open breaks are closed as superseded).
"""

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from accounts.errors import error
from accounts.ledger import deposit_reference
from accounts.models import FiatAccount, JournalEntry, LedgerAccount, Posting
from accounts.providers import fiat_rail
from accounts.simulated import Statement, day_window, desk_timezone
from wallets.models import Wallet, WalletHolding
from wallets.providers import custody

from .models import ProviderTransfer, ReconciliationBreak, ReconciliationReport

logger = logging.getLogger(__name__)

Kind = ReconciliationBreak.Kind
Provider = ProviderTransfer.Provider
OPENING_PREFIX = "opening:"  # books opened from the ledger when the simulator arrived


@dataclass
class Position:
    provider: str
    holder: object  # FiatAccount or Wallet
    asset: str
    ledger_account: LedgerAccount
    hold_account: LedgerAccount | None = None  # what orders hold of it (a sell's USDC)

    @property
    def ledger_accounts(self) -> list[LedgerAccount]:
        return [a for a in (self.ledger_account, self.hold_account) if a is not None]

    @property
    def label(self) -> str:
        owner = self.holder.customer.name
        if self.provider == Provider.BANK:
            return f"{owner} · {self.holder.label} ({self.asset})"
        return f"{owner} · {self.holder.label} {self.asset} ({self.holder.network})"

    def statement(self, day: date) -> Statement:
        if self.provider == Provider.BANK:
            return fiat_rail().statement(self.holder, day)
        return custody().statement(self.holder, day, self.asset)

    def lookup(self, reference: str):
        return (fiat_rail() if self.provider == Provider.BANK else custody()).lookup(reference)

    def transfers(self):
        """The desk's transfers touching this position."""
        if self.provider == Provider.BANK:
            touching = Q(source_account=self.holder) | Q(destination_account=self.holder)
        else:
            touching = Q(source_wallet=self.holder) | Q(destination_wallet=self.holder)
        return ProviderTransfer.objects.filter(touching, provider=self.provider, asset=self.asset)

    def signed(self, transfer: ProviderTransfer) -> Decimal:
        incoming = transfer.destination_account_id or transfer.destination_wallet_id
        return transfer.amount if incoming == self.holder.pk else -transfer.amount


def positions() -> list[Position]:
    holds = {
        held.held_for_id: held
        for held in LedgerAccount.objects.filter(
            held_for__isnull=False, kind=LedgerAccount.Kind.HELD
        )
    }
    found = [
        Position(
            Provider.BANK,
            account,
            account.currency,
            account.ledger_account,
            holds.get(account.ledger_account_id),
        )
        for account in FiatAccount.objects.select_related("customer", "ledger_account")
    ]
    for wallet in Wallet.objects.select_related("customer", "ledger_account"):
        found.append(
            Position(
                Provider.CUSTODY,
                wallet,
                "USDC",
                wallet.ledger_account,
                holds.get(wallet.ledger_account_id),
            )
        )
    for holding in WalletHolding.objects.select_related("wallet__customer", "ledger_account"):
        found.append(
            Position(
                Provider.CUSTODY,
                holding.wallet,
                holding.asset_id,
                holding.ledger_account,
                holds.get(holding.ledger_account_id),
            )
        )
    return found


HOLD_KINDS = (JournalEntry.Kind.HOLD, JournalEntry.Kind.HOLD_RELEASE)


def _internal(entry_ids_on_position) -> set:
    """Entries that move money inside the desk only: a buy's source into clearing at confirm,
    a refund from clearing (the bank never moved it), and holds and their releases (available
    <-> held inside one position)."""
    holds = set(
        JournalEntry.objects.filter(pk__in=entry_ids_on_position, kind__in=HOLD_KINDS).values_list(
            "pk", flat=True
        )
    )
    clearing = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.CLEARING)
    with_clearing = set(
        Posting.objects.filter(entry_id__in=entry_ids_on_position, ledger_account__in=clearing)
        .values_list("entry_id", flat=True)
        .distinct()
    )
    kinds = dict(JournalEntry.objects.filter(pk__in=with_clearing).values_list("pk", "kind"))
    return holds | {
        pk
        for pk, kind in kinds.items()
        if kind in (JournalEntry.Kind.ORDER_DEBIT, JournalEntry.Kind.REFUND)
    }


@dataclass
class _Found:
    kind: str
    reference: str = ""
    provider_reference: str = ""
    ledger_amount: Decimal | None = None
    provider_amount: Decimal | None = None
    order_id: object = None
    detail: str = ""


def _reconcile_position(position: Position, day: date) -> tuple[int, list[_Found]]:
    start, end = day_window(day)
    statement = position.statement(day)
    breaks: list[_Found] = []
    matched = 0

    # 1. movements by reference
    ours: dict[str, tuple[Decimal, object]] = {}
    for transfer in position.transfers().filter(
        state=ProviderTransfer.State.SETTLED, settled_at__gte=start, settled_at__lt=end
    ):
        ours[transfer.reference] = (position.signed(transfer), transfer.order_id)
    day_postings = Posting.objects.filter(
        ledger_account__in=position.ledger_accounts,
        entry__created_at__gte=start,
        entry__created_at__lt=end,
    ).select_related("entry")
    deposits = {}
    for posting in day_postings:
        if posting.entry.kind == JournalEntry.Kind.DEPOSIT:
            deposits[posting.entry_id] = posting
            ours[deposit_reference(posting.entry)] = (posting.amount, None)
    theirs = {line.reference: line for line in statement.lines}

    for reference, line in theirs.items():
        if reference.startswith(OPENING_PREFIX):
            matched += 1
            continue
        if reference in ours:
            amount, order_id = ours[reference]
            if amount == line.amount:
                matched += 1
            else:
                breaks.append(
                    _Found(
                        Kind.AMOUNT_MISMATCH,
                        reference,
                        line.provider_reference,
                        amount,
                        line.amount,
                        order_id,
                        "The provider moved a different amount than the desk recorded.",
                    )
                )
            continue
        transfer = ProviderTransfer.objects.filter(reference=reference).first()
        if transfer is not None and transfer.state == ProviderTransfer.State.SETTLED:
            if position.signed(transfer) == line.amount:
                matched += 1  # recorded by the desk on another day (around midnight)
                continue
            breaks.append(
                _Found(
                    Kind.AMOUNT_MISMATCH,
                    reference,
                    line.provider_reference,
                    position.signed(transfer),
                    line.amount,
                    transfer.order_id,
                    "The provider moved a different amount than the desk recorded.",
                )
            )
            continue
        if (
            reference.startswith("deposit:")
            and JournalEntry.objects.filter(
                pk=reference.removeprefix("deposit:"), kind=JournalEntry.Kind.DEPOSIT
            ).exists()
        ):
            matched += 1  # booked by the desk on another day
            continue
        detail = (
            f"The provider did this {transfer.get_step_display().lower()}; the desk's step is "
            f"{transfer.state}."
            if transfer is not None
            else "The provider shows a movement the desk has no record of."
        )
        breaks.append(
            _Found(
                Kind.MISSING_IN_LEDGER,
                reference,
                line.provider_reference,
                None,
                line.amount,
                transfer.order_id if transfer else None,
                detail,
            )
        )

    for reference, (amount, order_id) in ours.items():
        if reference in theirs:
            continue
        record = position.lookup(reference)
        if record is not None:
            signed = (
                record.amount if record.destination_id == position.holder.pk else -record.amount
            )
            if signed == amount:
                matched += 1  # on the provider's statement of another day
                continue
            breaks.append(
                _Found(
                    Kind.AMOUNT_MISMATCH,
                    reference,
                    record.provider_reference,
                    amount,
                    signed,
                    order_id,
                    "The provider moved a different amount than the desk recorded.",
                )
            )
            continue
        breaks.append(
            _Found(
                Kind.MISSING_IN_PROVIDER,
                reference,
                "",
                amount,
                None,
                order_id,
                "The desk recorded this movement; the provider has no record of it.",
            )
        )

    # 2. every ledger entry of the day on this position is explained
    entry_ids = {posting.entry_id for posting in day_postings}
    explained = set(
        ProviderTransfer.objects.filter(
            journal_entry_id__in=entry_ids, state=ProviderTransfer.State.SETTLED
        ).values_list("journal_entry_id", flat=True)
    )
    explained |= set(deposits) | _internal(entry_ids)
    for posting in day_postings:
        if posting.entry_id in explained:
            continue
        entry = posting.entry
        breaks.append(
            _Found(
                Kind.MISSING_IN_PROVIDER,
                f"entry:{entry.pk}",
                "",
                posting.amount,
                None,
                None,
                f"A ledger entry ({entry.get_kind_display()}: {entry.description[:150]}) moved "
                "money in the books with no provider movement.",
            )
        )

    # 3. closing balances
    expected = _expected_provider_balance(position, end)
    if expected != statement.closing:
        breaks.append(
            _Found(
                Kind.BALANCE_MISMATCH,
                "",
                "",
                expected,
                statement.closing,
                None,
                "The provider's closing balance differs from the desk's books.",
            )
        )
    return matched, breaks


def _expected_provider_balance(position: Position, end: datetime) -> Decimal:
    """What the provider should hold for ``position`` at ``end`` according to the desk: the
    ledger balance, plus for each settled transfer what the provider moved beyond the posting
    on this position (fees the ledger books at fee income; a debit whose customer side was
    booked at confirm), less the desk-internal clearing postings."""
    postings = Posting.objects.filter(
        ledger_account__in=position.ledger_accounts, entry__created_at__lt=end
    )
    ledger = postings.aggregate(total=Sum("amount"))["total"] or Decimal(0)
    settled = list(
        position.transfers().filter(state=ProviderTransfer.State.SETTLED, settled_at__lt=end)
    )
    on_position = dict(
        postings.filter(entry_id__in=[t.journal_entry_id for t in settled])
        .values("entry_id")
        .annotate(total=Sum("amount"))
        .values_list("entry_id", "total")
    )
    adjustment = sum(
        (position.signed(t) - on_position.get(t.journal_entry_id, Decimal(0)) for t in settled),
        Decimal(0),
    )
    entry_ids = set(postings.values_list("entry_id", flat=True))
    internal = _internal(entry_ids)
    internal_total = (
        postings.filter(entry_id__in=internal).aggregate(total=Sum("amount"))["total"] or 0
    )
    return ledger + adjustment - Decimal(internal_total)


def reconcile(day: date, *, triggered_by: str = "") -> ReconciliationReport:
    """Reconcile every position for ``day`` and store the report. Raises
    ``ProviderUnavailable`` when a provider's statement cannot be had (nothing is stored)."""
    results = []
    for position in positions():
        matched, found = _reconcile_position(position, day)
        results.append((position, matched, found))
    with transaction.atomic():
        report = ReconciliationReport.objects.create(day=day, triggered_by=triggered_by)
        rows = [
            ReconciliationBreak(
                report=report,
                kind=item.kind,
                provider=position.provider,
                position=position.label,
                asset=position.asset,
                reference=item.reference,
                provider_reference=item.provider_reference,
                ledger_amount=item.ledger_amount,
                provider_amount=item.provider_amount,
                order_id=item.order_id,
                detail=item.detail[:300],
            )
            for position, _, found in results
            for item in found
        ]
        ReconciliationBreak.objects.bulk_create(rows)
        report.positions = len(results)
        report.matched = sum(matched for _, matched, _ in results)
        report.break_count = len(rows)
        report.finished_at = timezone.now()
        report.save()
        ReconciliationBreak.objects.filter(report__day=day, resolved_at__isnull=True).exclude(
            report=report
        ).update(
            resolved_at=timezone.now(),
            resolution=f"Superseded by the report of {report.started_at:%Y-%m-%d %H:%M:%S}.",
        )
    if rows:
        logger.warning("reconciliation of %s: %d breaks", day, len(rows))
    return report


def desk_today() -> date:
    return timezone.now().astimezone(desk_timezone()).date()


def reconcile_yesterday_if_due() -> ReconciliationReport | None:
    """The daily run: yesterday (desk time), once, after ``OTC_RECONCILE_HOUR``."""
    now = timezone.now().astimezone(desk_timezone())
    if now.hour < settings.OTC_RECONCILE_HOUR:
        return None
    yesterday = now.date() - timedelta(days=1)
    if ReconciliationReport.objects.filter(day=yesterday).exists():
        return None
    return reconcile(yesterday, triggered_by="system:beat")


def unresolved_breaks():
    return ReconciliationBreak.objects.filter(resolved_at__isnull=True)


def break_resolve(*, break_id: int, user: AbstractBaseUser, note: str) -> ReconciliationBreak:
    """An operator closes a break with what was found and done."""
    note = (note or "").strip()
    if not note:
        raise error("RESOLUTION_REQUIRED", 400, "Say what you found and did.")
    with transaction.atomic():
        item = ReconciliationBreak.objects.select_for_update().filter(pk=break_id).first()
        if item is None:
            raise error("BREAK_NOT_FOUND", 404, "No such reconciliation break.")
        if item.resolved_at is not None:
            raise error("BREAK_ALREADY_RESOLVED", 409, "This break is already resolved.")
        item.resolved_at = timezone.now()
        item.resolved_by = user
        item.resolution = note
        item.save(update_fields=["resolved_at", "resolved_by", "resolution"])
    return item
