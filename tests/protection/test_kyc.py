"""The KYC gate: only a verified customer may quote, confirm or accept a reviewed price
(403 KYC_NOT_VERIFIED with the status in details), over HTTP and through the services."""

from decimal import Decimal

import pytest

from accounts.errors import DomainError
from accounts.models import KycStatus
from otc import services
from otc.models import Order, Side, Status
from tests.otc.test_api_support import assert_error, buy_body, buy_quote_id, confirm, quote

from .conftest import api_actor

pytestmark = pytest.mark.django_db

NOT_VERIFIED = [KycStatus.PENDING, KycStatus.REJECTED, KycStatus.EXPIRED]


def set_kyc(world, status: str) -> None:
    world.customer.kyc_status = status
    world.customer.save(update_fields=["kyc_status"])


@pytest.mark.parametrize("status", NOT_VERIFIED)
def test_an_unverified_customer_cannot_quote_over_http(acme, status):
    set_kyc(acme, status)
    err = assert_error(quote(acme, buy_body(acme)), 403, "KYC_NOT_VERIFIED")
    assert err["details"] == {"kycStatus": status}
    assert not Order.objects.filter(customer=acme.customer).exists()


@pytest.mark.parametrize("status", NOT_VERIFIED)
def test_a_customer_whose_kyc_lapsed_after_quoting_cannot_confirm(acme, status):
    quote_id = buy_quote_id(acme)
    before = acme.eur_master.ledger_account.balance
    set_kyc(acme, status)

    err = assert_error(confirm(acme, quote_id), 403, "KYC_NOT_VERIFIED")

    assert err["details"] == {"kycStatus": status}
    order = Order.objects.get(pk=quote_id)
    assert order.status == Status.QUOTED
    acme.eur_master.ledger_account.refresh_from_db()
    assert acme.eur_master.ledger_account.balance == before


def test_a_verified_customer_quotes_and_confirms(acme):
    quote_id = buy_quote_id(acme)
    assert confirm(acme, quote_id).status_code == 201


def test_the_services_refuse_quote_and_confirm_for_an_unverified_customer(acme):
    order = services.quote_create(
        customer=acme.customer,
        side=Side.BUY,
        fiat_account_id=acme.eur_master.pk,
        wallet_id=acme.wallet.pk,
        amount=Decimal("100.00"),
        actor=api_actor(acme),
    )
    set_kyc(acme, KycStatus.EXPIRED)
    with pytest.raises(DomainError) as refused:
        services.order_confirm(
            order_id=order.pk, customer=acme.customer, side=Side.BUY, actor=api_actor(acme)
        )
    assert (refused.value.code, refused.value.status) == ("KYC_NOT_VERIFIED", 403)
    assert refused.value.details == {"kycStatus": KycStatus.EXPIRED}
    with pytest.raises(DomainError) as again:
        services.quote_create(
            customer=acme.customer,
            side=Side.BUY,
            fiat_account_id=acme.eur_master.pk,
            wallet_id=acme.wallet.pk,
            amount=order.source_amount,
            actor=api_actor(acme),
        )
    assert again.value.code == "KYC_NOT_VERIFIED"


def test_a_customer_unverified_while_in_review_cannot_accept_the_price(acme, in_review):
    order = in_review()
    review = acme.client().get(f"/api/v1/otc-exchanges/{order.pk}/review").json()["data"]
    set_kyc(acme, KycStatus.REJECTED)

    response = acme.client().post(
        f"/api/v1/otc-exchanges/{order.pk}/accept-price",
        {"rate": review["rate"], "destinationAmount": review["destinationAmount"]},
        format="json",
    )

    assert assert_error(response, 403, "KYC_NOT_VERIFIED")["details"] == {"kycStatus": "rejected"}
    order.refresh_from_db()
    assert order.status == Status.PRICE_REVIEW
