"""The double-entry ledger: the service refuses what does not add up, PostgreSQL refuses it
again underneath, and every order's money can be read back by its id."""

import uuid
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Sum

from accounts import money
from accounts.errors import InsufficientFunds
from accounts.ledger import (
    UnbalancedEntry,
    clearing_account,
    deposit,
    external_account,
    post_entry,
    transfer_legs,
)
from accounts.models import JournalEntry, LedgerAccount, Posting
from otc import services
from otc.models import Channel, Side, Status
from tests.conftest import assert_ledger_invariants

Kind = JournalEntry.Kind


def ledger(owner) -> LedgerAccount:
    """The ledger account of a fiat account or wallet, fresh from the database."""
    return LedgerAccount.objects.get(pk=owner.ledger_account_id)


def posted_sum(account: LedgerAccount) -> Decimal:
    return Posting.objects.filter(ledger_account=account).aggregate(s=Sum("amount"))["s"] or 0


def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("database guards exist on PostgreSQL only")


# --- the service ----------------------------------------------------------------------------


@pytest.mark.django_db
class TestPostEntry:
    def test_a_transfer_moves_the_amount_and_balances_equal_the_postings(self, acme):
        source, destination = ledger(acme.eur_master), ledger(acme.eur_secondary)
        entry = post_entry(
            legs=transfer_legs(source, destination, Decimal("123.45")),
            kind=Kind.DEPOSIT,
            description="between own accounts",
        )
        assert ledger(acme.eur_master).balance == Decimal("250000.00") - Decimal("123.45")
        assert ledger(acme.eur_secondary).balance == Decimal("50000.00") + Decimal("123.45")
        assert sorted(entry.postings.values_list("amount", flat=True)) == [
            Decimal("-123.45"),
            Decimal("123.45"),
        ]
        for account in (source, destination):
            assert ledger(account.fiat_account).balance == posted_sum(account)
        # The in-memory objects the caller holds are refreshed too.
        assert source.balance == ledger(acme.eur_master).balance

    def test_unbalanced_legs_are_refused_and_nothing_is_posted(self, acme):
        before = JournalEntry.objects.count()
        with pytest.raises(UnbalancedEntry):
            post_entry(
                legs=[(ledger(acme.eur_master), Decimal("-10.00")), (ledger(acme.usd), Decimal(0))],
                kind=Kind.DEPOSIT,
                description="zero leg",
            )
        with pytest.raises(UnbalancedEntry):
            post_entry(
                legs=[
                    (ledger(acme.eur_master), Decimal("-10.00")),
                    (ledger(acme.eur_secondary), Decimal("9.99")),
                ],
                kind=Kind.DEPOSIT,
                description="one cent short",
            )
        assert JournalEntry.objects.count() == before
        assert ledger(acme.eur_master).balance == Decimal("250000.00")

    def test_a_zero_leg_is_refused_even_when_the_rest_balances(self, acme):
        with pytest.raises(UnbalancedEntry, match="zero"):
            post_entry(
                legs=[
                    *transfer_legs(ledger(acme.eur_master), ledger(acme.eur_secondary), Decimal(5)),
                    (ledger(acme.eur_secondary), Decimal("0.00")),
                ],
                kind=Kind.DEPOSIT,
                description="zero leg",
            )

    def test_legs_must_balance_per_currency_not_in_total(self, acme):
        # -10 EUR and +10 USDC sum to zero as numbers, but not per currency.
        with pytest.raises(UnbalancedEntry):
            post_entry(
                legs=[
                    (ledger(acme.eur_master), Decimal("-10.00")),
                    (ledger(acme.wallet), Decimal("10.000000")),
                ],
                kind=Kind.DEPOSIT,
                description="cross-currency",
            )

    def test_amounts_with_more_decimals_than_the_currency_are_refused(self, acme):
        with pytest.raises(UnbalancedEntry, match="decimals"):
            post_entry(
                legs=transfer_legs(
                    ledger(acme.eur_master), ledger(acme.eur_secondary), Decimal("0.001")
                ),
                kind=Kind.DEPOSIT,
                description="sub-cent",
            )

    def test_an_entry_in_two_currencies_balances_per_currency(self, acme, desk):
        entry = post_entry(
            legs=[
                *transfer_legs(ledger(acme.wallet), ledger(desk["usdc"]), Decimal("108.000000")),
                *transfer_legs(ledger(desk["eur"]), ledger(acme.eur_master), Decimal("100.00")),
            ],
            kind=Kind.ORDER_SETTLEMENT,
            description="a sell's two legs",
        )
        per_currency = dict(
            entry.postings.values("currency").annotate(t=Sum("amount")).values_list("currency", "t")
        )
        assert per_currency == {money.EUR: 0, money.USDC: 0}

    def test_overdraft_is_refused_and_nothing_is_posted(self, acme):
        entries, postings = JournalEntry.objects.count(), Posting.objects.count()
        with pytest.raises(InsufficientFunds) as caught:
            post_entry(
                legs=transfer_legs(
                    ledger(acme.eur_secondary), ledger(acme.eur_master), Decimal("50000.01")
                ),
                kind=Kind.DEPOSIT,
                description="more than there is",
            )
        # The code is for logs; details reach customers and never name a ledger account.
        assert caught.value.account_code == ledger(acme.eur_secondary).code
        assert caught.value.details is None
        assert (JournalEntry.objects.count(), Posting.objects.count()) == (entries, postings)
        assert ledger(acme.eur_secondary).balance == Decimal("50000.00")
        assert ledger(acme.eur_master).balance == Decimal("250000.00")

    def test_a_leg_on_a_missing_account_is_refused_and_nothing_is_posted(self, acme):
        entries = JournalEntry.objects.count()
        missing = LedgerAccount(id=uuid.uuid4(), code="nowhere", currency=money.EUR)
        with pytest.raises(LedgerAccount.DoesNotExist):
            post_entry(
                legs=transfer_legs(ledger(acme.eur_master), missing, Decimal("1.00")),
                kind=Kind.DEPOSIT,
                description="to an account that does not exist",
            )
        # Refused before anything was written, without a database error: the transaction is
        # still usable.
        assert JournalEntry.objects.count() == entries
        assert ledger(acme.eur_master).balance == Decimal("250000.00")

    def test_an_account_named_in_two_legs_moves_by_their_sum(self, acme):
        master, secondary = ledger(acme.eur_master), ledger(acme.eur_secondary)
        entry = post_entry(
            legs=[
                (master, Decimal("-10.00")),
                (secondary, Decimal("4.00")),
                (secondary, Decimal("6.00")),
            ],
            kind=Kind.DEPOSIT,
            description="split credit",
        )
        assert Posting.objects.filter(entry=entry).count() == 3
        assert ledger(acme.eur_master).balance == Decimal("249990.00")
        assert ledger(acme.eur_secondary).balance == Decimal("50010.00")
        # The objects passed in carry the balances the entry left.
        assert (master.balance, secondary.balance) == (Decimal("249990.00"), Decimal("50010.00"))

    def test_an_account_can_be_emptied_to_exactly_zero(self, acme):
        post_entry(
            legs=transfer_legs(
                ledger(acme.eur_secondary), ledger(acme.eur_master), Decimal("50000.00")
            ),
            kind=Kind.DEPOSIT,
            description="sweep",
        )
        assert ledger(acme.eur_secondary).balance == 0

    def test_the_outside_world_may_go_negative_and_balances_the_books(self, acme):
        outside = external_account(money.EUR)
        assert outside.allow_negative
        deposit(ledger(acme.eur_secondary), Decimal("10.00"), description="wire in")
        assert ledger(acme.eur_secondary).balance == Decimal("50010.00")
        assert LedgerAccount.objects.get(pk=outside.pk).balance < 0
        assert_ledger_invariants()

    def test_each_customer_has_their_own_clearing_account_with_a_derived_id(self, acme, globex):
        mine = clearing_account(money.EUR, owner=acme.customer.pk)
        theirs = clearing_account(money.EUR, owner=globex.customer.pk)
        assert mine.pk != theirs.pk and mine.pk != clearing_account(money.EUR).pk
        assert mine.kind == LedgerAccount.Kind.CLEARING and not mine.allow_negative
        # Known without a query, and the same row once it exists.
        assert clearing_account(money.EUR, owner=acme.customer.pk, create=False).pk == mine.pk
        assert clearing_account(money.EUR, owner=acme.customer.pk).pk == mine.pk

    def test_clearing_may_not_go_negative(self, acme):
        with pytest.raises(InsufficientFunds):
            post_entry(
                legs=transfer_legs(
                    clearing_account(money.EUR), ledger(acme.eur_master), Decimal("1.00")
                ),
                kind=Kind.REFUND,
                description="refund from an empty clearing account",
            )

    def test_every_balance_equals_the_sum_of_its_postings(self, acme, globex, desk):
        for account in LedgerAccount.objects.all():
            assert account.balance == posted_sum(account), account.code

    def test_posted_rows_cannot_be_changed_through_the_orm(self, acme):
        entry = JournalEntry.objects.filter(
            postings__ledger_account=ledger(acme.eur_master)
        ).first()
        posting = entry.postings.first()
        entry.description = "rewritten"
        with pytest.raises(ValidationError):
            entry.save()
        with pytest.raises(ValidationError):
            entry.delete()
        posting.amount = Decimal("1.00")
        with pytest.raises(ValidationError):
            posting.save()
        with pytest.raises(ValidationError):
            posting.delete()


# --- the database guards (PostgreSQL) -------------------------------------------------------


@pytest.mark.django_db
class TestDatabaseRefusesChanges:
    @pytest.fixture(autouse=True)
    def _pg(self):
        postgresql_only()

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE accounts_posting SET amount = amount * 2 WHERE id = %s",
            "DELETE FROM accounts_posting WHERE id = %s",
        ],
    )
    def test_postings_cannot_be_updated_or_deleted(self, acme, sql):
        posting = Posting.objects.filter(ledger_account=ledger(acme.eur_master)).first()
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [posting.pk])
        assert Posting.objects.get(pk=posting.pk).amount == posting.amount

    @pytest.mark.parametrize(
        "sql",
        [
            "UPDATE accounts_journalentry SET description = 'rewritten' WHERE id = %s",
            "DELETE FROM accounts_journalentry WHERE id = %s",
        ],
    )
    def test_entries_cannot_be_updated_or_deleted(self, acme, sql):
        entry = JournalEntry.objects.first()
        with (
            pytest.raises(DatabaseError, match="immutable"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])
        assert JournalEntry.objects.get(pk=entry.pk).description == entry.description

    def test_the_queryset_bulk_update_is_refused_too(self, acme):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            Posting.objects.filter(ledger_account=ledger(acme.eur_master)).update(
                amount=Decimal("1.00")
            )

    def test_a_balance_cannot_be_written_below_zero(self, acme):
        with pytest.raises(IntegrityError), transaction.atomic():
            LedgerAccount.objects.filter(pk=acme.eur_master.ledger_account_id).update(
                balance=Decimal("-0.01")
            )
        assert ledger(acme.eur_master).balance == Decimal("250000.00")
        # The outside world may go negative: that is where deposits come from.
        assert external_account("EUR").balance < 0


@pytest.mark.django_db(transaction=True)
class TestDatabaseRefusesUnbalancedEntriesAtCommit:
    """The balance check is a deferred constraint trigger: it fires at COMMIT, so these tests
    run in real transactions."""

    @pytest.fixture(autouse=True)
    def _pg(self):
        postgresql_only()

    def _insert(self, cursor, entry_id, legs) -> None:
        cursor.execute(
            "INSERT INTO accounts_journalentry (id, kind, description, created_at) "
            "VALUES (%s, 'deposit', 'raw sql', now())",
            [entry_id],
        )
        for account, amount in legs:
            cursor.execute(
                "INSERT INTO accounts_posting (entry_id, ledger_account_id, currency, amount) "
                "VALUES (%s, %s, %s, %s)",
                [entry_id, account.pk, account.currency, amount],
            )

    def test_an_unbalanced_entry_inserted_with_raw_sql_fails_at_commit(self, acme):
        entry_id = uuid.uuid4()
        with (
            pytest.raises(DatabaseError, match="does not balance"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            self._insert(cursor, entry_id, [(ledger(acme.eur_master), Decimal("100.00"))])
            # Inside the transaction the row is there: the check waits for COMMIT.
            cursor.execute("SELECT count(*) FROM accounts_posting WHERE entry_id = %s", [entry_id])
            assert cursor.fetchone()[0] == 1
        assert not JournalEntry.objects.filter(pk=entry_id).exists()
        assert not Posting.objects.filter(entry_id=entry_id).exists()

    def test_an_entry_balanced_in_total_but_not_per_currency_fails_at_commit(self, acme):
        entry_id = uuid.uuid4()
        with (
            pytest.raises(DatabaseError, match="does not balance"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            self._insert(
                cursor,
                entry_id,
                [
                    (ledger(acme.eur_master), Decimal("-10.00")),
                    (ledger(acme.wallet), Decimal("10.00")),
                ],
            )
        assert not JournalEntry.objects.filter(pk=entry_id).exists()

    def test_a_balanced_entry_inserted_with_raw_sql_commits(self, acme):
        entry_id = uuid.uuid4()
        with transaction.atomic(), connection.cursor() as cursor:
            self._insert(
                cursor,
                entry_id,
                [
                    (ledger(acme.eur_master), Decimal("-10.00")),
                    (ledger(acme.eur_secondary), Decimal("10.00")),
                ],
            )
        assert Posting.objects.filter(entry_id=entry_id).count() == 2
        # Raw SQL bypasses the cached balances; the service is the only way money moves.
        # Put them back in line so the ledger invariants still hold.
        LedgerAccount.objects.filter(pk=acme.eur_master.ledger_account_id).update(
            balance=Decimal("249990.00")
        )
        LedgerAccount.objects.filter(pk=acme.eur_secondary.ledger_account_id).update(
            balance=Decimal("50010.00")
        )


# --- an order's money trail -----------------------------------------------------------------


def trail(order) -> list[tuple[str, dict]]:
    """The order's journal entries, oldest first, each as (kind, {ledger account id: amount})."""
    entries = JournalEntry.objects.filter(reference_id=order.pk).order_by("created_at")
    return [
        (entry.kind, {p.ledger_account_id: p.amount for p in entry.postings.all()})
        for entry in entries.prefetch_related("postings")
    ]


def api_actor(world):
    return services.Actor.for_user(world.user, Channel.API)


def confirmed(world, side, amount, capture):
    order = services.quote_create(
        customer=world.customer,
        side=side,
        fiat_account_id=world.eur_master.pk,
        wallet_id=world.wallet.pk,
        amount=Decimal(amount),
        actor=api_actor(world),
    )
    with capture(execute=True):
        services.order_confirm(
            order_id=order.pk, customer=world.customer, side=side, actor=api_actor(world)
        )
    order.refresh_from_db()
    return order


@pytest.mark.django_db
class TestOrderMoneyTrail:
    def test_a_completed_buy(self, acme, desk, operator, django_capture_on_commit_callbacks):
        order = confirmed(acme, Side.BUY, "1000.00", django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            services.order_approve(
                order_id=order.pk, actor=services.Actor.for_user(operator, "ops")
            )
        order.refresh_from_db()
        assert order.status == Status.COMPLETED
        clearing = clearing_account(money.EUR, owner=acme.customer.pk).pk
        eur, usdc = Decimal("1000.00"), order.final_destination_amount
        assert usdc == Decimal("1074.600000")  # 1000 x 1.08 less 50 bps, rounded down
        assert trail(order) == [
            (Kind.ORDER_DEBIT, {acme.eur_master.ledger_account_id: -eur, clearing: eur}),
            (Kind.DEBIT_SETTLED, {clearing: -eur, desk["eur"].ledger_account_id: eur}),
            (
                Kind.ORDER_SETTLEMENT,
                {desk["usdc"].ledger_account_id: -usdc, acme.wallet.ledger_account_id: usdc},
            ),
        ]

    def test_a_completed_sell(self, acme, desk, operator, django_capture_on_commit_callbacks):
        order = confirmed(acme, Side.SELL, "500.000000", django_capture_on_commit_callbacks)
        usdc = Decimal("500.000000")
        held = LedgerAccount.objects.get(held_for_id=acme.wallet.ledger_account_id).pk
        # A sell's confirm sends nothing: it holds the USDC inside the wallet.
        assert trail(order) == [(Kind.HOLD, {acme.wallet.ledger_account_id: -usdc, held: usdc})]
        with django_capture_on_commit_callbacks(execute=True):
            services.order_approve(
                order_id=order.pk, actor=services.Actor.for_user(operator, "ops")
            )
        order.refresh_from_db()
        assert order.status == Status.COMPLETED
        eur = order.final_destination_amount
        # Two provider steps, two entries: the custodian's collect (from the held USDC), then
        # the bank's payout.
        assert trail(order)[1:] == [
            (
                Kind.ORDER_SETTLEMENT,
                {held: -usdc, desk["usdc"].ledger_account_id: usdc},
            ),
            (
                Kind.ORDER_SETTLEMENT,
                {desk["eur"].ledger_account_id: -eur, acme.eur_master.ledger_account_id: eur},
            ),
        ]

    def test_a_rejected_buy_is_refunded(
        self, acme, desk, operator, django_capture_on_commit_callbacks
    ):
        order = confirmed(acme, Side.BUY, "1000.00", django_capture_on_commit_callbacks)
        services.order_reject(
            order_id=order.pk, actor=services.Actor.for_user(operator, "ops"), reason="KYC."
        )
        eur, clearing = Decimal("1000.00"), clearing_account(money.EUR, owner=acme.customer.pk).pk
        master, treasury = acme.eur_master.ledger_account_id, desk["eur"].ledger_account_id
        assert trail(order) == [
            (Kind.ORDER_DEBIT, {master: -eur, clearing: eur}),
            (Kind.DEBIT_SETTLED, {clearing: -eur, treasury: eur}),
            (Kind.REFUND, {treasury: -eur, master: eur}),
        ]
        assert ledger(acme.eur_master).balance == Decimal("250000.00")

    def test_a_buy_failed_before_the_bank_settled_is_refunded_from_clearing(
        self, acme, desk, settings, django_capture_on_commit_callbacks
    ):
        settings.OTC_SIMULATE_FIAT_OUTAGE = True
        order = confirmed(acme, Side.BUY, "1000.00", django_capture_on_commit_callbacks)
        assert order.status == Status.FAILED
        eur, clearing = Decimal("1000.00"), clearing_account(money.EUR, owner=acme.customer.pk).pk
        master = acme.eur_master.ledger_account_id
        assert trail(order) == [
            (Kind.ORDER_DEBIT, {master: -eur, clearing: eur}),
            (Kind.REFUND, {clearing: -eur, master: eur}),
        ]
        assert ledger(acme.eur_master).balance == Decimal("250000.00")
        assert LedgerAccount.objects.get(pk=clearing).balance == 0

    def test_a_buy_failed_at_settlement_is_refunded_from_the_treasury(
        self, acme, desk, operator, settings, django_capture_on_commit_callbacks
    ):
        order = confirmed(acme, Side.BUY, "1000.00", django_capture_on_commit_callbacks)
        settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
        with django_capture_on_commit_callbacks(execute=True):
            services.order_approve(
                order_id=order.pk, actor=services.Actor.for_user(operator, "ops")
            )
        order.refresh_from_db()
        assert order.status == Status.FAILED
        eur, clearing = Decimal("1000.00"), clearing_account(money.EUR, owner=acme.customer.pk).pk
        master, treasury = acme.eur_master.ledger_account_id, desk["eur"].ledger_account_id
        assert trail(order) == [
            (Kind.ORDER_DEBIT, {master: -eur, clearing: eur}),
            (Kind.DEBIT_SETTLED, {clearing: -eur, treasury: eur}),
            (Kind.REFUND, {treasury: -eur, master: eur}),
        ]
        assert ledger(acme.wallet).balance == Decimal("100000.000000")

    def test_each_order_reads_back_only_its_own_entries(
        self, acme, globex, desk, django_capture_on_commit_callbacks
    ):
        mine = confirmed(acme, Side.BUY, "100.00", django_capture_on_commit_callbacks)
        theirs = confirmed(globex, Side.BUY, "200.00", django_capture_on_commit_callbacks)
        for order, amount in ((mine, Decimal("100.00")), (theirs, Decimal("200.00"))):
            entries = trail(order)
            assert [kind for kind, _ in entries] == [Kind.ORDER_DEBIT, Kind.DEBIT_SETTLED]
            assert all(sorted(legs.values()) == [-amount, amount] for _, legs in entries)
