"""Receipts: a completed order's page shows what was executed (quoted beside executed rate,
the reference rate, the fees, the movements with their ledger entries and the provider's
references) and offers the same as a PDF, on the portal and the API, to its owner only."""

import io
import uuid

import pytest
from django.urls import reverse
from pypdf import PdfReader

from otc import receipts
from otc.models import ProviderTransfer, Side
from otc.representations import order_representation
from otc.selectors import order_get
from tests.protection.conftest import pending

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def pdf_text(content: bytes) -> str:
    assert content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(content))
    return "\n".join(page.extract_text() for page in reader.pages)


def receipt_url(order):
    return reverse("portal:order_receipt", args=[order.pk])


def test_a_completed_buy_shows_what_was_executed(portal, acme, completed, fee_schedule):
    order = completed()
    response = portal.get(reverse("portal:order", args=[order.pk]))
    receipt = response.context["receipt"]
    api = order_representation(order_get(customer=acme.customer, order_id=order.pk))
    text = response.content.decode()
    assert 'data-testid="receipt-quoted-rate">1.074060<' in text  # 50 + 5 bps off 1.08
    assert f'data-testid="receipt-executed-rate">{api["rate"]}<' in text
    assert f'data-testid="receipt-reference-rate">{api["referenceRate"]}<' in text
    assert f'data-testid="receipt-fees">{float(api["fees"]["total"]):,.2f} EUR<' in text
    assert receipt_url(order) in text
    # The movements: the EUR debited, the USDC delivered, each with its ledger entry and the
    # provider's own reference (the bank's, the chain's).
    transfers = {
        t.step: t
        for t in ProviderTransfer.objects.filter(order=order, state=ProviderTransfer.State.SETTLED)
    }
    deliver = transfers[ProviderTransfer.Step.DELIVER]
    assert api["destinationTransactionId"] == str(deliver.journal_entry_id)
    assert [m.ledger_entry_id for m in receipt.movements][-1] == api["destinationTransactionId"]
    assert receipt.destination_transaction_id == api["destinationTransactionId"]
    assert receipt.source_transaction_id == api["sourceTransactionId"]
    for movement in receipt.movements:
        assert movement.provider_reference
        assert movement.provider_reference in text
        assert movement.ledger_entry_id in text
    kinds = [m.reference_kind for m in receipt.movements]
    assert kinds[-1] == "On-chain transaction"
    assert receipt.movements[-1].what == f"USDC to your wallet {acme.wallet.label}"


def test_the_pdf_receipt_carries_the_figures(portal, acme, completed, fee_schedule, artifacts):
    order = completed()
    response = portal.get(receipt_url(order))
    (artifacts / "portal-receipt.pdf").write_bytes(response.content)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{order.pk}.pdf"'
    assert response["Cache-Control"] == "private, no-store"
    text = pdf_text(response.content)
    assert str(order.pk) in text and acme.customer.name in text
    assert "1.074060" in text  # the quoted rate
    assert "1.080000" in text  # the reference rate
    assert "1,000.00 EUR" in text  # what was paid, grouped
    assert f"{order.final_destination_amount:,.6f} USDC" in text
    for line in order.fees.all():
        assert line.description.split(" (")[0] in text
    assert f"{order.fee_total:,.2f} EUR" in text
    receipt = receipts.receipt_build(customer=acme.customer, order_id=order.pk)
    for movement in receipt.movements:
        assert movement.provider_reference in text.replace("\n", "")
        assert movement.ledger_entry_id in text.replace("\n", "")


def test_the_pdf_receipt_writes_money_in_the_readers_locale(portal, completed):
    order = completed(side=Side.SELL, amount="1234.500000")
    text = pdf_text(portal.get(receipt_url(order), HTTP_ACCEPT_LANGUAGE="de").content)
    assert "1.234,500000 USDC" in text
    assert (
        f"{order.final_destination_amount:,.2f}".replace(",", "X")
        .replace(".", ",")
        .replace("X", ".")
        + " EUR"
        in text
    )


def test_no_receipt_before_completion(portal, acme):
    order = pending(acme)
    assert portal.get(receipt_url(order)).status_code == 404
    response = portal.get(reverse("portal:order", args=[order.pk]))
    assert response.context["receipt"] is None
    assert receipt_url(order) not in response.content.decode()


def test_another_customers_receipt_is_not_found(client, acme, globex, completed):
    theirs = completed(globex)
    client.force_login(acme.user)
    assert client.get(receipt_url(theirs)).status_code == 404
    assert client.get(reverse("portal:order_receipt", args=[uuid.uuid4()])).status_code == 404


def test_a_signed_out_visitor_is_sent_to_sign_in(client, completed):
    response = client.get(receipt_url(completed()))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_no_ledger_account_codes_in_the_receipt(portal, completed):
    from accounts.models import LedgerAccount

    order = completed()
    text = pdf_text(portal.get(receipt_url(order)).content)
    for code in LedgerAccount.objects.values_list("code", flat=True):
        assert code not in text


# --- the API route ----------------------------------------------------------------------------


def api_url(order) -> str:
    return f"/api/v1/otc-exchanges/{order.pk}/receipt.pdf"


def test_the_api_serves_the_same_receipt_with_the_read_scope(acme, completed):
    order = completed()
    response = acme.client(acme.read_key).get(api_url(order))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="receipt-{order.pk}.pdf"'
    assert "1.074600" in pdf_text(response.content)


def test_the_api_receipt_of_another_customer_is_order_not_found(acme, globex, completed):
    order = completed(globex)
    response = acme.client(acme.read_key).get(api_url(order))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "ORDER_NOT_FOUND"
    response = acme.client(acme.read_key).get("/api/v1/otc-exchanges/not-a-uuid/receipt.pdf")
    assert response.json()["error"]["code"] == "ORDER_NOT_FOUND"


def test_the_api_receipt_before_completion_is_receipt_not_found(acme):
    response = acme.client(acme.read_key).get(api_url(pending(acme)))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "RECEIPT_NOT_FOUND"


def test_the_api_receipt_needs_credentials(client, completed):
    response = client.get(api_url(completed()))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_the_api_receipt_is_documented(acme):
    schema = acme.client().get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/otc-exchanges/{order_id}/receipt.pdf"]["get"]
    assert operation["operationId"] == "otc_order_receipt"
    assert "application/pdf" in operation["responses"]["200"]["content"]
    assert "RECEIPT_NOT_FOUND" in operation["responses"]["404"]["description"]
