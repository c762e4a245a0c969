"""The portal's statement page: a form, the same file as the API, errors in the form."""

import pytest

from tests import factories

from .test_api import rows

pytestmark = pytest.mark.django_db

URL = "/statements/"


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def test_the_nav_links_to_the_statement_form(portal):
    page = portal.get("/")
    assert b'href="/statements/"' in page.content
    form = portal.get(URL)
    assert form.status_code == 200
    html = form.content.decode()
    assert 'name="from"' in html and 'name="to"' in html and 'value="csv"' in html
    assert "Europe/Berlin" in html
    assert 'aria-current="page">Statements' in html


def test_the_form_downloads_the_customers_own_statement(portal, acme, globex, history):
    response = portal.get(
        URL, {"from": str(history.date_from), "to": str(history.date_to), "format": "csv"}
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment; filename=")
    table = rows(response)
    assert table[0]["resource"] == acme.customer.name
    ids = {r["resource_id"] for r in table if r["resource_id"]}
    assert str(acme.eur_master.pk) in ids
    assert not ids & {str(a.pk) for a in globex.customer.fiat_accounts.all()}
    pdf = portal.get(
        URL, {"from": str(history.date_from), "to": str(history.date_to), "format": "pdf"}
    )
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_a_bad_range_shows_the_reason_in_the_form(portal):
    response = portal.get(URL, {"from": "2025-03-01", "to": "2025-02-01", "format": "pdf"})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'role="alert"' in html and "is before from" in html
    assert 'value="2025-03-01"' in html  # what was typed stays in the form


def test_signed_out_visitors_go_to_sign_in_and_staff_to_the_console(client, acme):
    response = client.get(URL, {"from": "2025-01-01", "to": "2025-01-02", "format": "csv"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    client.force_login(factories.UserFactory(username="op-bob", is_staff=True))
    assert client.get(URL)["Location"] == "/ops/"
