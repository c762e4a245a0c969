"""Posting to the double-entry ledger.

``post_entry`` is the only way money moves. It locks the ledger accounts it touches in a
fixed order (by id, so two entries never deadlock), refuses an entry whose legs do not sum
to zero per currency, refuses to take any non-negative account below zero, and updates the
cached balances in the same transaction as the postings.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal

from django.db import transaction
from django.db.models import F

from . import money
from .errors import InsufficientFunds
from .models import JournalEntry, LedgerAccount, Posting

Leg = tuple[LedgerAccount, Decimal]


class UnbalancedEntry(ValueError):
    pass


def transfer_legs(source: LedgerAccount, destination: LedgerAccount, amount: Decimal) -> list[Leg]:
    """The two legs of a plain transfer of ``amount`` from ``source`` to ``destination``."""
    return [(source, -amount), (destination, amount)]


def post_entry(
    *, legs: Sequence[Leg], kind: str, description: str, reference_id: uuid.UUID | None = None
) -> JournalEntry:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in legs:
        if amount == 0:
            raise UnbalancedEntry("A posting cannot be zero.")
        if amount != money.quantize_down(amount, account.currency):
            raise UnbalancedEntry(f"{amount} has too many decimals for {account.currency}.")
        totals[account.currency] += amount
    if any(total != 0 for total in totals.values()):
        raise UnbalancedEntry(f"Entry does not balance: {dict(totals)}")

    with transaction.atomic():
        ids = sorted({account.pk for account, _ in legs})
        locked = {
            a.pk: a
            for a in LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        net: dict = defaultdict(Decimal)
        for account, amount in legs:
            net[account.pk] += amount
        for pk, delta in net.items():
            account = locked[pk]
            if not account.allow_negative and account.balance + delta < 0:
                raise InsufficientFunds(account_code=account.code)
        entry = JournalEntry.objects.create(
            kind=kind, description=description, reference_id=reference_id
        )
        Posting.objects.bulk_create(
            Posting(
                entry=entry, ledger_account_id=account.pk, currency=account.currency, amount=amount
            )
            for account, amount in legs
        )
        for pk, delta in net.items():
            LedgerAccount.objects.filter(pk=pk).update(balance=F("balance") + delta)
            locked[pk].balance += delta
        for account, _ in legs:
            account.balance = locked[account.pk].balance
    return entry


def system_account(code: str, currency: str, kind: str) -> LedgerAccount:
    """A desk-wide ledger account (the outside world, clearing), created on first use."""
    account, _ = LedgerAccount.objects.get_or_create(
        code=code,
        defaults={
            "currency": currency,
            "kind": kind,
            "allow_negative": kind == LedgerAccount.Kind.EXTERNAL,
        },
    )
    return account


def hold_account(account: LedgerAccount) -> LedgerAccount:
    """The account that keeps what orders have reserved of ``account``'s money, created on
    first use (code ``<account code>:held``). Use ``account.hold_account`` when it was
    selected with ``select_related("hold_account")``; this looks it up or creates it."""
    try:
        return account.hold_account
    except LedgerAccount.DoesNotExist:
        pass
    held, _ = LedgerAccount.objects.get_or_create(
        held_for=account,
        defaults={
            "code": f"{account.code}:held",
            "currency": account.currency,
            "kind": LedgerAccount.Kind.HELD,
        },
    )
    account.hold_account = held
    return held


def held_balance(account: LedgerAccount) -> Decimal:
    """What orders hold of ``account`` now (0 without a hold account), from an
    ``account`` loaded with ``select_related("hold_account")`` or, failing that, one query."""
    try:
        return account.hold_account.balance
    except LedgerAccount.DoesNotExist:
        return Decimal(0)


def hold_place(
    account: LedgerAccount, amount: Decimal, *, reference_id: uuid.UUID, description: str
) -> JournalEntry:
    """Reserve ``amount`` of ``account``'s available balance: available -> held, one entry,
    under the accounts' row locks. Raises ``InsufficientFunds`` when less is available."""
    return post_entry(
        legs=transfer_legs(account, hold_account(account), amount),
        kind=JournalEntry.Kind.HOLD,
        description=description,
        reference_id=reference_id,
    )


def hold_release(
    account: LedgerAccount, amount: Decimal, *, reference_id: uuid.UUID, description: str
) -> JournalEntry:
    """Give a reserved ``amount`` back to ``account``'s available balance: held -> available.
    The caller makes sure one hold is released once (the order records what it holds)."""
    return post_entry(
        legs=transfer_legs(hold_account(account), account, amount),
        kind=JournalEntry.Kind.HOLD_RELEASE,
        description=description,
        reference_id=reference_id,
    )


def external_account(currency: str) -> LedgerAccount:
    return system_account(f"external:{currency}", currency, LedgerAccount.Kind.EXTERNAL)


def clearing_account(currency: str) -> LedgerAccount:
    return system_account(f"clearing:{currency}", currency, LedgerAccount.Kind.CLEARING)


def deposit_reference(entry: JournalEntry) -> str:
    """The provider-side reference of a deposit or withdrawal: its journal entry."""
    return f"deposit:{entry.pk}"


def deposit(account: LedgerAccount, amount: Decimal, *, description: str) -> JournalEntry:
    """Money arriving from outside the desk (a bank transfer in, a chain deposit). The
    simulated provider of the account or wallet records it in its own books too, under
    ``deposit:<entry id>``, so a day with deposits reconciles."""
    from .providers import provider_credit

    with transaction.atomic():
        entry = post_entry(
            legs=transfer_legs(external_account(account.currency), account, amount),
            kind=JournalEntry.Kind.DEPOSIT,
            description=description,
        )
        provider_credit(account, amount, deposit_reference(entry))
    return entry


def withdraw(account: LedgerAccount, amount: Decimal, *, description: str) -> JournalEntry:
    """Money leaving the desk to the outside (a payout elsewhere, a chain withdrawal): the
    reverse of ``deposit``, at the simulated provider too."""
    from .providers import provider_debit

    with transaction.atomic():
        entry = post_entry(
            legs=transfer_legs(account, external_account(account.currency), amount),
            kind=JournalEntry.Kind.DEPOSIT,
            description=description,
        )
        provider_debit(account, amount, deposit_reference(entry))
    return entry
