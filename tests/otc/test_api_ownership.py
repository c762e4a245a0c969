"""Every route, given another customer's ids, answers exactly as for ids that do not exist,
and leaves the other customer's objects untouched."""

import uuid

import pytest

from accounts.models import LedgerAccount
from otc.models import Order, OrderTransition

from .test_api_support import (
    ACCOUNTS,
    ORDERS,
    WALLETS,
    assert_error,
    balance_url,
    buy_body,
    buy_quote_id,
    cancel_url,
    confirm,
    order_url,
    quote,
    requote_url,
    sell_body,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def globex_state(globex):
    """Globex's quote and a fingerprint of everything acme might disturb."""
    quote_id = buy_quote_id(globex)

    def snapshot():
        order = Order.objects.get(pk=quote_id)
        return (
            order.status,
            order.ttl_expires_at,
            order.indicative_rate,
            OrderTransition.objects.filter(order=order).count(),
            list(LedgerAccount.objects.order_by("pk").values_list("pk", "balance")),
        )

    return quote_id, snapshot


def same_answer(foreign, missing, status: int, code: str) -> None:
    assert_error(foreign, status, code)
    assert foreign.content == missing.content


def test_lists_never_show_another_customers_resources(acme, globex, globex_state):
    api = acme.client()
    foreign = {
        str(globex.eur_master.pk),
        str(globex.eur_secondary.pk),
        str(globex.wallet.pk),
        str(globex.wallet_secondary.pk),
        globex_state[0],
    }
    seen = set()
    for url in (ACCOUNTS, WALLETS, ORDERS):
        seen |= {row["id"] for row in api.get(url).json()["data"]}
    assert not seen & foreign
    assert api.get(ORDERS).json()["meta"]["pagination"]["total"] == 0


def test_every_id_route_treats_another_customers_ids_as_missing(acme, globex, globex_state):
    quote_id, snapshot = globex_state
    before = snapshot()
    api = acme.client()
    missing = str(uuid.uuid4())

    same_answer(
        api.get(balance_url(globex.wallet.pk)),
        api.get(balance_url(missing)),
        404,
        "WALLET_NOT_FOUND",
    )
    same_answer(api.get(order_url(quote_id)), api.get(order_url(missing)), 404, "ORDER_NOT_FOUND")
    same_answer(confirm(acme, quote_id), confirm(acme, missing), 404, "ORDER_NOT_FOUND")
    same_answer(
        api.post(cancel_url(quote_id)), api.post(cancel_url(missing)), 404, "ORDER_NOT_FOUND"
    )
    same_answer(
        api.post(requote_url(quote_id)), api.post(requote_url(missing)), 404, "ORDER_NOT_FOUND"
    )
    for field, value, code in [
        ("sourceFrAccountId", globex.eur_master.pk, "SOURCE_NOT_FOUND"),
        ("destinationUtilaWalletId", globex.wallet.pk, "DESTINATION_NOT_FOUND"),
    ]:
        same_answer(
            quote(acme, buy_body(acme, **{field: str(value)})),
            quote(acme, buy_body(acme, **{field: missing})),
            422,
            code,
        )
    for field, value, code in [
        ("sourceUtilaWalletId", globex.wallet.pk, "SOURCE_WALLET_NOT_FOUND"),
        ("destinationFrAccountId", globex.eur_master.pk, "DESTINATION_ACCOUNT_NOT_FOUND"),
    ]:
        same_answer(
            quote(acme, sell_body(acme, **{field: str(value)})),
            quote(acme, sell_body(acme, **{field: missing})),
            422,
            code,
        )

    assert snapshot() == before
    assert not Order.objects.filter(customer=acme.customer).exists()
