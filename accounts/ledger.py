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

from django.db import connection, transaction
from django.db.models import F, Sum
from django.utils import timezone

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
    *,
    legs: Sequence[Leg],
    kind: str,
    description: str,
    reference_id: uuid.UUID | None = None,
    entry_id: uuid.UUID | None = None,
) -> JournalEntry:
    """Post one balanced entry (``entry_id``: its id, when the caller needs to know it before
    the entry is written). Raises ``InsufficientFunds`` and writes nothing when an account
    that may not go negative would."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for account, amount in legs:
        if amount == 0:
            raise UnbalancedEntry("A posting cannot be zero.")
        if amount != money.quantize_down(amount, account.currency):
            raise UnbalancedEntry(f"{amount} has too many decimals for {account.currency}.")
        totals[account.currency] += amount
    if any(total != 0 for total in totals.values()):
        raise UnbalancedEntry(f"Entry does not balance: {dict(totals)}")

    if connection.vendor == "postgresql":
        return _post_in_one_statement(legs, kind, description, reference_id, entry_id)
    with transaction.atomic():
        ids = sorted({account.pk for account, _ in legs})
        locked = {
            a.pk: a
            for a in LedgerAccount.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        }
        if len(locked) != len(ids):
            raise LedgerAccount.DoesNotExist("A leg names a ledger account that does not exist.")
        net: dict = defaultdict(Decimal)
        for account, amount in legs:
            net[account.pk] += amount
        for pk, delta in net.items():
            account = locked[pk]
            if not account.allow_negative and account.balance + delta < 0:
                raise InsufficientFunds(account_code=account.code)
        entry = JournalEntry.objects.create(
            id=entry_id or uuid.uuid4(),
            kind=kind,
            description=description,
            reference_id=reference_id,
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


# The whole entry in one statement (PostgreSQL). ``locked`` takes the accounts' row locks in
# id order (the LockRows node sits above the sort, so two entries never deadlock) and reads
# each balance as of the lock (under READ COMMITTED a locked row is re-read at its newest
# version); ``ok`` says whether every account that may not go negative stays at or above
# zero. Only then are the balances updated (each UPDATE re-reads the row it holds) and the
# entry and its postings inserted; otherwise nothing is written and no row comes back. The
# database still guards both rules: the balance CHECK and the deferred balanced-entry trigger.
_POST_SQL = """
WITH delta AS (
    SELECT id, sum(amount) AS amount
    FROM unnest(%(accounts)s::uuid[], %(amounts)s::numeric[]) AS leg(id, amount)
    GROUP BY id
),
locked AS MATERIALIZED (
    SELECT account.id, account.code, account.allow_negative, account.balance + delta.amount
        AS after
    FROM accounts_ledgeraccount account JOIN delta ON delta.id = account.id
    ORDER BY account.id
    FOR NO KEY UPDATE OF account
),
ok AS MATERIALIZED (
    SELECT count(*) = (SELECT count(*) FROM delta)
        AND coalesce(bool_and(allow_negative OR after >= 0), true) AS ok,
        (SELECT code FROM locked WHERE NOT allow_negative AND after < 0 ORDER BY id LIMIT 1)
        AS short
    FROM locked
),
balances AS (
    UPDATE accounts_ledgeraccount account SET balance = account.balance + delta.amount
    FROM delta, ok
    WHERE account.id = delta.id AND ok.ok
    RETURNING account.id, account.balance
),
entry AS (
    INSERT INTO accounts_journalentry (id, kind, description, reference_id, created_at)
    SELECT %(entry)s, %(kind)s, %(description)s, %(reference)s, %(now)s FROM ok WHERE ok.ok
    RETURNING id
),
postings AS (
    INSERT INTO accounts_posting (entry_id, ledger_account_id, currency, amount)
    SELECT entry.id, leg.id, leg.currency, leg.amount
    FROM entry, unnest(%(accounts)s::uuid[], %(currencies)s::varchar[], %(amounts)s::numeric[])
        AS leg(id, currency, amount)
)
SELECT ok.ok, ok.short, balances.id, balances.balance FROM ok LEFT JOIN balances ON ok.ok
"""


def _post_in_one_statement(legs, kind, description, reference_id, entry_id) -> JournalEntry:
    entry = JournalEntry(
        id=entry_id or uuid.uuid4(),
        kind=kind,
        description=description,
        reference_id=reference_id,
        created_at=timezone.now(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            _POST_SQL,
            {
                "accounts": [account.pk for account, _ in legs],
                "currencies": [account.currency for account, _ in legs],
                "amounts": [amount for _, amount in legs],
                "entry": entry.id,
                "kind": kind,
                "description": description,
                "reference": reference_id,
                "now": entry.created_at,
            },
        )
        rows = cursor.fetchall()
    ok, short = rows[0][0], rows[0][1]
    if not ok:
        if short is None:
            raise LedgerAccount.DoesNotExist("A leg names a ledger account that does not exist.")
        raise InsufficientFunds(account_code=short)
    balances = {row[2]: row[3] for row in rows}
    for account, _ in legs:
        account.balance = balances[account.pk]
    entry._state.adding = False
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


# Per-owner clearing and fee-income accounts have ids derived from their code, so a caller
# can post to one without reading it first (``create=False``).
CLEARING_IDS = uuid.UUID("0b5c3f8e-8d0e-4f55-9a55-6c1e2d7f0c01")


def owned_account(code: str, currency: str, kind: str, *, create: bool = True) -> LedgerAccount:
    """A desk account kept per owner (``code`` names the owner), with an id derived from
    its code. ``create=False`` returns it without a query (unsaved if it does not exist yet:
    posting to it raises ``LedgerAccount.DoesNotExist``, and nothing is written)."""
    fields = {"currency": currency, "kind": kind, "allow_negative": False}
    if not create:
        return LedgerAccount(id=uuid.uuid5(CLEARING_IDS, code), code=code, **fields)
    account, _ = LedgerAccount.objects.get_or_create(
        code=code, defaults={"id": uuid.uuid5(CLEARING_IDS, code), **fields}
    )
    return account


def fee_income_account(
    currency: str, owner: uuid.UUID | None = None, *, create: bool = True
) -> LedgerAccount:
    """Where the desk's fee income in ``currency`` is booked: per customer (``owner``), so
    that customers paying fees at once do not all wait on one shared row; without ``owner``
    the desk-wide account older orders booked to. The desk's fee income is the sum of all of
    them (``fee_income_total``)."""
    if owner is None:
        return system_account(f"fees:{currency}", currency, LedgerAccount.Kind.FEES)
    code = f"fees:{currency}:{owner}"
    return owned_account(code, currency, LedgerAccount.Kind.FEES, create=create)


def fee_income_total(currency: str) -> Decimal:
    total = LedgerAccount.objects.filter(kind=LedgerAccount.Kind.FEES, currency=currency).aggregate(
        total=Sum("balance")
    )["total"]
    return total or Decimal(0)


def clearing_account(
    currency: str, owner: uuid.UUID | None = None, *, create: bool = True
) -> LedgerAccount:
    """Money in transit inside the desk. ``owner`` (a customer's id) gives that customer's own
    clearing account, so that customers confirming at once do not all wait on one shared row;
    without it, the desk-wide one (which older orders used). ``create=False`` returns the
    owner's account without a query (unsaved if it does not exist yet: posting to it raises
    ``LedgerAccount.DoesNotExist``, and nothing is written)."""
    if owner is None:
        return system_account(f"clearing:{currency}", currency, LedgerAccount.Kind.CLEARING)
    return owned_account(
        f"clearing:{currency}:{owner}", currency, LedgerAccount.Kind.CLEARING, create=create
    )


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
