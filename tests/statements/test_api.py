"""GET /api/v1/statements: the files, their figures, the read scope, the 400s, one customer's
data only, and a query count that does not grow with the movements."""

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from pypdf import PdfReader
from rest_framework.test import APIClient

from accounts.models import SCOPE_WEBHOOKS_READ
from otc.statements import CSV_COLUMNS
from tests import factories

from .conftest import BERLIN, at_noon, book, today_in_berlin

pytestmark = pytest.mark.django_db

URL = "/api/v1/statements"


def download(api, date_from, date_to, fmt="csv", **extra):
    return api.get(URL, {"from": str(date_from), "to": str(date_to), "format": fmt}, **extra)


def rows(response) -> list[dict]:
    text = response.content.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    assert reader.fieldnames == CSV_COLUMNS
    return list(reader)


def pdf_text(response) -> str:
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_csv_statement_with_balances_movements_and_orders(acme, history):
    response = download(acme.client(acme.read_key), history.date_from, history.date_to)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        f'attachment; filename="statement_{history.date_from}_{history.date_to}.csv"'
    )
    assert response.content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read UTF-8
    table = rows(response)
    assert table[0]["record"] == "statement" and table[0]["resource"] == acme.customer.name
    assert "Europe/Berlin" in table[0]["description"]

    master = [r for r in table if r["resource_id"] == str(acme.eur_master.pk)]
    assert [r["record"] for r in master] == [
        "opening_balance",
        "movement",
        "movement",
        "closing_balance",
    ]
    assert [r["amount"] for r in master] == ["", "250.50", "-100.00", ""]
    assert [r["balance"] for r in master] == ["1000.00", "1250.50", "1150.50", "1150.50"]
    midnight = datetime.combine(history.date_from, time.min, tzinfo=BERLIN)
    assert master[0]["time"] == midnight.isoformat()  # the desk's midnight, with its offset
    assert master[2]["order_id"] == str(history.order_inside.pk)
    assert master[2]["kind"] == "order_debit"

    wallet = [r for r in table if r["resource_id"] == str(acme.wallet.pk)]
    # USDC keeps its six decimals, EUR its two.
    assert [r["balance"] for r in wallet] == ["0.000000", "12.345678", "12.345678"]
    assert {r["currency"] for r in wallet} == {"USDC"}

    (order,) = [r for r in table if r["record"] == "order"]
    assert order["order_id"] == str(history.order_inside.pk)
    assert (order["side"], order["status"], order["source_amount"]) == (
        "buy",
        "debit_pending",
        "100.00",
    )
    assert order["source_currency"] == "EUR" and order["destination_currency"] == "USDC"
    assert order["destination_amount"] == f"{history.order_inside.indicative_destination_amount:f}"
    assert order["description"] == "indicative"
    assert order["fee"] == f"{history.order_inside.fee_total:.2f}"


def test_every_account_opens_plus_moves_to_its_close_in_the_csv(acme, history):
    table = rows(download(acme.client(acme.read_key), history.date_from, history.date_to))
    accounts = {r["resource_id"] for r in table if r["record"] == "opening_balance"}
    assert len(accounts) == 7  # four fiat accounts and three wallets
    for account in accounts:
        lines = [r for r in table if r["resource_id"] == account]
        opening, closing = Decimal(lines[0]["balance"]), Decimal(lines[-1]["balance"])
        moved = sum((Decimal(r["amount"]) for r in lines if r["record"] == "movement"), Decimal(0))
        assert opening + moved == closing


def test_pdf_statement_shows_the_same_figures(acme, history):
    response = download(acme.client(acme.read_key), history.date_from, history.date_to, "pdf")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].endswith(f'{history.date_to}.pdf"')
    text = pdf_text(response)
    assert "Statement of account" in text and acme.customer.name in text
    assert "Europe/Berlin" in text
    for figure in ("1000.00", "250.50", "-100.00", "1150.50", "12.345678"):
        assert figure in text
    assert str(history.order_inside.pk) in text
    assert str(history.order_after.pk) not in text


def test_a_long_statement_runs_over_several_pdf_pages(acme):
    day = today_in_berlin() - timedelta(days=2)
    for index in range(120):
        book(acme.eur_secondary, f"{index + 1}.00", at_noon(day))
    response = download(acme.client(acme.read_key), day, day, "pdf")
    assert len(PdfReader(io.BytesIO(response.content)).pages) > 1
    assert "7260.00" in pdf_text(response)  # 1 + 2 + ... + 120 on the secondary account


def test_a_statement_never_shows_another_customers_data(acme, globex, history):
    theirs = [
        *(str(a.pk) for a in globex.customer.fiat_accounts.all()),
        *(str(w.pk) for w in globex.customer.wallets.all()),
        *(str(o.pk) for o in globex.customer.orders.all()),
        globex.customer.name,
    ]
    api = acme.client(acme.read_key)
    csv_body = download(api, history.date_from, history.date_to).content.decode()
    pdf_body = pdf_text(download(api, history.date_from, history.date_to, "pdf"))
    for value in theirs:
        assert value not in csv_body
        assert value not in pdf_body
    # And globex's own statement is globex's.
    own = rows(download(globex.client(globex.read_key), history.date_from, history.date_to))
    assert own[0]["resource"] == globex.customer.name
    assert {r["resource_id"] for r in own if r["resource_id"]} == {
        *(str(a.pk) for a in globex.customer.fiat_accounts.all()),
        *(str(w.pk) for w in globex.customer.wallets.all()),
    }


def test_a_label_is_never_run_as_a_spreadsheet_formula(acme):
    factories.make_account(acme.customer, label='=HYPERLINK("http://x")')
    today = today_in_berlin()
    table = rows(download(acme.client(acme.read_key), today, today))
    labels = {r["resource"] for r in table if r["record"] == "opening_balance"}
    assert '\'=HYPERLINK("http://x")' in labels


def test_asking_for_csv_in_accept_does_not_get_a_406(acme):
    today = today_in_berlin()
    response = download(acme.client(acme.read_key), today, today, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    bad = acme.client(acme.read_key).get(URL, {"format": "csv"}, HTTP_ACCEPT="application/pdf")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"


def test_needs_the_read_scope_and_a_credential(acme):
    today = today_in_berlin()
    hooks_only = acme.client(factories.make_key(acme.customer, [SCOPE_WEBHOOKS_READ]))
    response = download(hooks_only, today, today)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    response = download(APIClient(), today, today)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHENTICATED"


def test_the_portal_session_can_download_through_the_api(acme, client):
    client.force_login(acme.user)
    today = today_in_berlin()
    response = client.get(URL, {"from": str(today), "to": str(today), "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")


TODAY = today_in_berlin()


@pytest.mark.parametrize(
    ("params", "field", "phrase"),
    [
        ({"to": "2025-01-31", "format": "csv"}, "from", "from is required"),
        ({"from": "2025-01-01", "format": "csv"}, "to", "to is required"),
        ({"from": "2025-01-01", "to": "2025-01-31"}, "format", "format is required"),
        ({"from": "2025-01-01", "to": "2025-01-31", "format": "xls"}, "format", "csv or pdf"),
        ({"from": "2025-13-01", "to": "2025-01-31", "format": "csv"}, "from", "YYYY-MM-DD"),
        ({"from": "yesterday", "to": "2025-01-31", "format": "csv"}, "from", "YYYY-MM-DD"),
        ({"from": "20250101", "to": "2025-01-31", "format": "csv"}, "from", "YYYY-MM-DD"),
        ({"from": "2025-02-01", "to": "2025-01-31", "format": "csv"}, "to", "before from"),
        ({"from": "2024-01-01", "to": "2025-01-01", "format": "csv"}, "to", "at most 366"),
        (
            {"from": str(TODAY), "to": str(TODAY + timedelta(days=1)), "format": "pdf"},
            "to",
            "after today",
        ),
    ],
)
def test_a_bad_request_is_a_400_validation_error_saying_what_is_wrong(acme, params, field, phrase):
    response = acme.client(acme.read_key).get(URL, params)
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert phrase in body["error"]["message"]
    assert any(phrase in message for message in body["error"]["details"][field])


def test_every_problem_is_named_at_once(acme):
    response = acme.client(acme.read_key).get(URL, {"format": "doc"})
    details = response.json()["error"]["details"]
    assert set(details) == {"from", "to", "format"}


def test_a_leap_year_of_366_days_is_allowed(acme):
    response = download(acme.client(acme.read_key), date(2024, 1, 1), date(2024, 12, 31))
    assert response.status_code == 200


@pytest.mark.parametrize("fmt", ["csv", "pdf"])
def test_the_query_count_does_not_grow_with_the_movements(acme, fmt):
    api = acme.client(acme.read_key)
    day = today_in_berlin() - timedelta(days=1)
    download(api, day, day)  # the key's last-use stamp is written once

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = download(api, day, day, fmt)
        assert response.status_code == 200
        return len(captured)

    book(acme.eur_master, "1.00", at_noon(day))
    few = count()
    for index in range(40):
        book(acme.wallet if index % 2 else acme.eur_master, "2.00", at_noon(day))
    many = count()
    assert many == few
    assert few <= 6  # key, accounts, openings, movements, orders (+ the throttle's none)


def test_the_route_is_documented_with_both_files_and_its_errors():
    schema = APIClient().get("/api/v1/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/statements"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["from"]["required"] and params["from"]["schema"]["format"] == "date"
    assert params["format"]["schema"]["enum"] == ["csv", "pdf"]
    assert set(operation["responses"]["200"]["content"]) == {"text/csv", "application/pdf"}
    assert "VALIDATION_ERROR" in operation["responses"]["400"]["description"]
    assert {"401", "403", "429"} <= set(operation["responses"])
