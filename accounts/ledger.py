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
                raise InsufficientFunds(details={"account": account.code})
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
