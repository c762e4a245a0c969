"""Inputs that used to answer 500 (and log a traceback) now answer the contract's envelope:
JSON nested a thousand levels, a body over DATA_UPLOAD_MAX_MEMORY_SIZE, amounts longer than
the amount columns hold, a page past PostgreSQL's bigint, a lone surrogate, a bad Host."""

import json
import logging

import pytest
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.test import RequestFactory
from django.urls import reverse

from accounts import money
from accounts.models import AMOUNT_FIELD
from otc.api.errors import json_bad_request
from otc.api.inputs import MAX_PAGE
from otc.models import Order

from ..otc.test_api_support import QUOTE, assert_error, buy_body, sell_body
from .conftest import send

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_server_error_logged(caplog):
    """The point of all this: nothing here is a server error, nor logged as one."""
    caplog.set_level(logging.WARNING)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]


# --- JSON nested a thousand levels ------------------------------------------------------------


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_deeply_nested_json_is_a_validation_error_on_every_body_route(api, body_routes, depth):
    for opener, closer in (("[", "]"), ('{"a":', "}")):
        raw = opener * depth + "1" + closer * depth
        for method, path in body_routes:
            err = assert_error(send(api, method, path, raw), 400, "VALIDATION_ERROR")
            assert "nested more than 32 levels" in err["details"]["body"][0], (path, err)


def test_nesting_within_a_field_is_refused_before_any_serializer_sees_it(api, acme):
    nested = json.loads("[" * 40 + "]" * 40)
    body = buy_body(acme, sourceAmountEur=nested)
    err = assert_error(api.post(QUOTE, body, format="json"), 400, "VALIDATION_ERROR")
    assert "nested more than 32 levels" in err["details"]["body"][0]


# --- a body over DATA_UPLOAD_MAX_MEMORY_SIZE --------------------------------------------------


def test_a_body_too_large_is_a_413_on_every_body_route(api, body_routes):
    raw = json.dumps({"description": "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)})
    for method, path in body_routes:
        err = assert_error(send(api, method, path, raw), 413, "PAYLOAD_TOO_LARGE")
        assert err["details"] == {"maxBytes": settings.DATA_UPLOAD_MAX_MEMORY_SIZE}


def test_a_body_too_large_for_a_middleware_is_a_413_in_the_envelope_too():
    request = RequestFactory().post("/api/v1/otc-exchanges/quote")
    response = json_bad_request(request, RequestDataTooBig("too big"))
    assert response.status_code == 413
    assert json.loads(response.content)["error"]["code"] == "PAYLOAD_TOO_LARGE"


# --- amounts longer than the amount columns hold -----------------------------------------------


def test_the_amount_limit_is_what_the_amount_columns_hold():
    assert AMOUNT_FIELD["max_digits"] - AMOUNT_FIELD["decimal_places"] == money.MAX_INTEGER_DIGITS


@pytest.mark.parametrize(
    ("make_body", "field", "amount"),
    [
        (buy_body, "sourceAmountEur", "1" * 27),
        (buy_body, "sourceAmountEur", "9" * 40 + ".00"),
        (buy_body, "sourceAmountEur", "1" * 19),
        (sell_body, "sourceAmountUsdc", "1" * 23),
        (sell_body, "sourceAmountUsdc", "1" * 19 + ".123456"),
    ],
)
def test_an_amount_longer_than_the_database_holds_is_a_validation_error(
    api, acme, make_body, field, amount
):
    response = api.post(QUOTE, make_body(acme, amount), format="json")
    err = assert_error(response, 400, "VALIDATION_ERROR")
    assert err["details"][field] == ["Amounts have at most 18 digits before the point."]


def test_the_longest_amount_the_database_holds_is_only_out_of_range(api, acme):
    response = api.post(QUOTE, buy_body(acme, "9" * 18 + ".99"), format="json")
    assert_error(response, 422, "AMOUNT_OUT_OF_RANGE")


@pytest.mark.parametrize(("side", "amount"), [("buy", "1" * 27), ("sell", "1" * 23)])
def test_the_portal_form_says_the_amount_is_too_long(client, acme, side, amount):
    client.force_login(acme.user)
    response = client.post(
        reverse("portal:exchange"),
        {
            "side": side,
            "fiat_account": str(acme.eur_master.pk),
            "wallet": str(acme.wallet.pk),
            "amount": amount,
        },
    )
    assert response.status_code == 400
    (message,) = response.context["form"].errors["amount"]
    assert message.startswith("Amounts have at most 18 digits before the point.")
    assert not Order.objects.exists()


# --- a page past PostgreSQL's bigint ------------------------------------------------------------


@pytest.mark.parametrize("page", ["9" * 20, str(MAX_PAGE + 1), "1" + "0" * 400])
def test_a_page_past_bigint_is_a_validation_error_on_every_list_route(api, paged_routes, page):
    for path in paged_routes:
        err = assert_error(api.get(path, {"page": page}), 400, "VALIDATION_ERROR")
        assert set(err["details"]) == {"page"}, (path, err)


def test_the_last_page_the_database_can_count_to_is_just_empty(api, paged_routes):
    for path in paged_routes:
        response = api.get(path, {"page": MAX_PAGE, "limit": 100})
        assert response.status_code == 200, (path, response.content)
        assert response.json()["data"] == []


# --- a lone surrogate -----------------------------------------------------------------------


def test_a_lone_surrogate_is_a_validation_error_on_every_body_route(api, body_routes):
    bodies = ('{"side": "\\ud800"}', '{"\\udfff": 1}', '{"username": "ok", "x": ["a\\ud801"]}')
    for raw in bodies:
        for method, path in body_routes:
            err = assert_error(send(api, method, path, raw), 400, "VALIDATION_ERROR")
            assert "surrogate" in err["details"]["body"][0], (path, err)


def test_a_surrogate_pair_is_an_ordinary_character(api, acme):
    # "\ud83d\ude00" is one character (an emoji): refused as a side, but not as unreadable.
    raw = json.dumps(buy_body(acme, side="\U0001f600"), ensure_ascii=True)
    err = assert_error(send(api, "post", QUOTE, raw), 400, "VALIDATION_ERROR")
    assert "side" in err["details"]


# --- a bad Host -----------------------------------------------------------------------------


@pytest.fixture
def _quiet_disallowed_host(caplog):
    # Django's security log reports a bad Host at ERROR by design (with no traceback of ours).
    logging.getLogger("django.security.DisallowedHost").disabled = True
    yield
    logging.getLogger("django.security.DisallowedHost").disabled = False


@pytest.mark.usefixtures("_quiet_disallowed_host")
def test_a_bad_host_on_the_api_answers_the_envelope(api):
    for path in ("/api/v1/otc-exchanges/accounts", "/api/v1/auth/token", "/api/v2/anything"):
        response = api.get(path, HTTP_HOST="evil.example")
        assert_error(response, 400, "BAD_REQUEST")
        assert response["X-Request-Id"]


@pytest.mark.usefixtures("_quiet_disallowed_host")
def test_a_bad_host_elsewhere_keeps_djangos_page(client):
    response = client.get("/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
