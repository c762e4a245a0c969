"""Quote and confirm cost no more statements than they must, and the same whatever the fee
lines or the fixed side.

Measured over HTTP (API key auth, idempotency, webhooks outbox included), steady state (the
desk's clearing and fee accounts exist), buy / sell:
- before the pricing engine (bd7fbd3): quote 12 / 13, confirm 31 / 27;
- pricing engine: quote 15 / 16 (the pair row, the customer's fee schedule, the fee lines'
  insert), confirm 32 / 25 (the fee lines read for the body; the pair's assets and the legs'
  ledger accounts now come with the order, which saved 2);
- price protection (daily limits): quote +1 (the day's total), confirm +2 (the customer row
  and the day's total): quote 16 / 17, confirm 34 / 27;
- sells hold their USDC (issue 13): sell confirm +7, exactly what one ledger entry costs
  through ``post_entry``: its savepoint and release, the lock of the wallet account and its
  hold account (one SELECT), the entry, its two postings (one bulk insert) and the two
  balance updates. The hold account comes with the order's row (a join); the sell quote's
  held balance with the wallet's (a join): quote unchanged, confirm 28 -> 35.
- issue 12 (performance): quote 8 / 9, confirm 13 / 15 (the sell's hold is one statement).
  The quote reads its account, wallet and the day's total in one statement; the pair and the
  fee schedule come from the shared cache; the outbox event with its deliveries is one
  statement (no savepoint, no txid read, no endpoint read). The confirm claims its
  idempotency key with one statement (no savepoints: a refusal rolls the whole transaction
  back), reads the order with its account and wallet once under the lock, posts each ledger
  entry (locks, balance checks, balances, entry and postings) in one statement, into the
  customer's own clearing account (derived id: no lookup), and reads no money trail back.
  What is left, buy confirm: the key, BEGIN, the claim, the order, its fee lines, the order's
  UPDATE, the timeline row, the event, the customer row lock, the day's total (after the
  lock), the ledger entry, the stored response, COMMIT. A sell asks custody first (the order
  read unlocked, the balance) and posts its hold instead of the debit.
- issue 12, second pass: quote 5 / 6, confirm 12 / 14. A quote's order, fee lines, first
  timeline row and outbox event are one statement (``otc.onestatement``), and so is every
  transition's timeline row with its event. Buy confirm now: the key, BEGIN, the claim, the
  order locked (its SQL built once per process), its fee lines, the order's UPDATE, the
  timeline row with the event, the customer row lock, the day's total, the ledger entry, the
  stored response, COMMIT. (Locking the customer with the order saves one more but queues a
  busy customer's confirms for the whole transaction: a third fewer flows in the bench's
  one-customer scenario.) A sell confirm reads the order unlocked and asks custody for the
  live balance before the claim's transaction opens (no provider call while a row is held);
  one of its 14 statements is the simulated custodian's own balance read (in production an
  HTTP call to the custodian).
- issue 12, third pass: confirm 11 / 13. The order's fee lines come with its locked read (as
  of the statement's snapshot, read again only when the lock waited for a change to the
  order; ``tests/otc/test_locked_fee_lines.py``).
"""

import uuid
from decimal import Decimal

import pytest

from otc.models import CustomerFeeSchedule, Pair

pytestmark = pytest.mark.django_db

QUOTE = "/api/v1/otc-exchanges/quote"
ORDERS = "/api/v1/otc-exchanges"
CEILINGS = {"buy": {"quote": 5, "confirm": 11}, "sell": {"quote": 6, "confirm": 13}}
# A buy with fees books a third leg at confirm, to the customer's own fee-income account by
# its derived id: no lookup, no extra statement. The lines themselves are one insert and one
# read however many there are.
WITH_FEES = {"buy": {"quote": 5, "confirm": 11}, "sell": {"quote": 6, "confirm": 13}}


def body(world, side: str, fixed: str = "source") -> dict:
    if side == "buy":
        amount = (
            {"sourceAmountEur": "1000.00"}
            if fixed == "source"
            else {"destinationAmountUsdc": "1000.000000"}
        )
        return {
            "side": "buy",
            "sourceFrAccountId": str(world.eur_master.pk),
            "destinationUtilaWalletId": str(world.wallet.pk),
            **amount,
        }
    amount = (
        {"sourceAmountUsdc": "500.000000"}
        if fixed == "source"
        else {"destinationAmountEur": "400.00"}
    )
    return {
        "side": "sell",
        "sourceUtilaWalletId": str(world.wallet.pk),
        "destinationFrAccountId": str(world.eur_master.pk),
        **amount,
    }


def quote_then_confirm(client, payload, assert_max, capture, ceilings=None):
    with assert_max(ceilings["quote"]) if ceilings else _nothing():
        response = client.post(QUOTE, payload, format="json")
    assert response.status_code == 200, response.content
    quote_id = response.json()["data"]["quoteId"]
    with capture(execute=False), assert_max(ceilings["confirm"]) if ceilings else _nothing():
        response = client.post(
            ORDERS,
            {"side": payload["side"], "quoteId": quote_id},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    assert response.status_code == 201, response.content


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.fixture
def client(acme, django_capture_on_commit_callbacks):
    api = acme.client()
    api.get("/api/v1/otc-exchanges/accounts")  # the key's last-use stamp is written once
    return api


@pytest.mark.parametrize("side", ["buy", "sell"])
@pytest.mark.parametrize("fixed", ["source", "destination"])
def test_quote_and_confirm_do_not_cost_more_than_before(
    acme, client, side, fixed, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    quote_then_confirm(client, body(acme, side, fixed), django_assert_max_num_queries, capture)
    quote_then_confirm(
        client, body(acme, side, fixed), django_assert_max_num_queries, capture, CEILINGS[side]
    )


@pytest.mark.parametrize("side", ["buy", "sell"])
def test_every_fee_line_costs_no_extra_statement(
    acme, client, side, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    pair = Pair.objects.get(code="EUR/USDC")
    pair.platform_fixed_fee = Decimal("1.00")
    pair.platform_percentage_bps = 5
    pair.off_hours_penalty_bps = 10
    pair.network_fees = {"polygon": "0.50"}
    pair.save()
    CustomerFeeSchedule.objects.create(
        customer=acme.customer,
        pair=pair,
        fixed_fee=Decimal("0.25"),
        percentage_bps=3,
        fx_markup_bps=5,
    )
    capture = django_capture_on_commit_callbacks
    quote_then_confirm(client, body(acme, side), django_assert_max_num_queries, capture)
    quote_then_confirm(
        client, body(acme, side), django_assert_max_num_queries, capture, WITH_FEES[side]
    )
