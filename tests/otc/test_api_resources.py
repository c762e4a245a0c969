"""GET otc-exchanges/accounts, /wallets and /wallets/{id}/balance: exact shapes, only the
caller's eligible resources, and the 404/502 answers."""

import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from accounts.ledger import deposit
from accounts.providers import set_simulated_outage

from .. import factories
from .test_api_support import ACCOUNTS, WALLETS, assert_error, balance_url

pytestmark = pytest.mark.django_db


def test_accounts_lists_exactly_the_callers_active_eur_accounts(acme, globex, desk):
    response = acme.client(acme.read_key).get(ACCOUNTS)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    by_id = {row["id"]: row for row in body["data"]}
    # Not the inactive one, not the USD one, not globex's, not the desk's treasury.
    assert by_id == {
        str(acme.eur_master.pk): {
            "id": str(acme.eur_master.pk),
            "currency": "EUR",
            "isMaster": True,
            "label": "Master",
            "balance": "250000.00",
        },
        str(acme.eur_secondary.pk): {
            "id": str(acme.eur_secondary.pk),
            "currency": "EUR",
            "isMaster": False,
            "label": "Ops",
            "balance": "50000.00",
        },
    }


def test_account_balance_is_a_two_decimal_string(acme):
    deposit(acme.eur_secondary.ledger_account, Decimal("0.5"), description="top up")
    rows = acme.client().get(ACCOUNTS).json()["data"]
    balance = next(r["balance"] for r in rows if r["id"] == str(acme.eur_secondary.pk))
    assert balance == "50000.50"


def test_accounts_of_a_customer_without_any_is_an_empty_list(desk):
    lonely = factories.CustomerFactory(slug="lonely")
    key = factories.make_key(lonely)
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=key)
    assert api.get(ACCOUNTS).json() == {"data": []}
    assert api.get(WALLETS).json() == {"data": []}


def test_wallets_lists_the_callers_non_treasury_wallets_with_a_usdc_address(acme, globex, desk):
    response = acme.client(acme.read_key).get(WALLETS)
    assert response.status_code == 200
    by_id = {row["id"]: row for row in response.json()["data"]}
    assert by_id == {
        str(acme.wallet.pk): {
            "id": str(acme.wallet.pk),
            "label": "Primary",
            "network": "polygon",
            "usdcAddress": acme.wallet.usdc_address,
        },
        str(acme.wallet_secondary.pk): {
            "id": str(acme.wallet_secondary.pk),
            "label": "Secondary",
            "network": "ethereum",
            "usdcAddress": acme.wallet_secondary.usdc_address,
        },
    }
    assert acme.wallet.usdc_address.startswith("0x") and len(acme.wallet.usdc_address) == 42


def test_treasury_wallet_of_the_customer_itself_is_not_listed(acme):
    treasury = factories.make_wallet(acme.customer, label="Own treasury", is_treasury=True)
    ids = {row["id"] for row in acme.client().get(WALLETS).json()["data"]}
    assert str(treasury.pk) not in ids
    assert_error(acme.client().get(balance_url(treasury.pk)), 404, "WALLET_NOT_FOUND")


def test_wallet_balance_shape(acme):
    response = acme.client(acme.read_key).get(balance_url(acme.wallet.pk))
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "walletId": str(acme.wallet.pk),
            "network": "polygon",
            "usdcBalance": "100000.000000",
            "available": "100000.000000",
            "held": "0.000000",
        }
    }
    secondary = acme.client().get(balance_url(acme.wallet_secondary.pk)).json()["data"]
    assert secondary == {
        "walletId": str(acme.wallet_secondary.pk),
        "network": "ethereum",
        "usdcBalance": "500.000000",
        "available": "500.000000",
        "held": "0.000000",
    }


def test_wallet_balance_is_live(acme):
    deposit(acme.wallet_secondary.ledger_account, Decimal("0.000001"), description="dust")
    data = acme.client().get(balance_url(acme.wallet_secondary.pk)).json()["data"]
    assert data["usdcBalance"] == "500.000001"


@pytest.mark.parametrize("which", ["globex", "unknown", "not-a-uuid", "no-usdc", "desk"])
def test_wallet_balance_of_anything_not_the_callers_is_wallet_not_found(acme, globex, desk, which):
    wallet_id = {
        "globex": lambda: globex.wallet.pk,
        "unknown": uuid.uuid4,
        "not-a-uuid": lambda: "polygon-main",
        "no-usdc": lambda: acme.wallet_no_usdc.pk,
        "desk": lambda: desk["usdc"].pk,
    }[which]()
    assert_error(acme.client().get(balance_url(wallet_id)), 404, "WALLET_NOT_FOUND")


def test_wallet_balance_when_custody_is_down_is_balance_unavailable(acme, settings):
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = True
    err = assert_error(acme.client().get(balance_url(acme.wallet.pk)), 502, "BALANCE_UNAVAILABLE")
    assert "simchain" not in str(err) and "Simulated" not in str(err)
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = False
    assert acme.client().get(balance_url(acme.wallet.pk)).status_code == 200


def test_wallet_balance_outage_switched_at_run_time(acme):
    set_simulated_outage("custody", True)
    try:
        assert_error(acme.client().get(balance_url(acme.wallet.pk)), 502, "BALANCE_UNAVAILABLE")
        # The wallet list comes from our own records and does not need custody.
        assert len(acme.client().get(WALLETS).json()["data"]) == 2
    finally:
        set_simulated_outage("custody", False)
    assert acme.client().get(balance_url(acme.wallet.pk)).status_code == 200
