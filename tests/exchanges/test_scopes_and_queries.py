"""The exchanges' own scopes (keys, the portal's key form, ``create_api_key``, ``seed_demo``)
and the SQL each POST costs, counted."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import (
    SCOPE_EXCHANGES_READ,
    SCOPE_EXCHANGES_WRITE,
    SCOPE_READ,
    SCOPE_WRITE,
    ApiKey,
)
from otc.portal.forms import ApiKeyCreateForm
from tests import factories

from .conftest import BASE, buy_body, sell_body

pytestmark = pytest.mark.django_db


def code(response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


@pytest.mark.parametrize(
    ("method", "path", "needed"),
    [
        ("post", BASE, SCOPE_EXCHANGES_WRITE),
        ("get", BASE, SCOPE_EXCHANGES_READ),
        ("get", f"{BASE}/8f1c4a3e-5b7d-4e2a-9c61-0a2b3c4d5e6f", SCOPE_EXCHANGES_READ),
        ("post", f"{BASE}/8f1c4a3e-5b7d-4e2a-9c61-0a2b3c4d5e6f/accept", SCOPE_EXCHANGES_WRITE),
        ("post", f"{BASE}/8f1c4a3e-5b7d-4e2a-9c61-0a2b3c4d5e6f/cancel", SCOPE_EXCHANGES_WRITE),
    ],
)
def test_every_route_needs_its_exchanges_scope(acme, method, path, needed):
    # the OTC scopes are not enough: the market exchange is its own resource
    otc = acme.client(factories.make_key(acme.customer, [SCOPE_READ, SCOPE_WRITE]))
    response = getattr(otc, method)(path, {}, format="json")
    assert code(response) == (403, "INSUFFICIENT_SCOPE")
    assert needed in response.json()["error"]["message"]
    other = SCOPE_EXCHANGES_READ if needed == SCOPE_EXCHANGES_WRITE else SCOPE_EXCHANGES_WRITE
    half = acme.client(factories.make_key(acme.customer, [other]))
    assert code(getattr(half, method)(path, {}, format="json")) == (403, "INSUFFICIENT_SCOPE")
    full = acme.client(factories.make_key(acme.customer, [needed]))
    assert getattr(full, method)(path, {}, format="json").status_code != 403


def test_no_credentials_is_unauthenticated(acme, client):
    assert code(client.post(BASE, buy_body(acme), content_type="application/json")) == (
        401,
        "UNAUTHENTICATED",
    )


def test_an_exchanges_key_cannot_use_the_otc_routes(acme, api):
    assert code(api.get("/api/v1/otc-exchanges")) == (403, "INSUFFICIENT_SCOPE")


def test_the_portal_session_reaches_the_exchanges_api(acme, client):
    client.force_login(acme.user)
    assert client.get(BASE).status_code == 200


def test_create_api_key_mints_exchanges_scopes():
    factories.CustomerFactory(slug="acme")
    out = StringIO()
    call_command(
        "create_api_key",
        "--customer",
        "acme",
        "--scopes",
        "exchanges:read,exchanges:write",
        stdout=out,
    )
    key = ApiKey.objects.get()
    assert sorted(key.scopes) == ["exchanges:read", "exchanges:write"]
    assert out.getvalue().strip().startswith("sk_test_")


def test_the_portal_key_form_offers_the_exchanges_scopes():
    choices = dict(ApiKeyCreateForm().fields["scopes"].choices)
    assert "market exchanges" in choices[SCOPE_EXCHANGES_READ]
    assert SCOPE_EXCHANGES_WRITE in choices
    form = ApiKeyCreateForm(data={"scopes": [SCOPE_EXCHANGES_WRITE], "live": "test"})
    assert form.is_valid(), form.errors


def test_seed_demos_all_key_carries_them_and_the_write_key_stays_otc_only(desk):
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    keys = json.loads(out.getvalue())["customers"]["acme"]["apiKeys"]

    def scopes(secret: str) -> set[str]:
        return set(ApiKey.objects.get(key_hash=ApiKey.hash_secret(secret)).scopes)

    assert {SCOPE_EXCHANGES_READ, SCOPE_EXCHANGES_WRITE} <= scopes(keys["all"])
    assert scopes(keys["write"]) == {SCOPE_READ, SCOPE_WRITE}


# --- query counts -------------------------------------------------------------------------------


def count(call) -> tuple[object, int]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return response, len(captured)


@pytest.fixture
def warm(api):
    """The key's first-use stamp is written once, before anything is counted."""
    api.get(BASE)
    return api


@pytest.mark.parametrize("body", [buy_body, sell_body])
def test_create_costs_a_fixed_number_of_queries(acme, warm, create, body):
    create(body(acme))  # warm the per-process caches (pair decimals, fee account)
    response, queries = count(lambda: create(body(acme)))
    assert response.status_code == 201
    # authentication and throttling, the source's kind, the pair, fee terms, the resources
    # (and custody for a sell), the order, its fee lines, timeline and outbox event
    assert queries <= 22, queries


@pytest.mark.parametrize("body", [buy_body, sell_body])
def test_accept_costs_a_fixed_number_of_queries(acme, warm, quoted, accept, body):
    accept(quoted(body(acme)))  # warm
    exchange_id = quoted(body(acme))
    response, queries = count(lambda: accept(exchange_id))
    assert response.json()["status"] == "EXECUTED"
    # the same reads again (no provider I/O under the locks), two row locks, the daily limit,
    # the treasury, one lock of every ledger account, two or three entries with their
    # postings and balances, their provider steps, the transition, timeline and event
    assert queries <= 45, queries


def test_the_list_does_not_grow_with_the_exchanges_listed(acme, warm, quoted, accept):
    for _ in range(3):
        accept(quoted(buy_body(acme, "100.00")))
    _, few = count(lambda: warm.get(BASE))
    for _ in range(6):
        accept(quoted(sell_body(acme, "100.000000", "FIX_SOURCE")))
    _, many = count(lambda: warm.get(BASE))
    assert many == few
