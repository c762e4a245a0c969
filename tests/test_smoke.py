import pytest

from otc.models import Status

pytestmark = pytest.mark.django_db


def test_buy_quote_confirm_approve_completes(acme, operator, django_capture_on_commit_callbacks):
    from otc.services import Actor, order_approve

    api = acme.client()
    quote = api.post(
        "/api/v1/otc-exchanges/quote",
        {
            "sourceFrAccountId": str(acme.eur_master.pk),
            "destinationUtilaWalletId": str(acme.wallet.pk),
            "sourceAmountEur": "100.00",
        },
        format="json",
    )
    assert quote.status_code == 200, quote.json()
    quote_id = quote.json()["data"]["quoteId"]
    with django_capture_on_commit_callbacks(execute=True):
        confirm = api.post(
            "/api/v1/otc-exchanges",
            {"quoteId": quote_id},
            format="json",
            HTTP_IDEMPOTENCY_KEY="8f14e45f-ceea-4e6a-9b5b-5c7d1e2f3a4b",
        )
    assert confirm.status_code == 201, confirm.content
    with django_capture_on_commit_callbacks(execute=True):
        order = order_approve(order_id=quote_id, actor=Actor.for_user(operator, "ops"))
    order.refresh_from_db()
    assert order.status == Status.COMPLETED
