"""EUR/USDT added purely as rows of data (an asset, a pair with a feed symbol) plus funding:
a buy and a sell quoted, confirmed, approved and settled end to end through the API and the
services, with on-commit callbacks run. No code knows USDT.

Figures (static feed USDTEUR=1.07, the pair's 50 bps FX markup, a 1.00 EUR platform fee):
- buy:  rate 1.07 * 0.995 = 1.064650; 1000.00 EUR - 1.00 fee = 999.00 -> 1063.585350 USDT
- sell: rate 1 / 1.07 * 0.995 = 0.92990654... -> 0.929906; fee 1.00 EUR * 1.07 = 1.070000 USDT;
        (500.000000 - 1.070000) * 0.929906 = 463.95800058 -> 463.95 EUR (down)
"""

import uuid
from decimal import Decimal

import pytest

from accounts.ledger import deposit
from accounts.models import Asset, JournalEntry, LedgerAccount
from otc import services
from otc.models import Channel, Order, Pair, Status
from wallets.services import wallet_holding_account

pytestmark = pytest.mark.django_db

D = Decimal
QUOTE = "/api/v1/otc-exchanges/quote"
ORDERS = "/api/v1/otc-exchanges"


@pytest.fixture
def usdt(desk, acme, settings):
    """The second stablecoin: two rows and a feed symbol; the treasury and acme hold some."""
    settings.OTC_PRICE_FEED = "static:USDCEUR=1.08,USDTEUR=1.07"
    Asset.objects.create(
        code="USDT",
        name="Tether USD",
        kind=Asset.Kind.STABLECOIN,
        decimals=6,
        networks=["ethereum", "polygon", "tron"],
    )
    pair = Pair.objects.create(
        code="EUR/USDT",
        base_asset_id="EUR",
        quote_asset_id="USDT",
        feed_symbol="USDTEUR",
        buy_min=D("10.00"),
        buy_max=D("1000000.00"),
        sell_min=D("10.000000"),
        sell_max=D("1000000.000000"),
        platform_fixed_fee=D("1.00"),
        platform_fx_markup_bps=50,
    )
    treasury = wallet_holding_account(desk["usdc"], "USDT")
    deposit(treasury, D("1000000.000000"), description="treasury USDT")
    customer = wallet_holding_account(acme.wallet, "USDT")
    deposit(customer, D("5000.000000"), description="acme USDT")
    return pair


def balance(account: LedgerAccount) -> Decimal:
    return LedgerAccount.objects.get(pk=account.pk).balance


def holdings(desk, acme) -> dict[str, Decimal]:
    return {
        "acme_eur": balance(acme.eur_master.ledger_account),
        "acme_usdt": balance(wallet_holding_account(acme.wallet, "USDT")),
        "acme_usdc": balance(acme.wallet.ledger_account),
        "treasury_eur": balance(desk["eur"].ledger_account),
        "treasury_usdt": balance(wallet_holding_account(desk["usdc"], "USDT")),
        "treasury_usdc": balance(desk["usdc"].ledger_account),
        "fees_eur": services.fee_income("EUR"),
        "fees_usdt": services.fee_income("USDT"),
    }


def moved(before: dict, after: dict) -> dict:
    return {name: after[name] - before[name] for name in before if after[name] != before[name]}


def quote_and_confirm(acme, body: dict, capture) -> dict:
    client = acme.client()
    response = client.post(QUOTE, body, format="json")
    assert response.status_code == 200, response.content
    quoted = response.json()["data"]
    with capture(execute=True):
        response = client.post(
            ORDERS,
            {"side": body["side"], "quoteId": quoted["quoteId"]},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    assert response.status_code == 201, response.content
    return quoted


def approve_and_settle(order_id, operator, capture) -> dict:
    with capture(execute=True):
        services.order_approve(
            order_id=order_id, actor=services.Actor.for_user(operator, Channel.OPS)
        )
    return Order.objects.get(pk=order_id)


def test_a_usdt_buy_end_to_end(usdt, acme, desk, operator, django_capture_on_commit_callbacks):
    before = holdings(desk, acme)
    quoted = quote_and_confirm(
        acme,
        {
            "side": "buy",
            "pair": "EUR/USDT",
            "sourceFrAccountId": str(acme.eur_master.pk),
            "destinationUtilaWalletId": str(acme.wallet.pk),
            "sourceAmountEur": "1000.00",
        },
        django_capture_on_commit_callbacks,
    )
    assert quoted["pair"] == "EUR/USDT"
    assert (quoted["sourceCurrency"], quoted["destinationCurrency"]) == ("EUR", "USDT")
    assert (quoted["referenceRate"], quoted["rate"]) == ("1.070000", "1.064650")
    assert quoted["destinationAmount"] == "1063.585350"
    assert quoted["fees"]["total"] == "1.00"
    # The debit settled at commit: the order waits for the operator.
    assert Order.objects.get(pk=quoted["quoteId"]).status == Status.PENDING_APPROVAL

    order = approve_and_settle(quoted["quoteId"], operator, django_capture_on_commit_callbacks)
    assert order.status == Status.COMPLETED
    assert order.final_destination_amount == D("1063.585350")
    shown = acme.client().get(f"{ORDERS}/{order.pk}").json()["data"]
    assert (shown["status"], shown["pair"], shown["destinationAmount"]) == (
        "completed",
        "EUR/USDT",
        "1063.585350",
    )
    assert moved(before, holdings(desk, acme)) == {
        "acme_eur": D("-1000.00"),
        "acme_usdt": D("1063.585350"),
        "treasury_eur": D("999.00"),
        "treasury_usdt": D("-1063.585350"),
        "fees_eur": D("1.00"),
    }
    # The USDT went to the wallet's USDT holding, not its USDC account.
    assert order.destination_ledger_account == wallet_holding_account(acme.wallet, "USDT")


def test_a_usdt_sell_end_to_end(usdt, acme, desk, operator, django_capture_on_commit_callbacks):
    before = holdings(desk, acme)
    quoted = quote_and_confirm(
        acme,
        {
            "side": "sell",
            "pair": "EUR/USDT",
            "sourceUtilaWalletId": str(acme.wallet.pk),
            "destinationFrAccountId": str(acme.eur_master.pk),
            "sourceAmount": "500.000000",
        },
        django_capture_on_commit_callbacks,
    )
    assert (quoted["sourceCurrency"], quoted["destinationCurrency"]) == ("USDT", "EUR")
    assert (quoted["referenceRate"], quoted["rate"]) == ("0.934579", "0.929906")
    assert quoted["fees"]["currency"] == "USDT"
    assert quoted["fees"]["total"] == "1.070000"
    assert quoted["destinationAmount"] == "463.95"
    assert quoted["sourceAmountUsdc"] == "500.000000"  # the seed's name keeps its place
    # A sell sends nothing before approval: its USDT is held on the wallet's USDT holding.
    assert moved(before, holdings(desk, acme)) == {"acme_usdt": D("-500.000000")}
    usdt_holding = wallet_holding_account(acme.wallet, "USDT")
    assert LedgerAccount.objects.get(held_for=usdt_holding).balance == D("500.000000")
    assert Order.objects.get(pk=quoted["quoteId"]).status == Status.PENDING_APPROVAL

    order = approve_and_settle(quoted["quoteId"], operator, django_capture_on_commit_callbacks)
    assert order.status == Status.COMPLETED
    assert order.final_destination_amount == D("463.95")
    assert moved(before, holdings(desk, acme)) == {
        "acme_usdt": D("-500.000000"),
        "treasury_usdt": D("498.930000"),
        "fees_usdt": D("1.070000"),
        "acme_eur": D("463.95"),
        "treasury_eur": D("-463.95"),
    }
    entries = JournalEntry.objects.filter(reference_id=order.pk, kind="order_settlement")
    currencies = {p.currency for entry in entries for p in entry.postings.all()}
    assert currencies == {"USDT", "EUR"}


def test_a_usdt_fixed_destination_buy_with_the_seed_name(
    usdt, acme, desk, operator, django_capture_on_commit_callbacks
):
    before = holdings(desk, acme)
    quoted = quote_and_confirm(
        acme,
        {
            "side": "buy",
            "pair": "EUR/USDT",
            "sourceFrAccountId": str(acme.eur_master.pk),
            "destinationUtilaWalletId": str(acme.wallet.pk),
            "destinationAmount": "1000.000000",
        },
        django_capture_on_commit_callbacks,
    )
    # 1000 / 1.06465 = 939.2758...: net 939.28 (939.27 gives 999.9957), plus the 1.00 fee.
    assert quoted["fixedSide"] == "destination"
    assert quoted["sourceAmountEur"] == "940.28"
    assert quoted["destinationAmount"] == "1000.000000"
    order = approve_and_settle(quoted["quoteId"], operator, django_capture_on_commit_callbacks)
    assert order.status == Status.COMPLETED
    change = moved(before, holdings(desk, acme))
    assert change["acme_eur"] == D("-940.28")
    assert change["acme_usdt"] == D("1000.000000")  # exactly what was asked for


def test_a_wallet_on_a_network_without_usdt_cannot_take_it(usdt, acme):
    body = {
        "side": "buy",
        "pair": "EUR/USDT",
        "sourceFrAccountId": str(acme.eur_master.pk),
        "destinationUtilaWalletId": str(acme.wallet_no_usdc.pk),  # solana, no address
        "sourceAmountEur": "100.00",
    }
    response = acme.client().post(QUOTE, body, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "DESTINATION_NO_USDC_ADDRESS"


def test_a_usdt_sell_larger_than_the_usdt_holding_is_refused(usdt, acme):
    body = {
        "side": "sell",
        "pair": "EUR/USDT",
        "sourceUtilaWalletId": str(acme.wallet.pk),
        "destinationFrAccountId": str(acme.eur_master.pk),
        "sourceAmount": "6000.000000",  # acme holds 5000 USDT (and 100000 USDC)
    }
    response = acme.client().post(QUOTE, body, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "SOURCE_WALLET_INSUFFICIENT"
    assert response.json()["error"]["details"]["available"] == "5000.000000"
