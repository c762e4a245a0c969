"""The API's edges: unknown routes, wrong methods, malformed JSON, wrong media types, the
per-customer rate limit, and X-Request-Id on every response and in the log lines."""

import logging
import uuid

import pytest
from rest_framework.test import APIClient

from otc.api.throttling import CustomerRateThrottle
from otc.middleware import RequestIdLogFilter
from otc.models import Order

from .. import factories
from .test_api_support import (
    ACCOUNTS,
    ORDERS,
    QUOTE,
    TOKEN,
    UUID_RE,
    WALLETS,
    assert_error,
    buy_body,
    buy_quote_id,
    cancel_url,
    new_key,
)

pytestmark = pytest.mark.django_db


# --- unknown routes and methods -------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/nope",
        "/api/v1/otc-exchanges/accounts/extra",
        "/api/v1/otc-exchanges/some-id/approve",
        "/api/v1/",
        "/api/v2/otc-exchanges",
    ],
)
def test_unknown_api_route_is_a_json_404(acme, path):
    for api in (APIClient(), acme.client()):
        for method in ("get", "post", "put", "delete"):
            response = getattr(api, method)(path)
            err = assert_error(response, 404, "NOT_FOUND")
            assert "<html" not in response.content.decode().lower()
            assert err["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", ACCOUNTS),
        ("post", ACCOUNTS),
        ("put", WALLETS),
        ("get", QUOTE),
        ("patch", ORDERS),
        ("delete", f"{ORDERS}/{uuid.uuid4()}"),
        ("get", f"{ORDERS}/{uuid.uuid4()}/cancel"),
        ("get", f"{ORDERS}/{uuid.uuid4()}/requote"),
        ("get", TOKEN),
    ],
)
def test_wrong_method_is_a_405_in_the_envelope(acme, method, path):
    response = getattr(acme.client(), method)(path)
    err = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert method.upper() in err["message"]
    assert response["Allow"]


def test_wrong_method_without_credentials_is_still_json(acme):
    # Credentials are checked first, so an anonymous caller learns nothing about routes.
    assert_error(APIClient().delete(ACCOUNTS), 401, "UNAUTHENTICATED")


# --- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ['{"side": ', "not json", "{'single': 'quotes'}", "[1,2,"])
def test_malformed_json_is_a_validation_error(acme, raw):
    response = acme.client().post(QUOTE, data=raw, content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert not Order.objects.exists()


def test_malformed_json_on_confirm_and_token(acme):
    response = acme.client().post(
        ORDERS, data="{", content_type="application/json", HTTP_IDEMPOTENCY_KEY=new_key()
    )
    assert_error(response, 400, "VALIDATION_ERROR")
    response = APIClient().post(TOKEN, data="{", content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")


def test_form_encoded_body_is_refused(acme):
    response = acme.client().post(QUOTE, buy_body(acme))  # multipart, not JSON
    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert not Order.objects.exists()


def test_cancel_needs_no_body(acme):
    quote_id = buy_quote_id(acme)
    assert acme.client().post(cancel_url(quote_id)).status_code == 200


def test_success_bodies_are_json(acme):
    for url in (ACCOUNTS, WALLETS, ORDERS):
        response = acme.client().get(url)
        assert response["Content-Type"] == "application/json"


# --- rate limit -----------------------------------------------------------------------------


def test_requests_are_rate_limited_per_customer(acme, globex, monkeypatch):
    monkeypatch.setitem(CustomerRateThrottle.THROTTLE_RATES, "customer", "3/min")
    other_key = factories.make_key(acme.customer)
    for n in range(3):
        api = acme.client() if n % 2 == 0 else acme.client(other_key)
        assert api.get(ACCOUNTS).status_code == 200
    # Every key of the customer shares one budget.
    for api in (acme.client(), acme.client(other_key)):
        response = api.get(ACCOUNTS)
        err = assert_error(response, 429, "RATE_LIMITED")
        retry_after = int(response["Retry-After"])
        assert 0 < retry_after <= 60
        assert 0 < err["details"]["retry_after_ms"] <= 60_000
        assert response["X-Request-Id"]
    # A POST is limited too, and does nothing.
    assert_error(acme.client().post(QUOTE, buy_body(acme), format="json"), 429, "RATE_LIMITED")
    assert not Order.objects.exists()
    # Another customer has its own budget.
    assert globex.client().get(ACCOUNTS).status_code == 200


# --- X-Request-Id ---------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", ["req-123", "a1b2c3", "trace.id:42_x", "x" * 128])
def test_sane_request_id_is_echoed(acme, request_id):
    response = acme.client().get(ACCOUNTS, HTTP_X_REQUEST_ID=request_id)
    assert response["X-Request-Id"] == request_id
    error = APIClient().get(ACCOUNTS, HTTP_X_REQUEST_ID=request_id)
    assert error.status_code == 401 and error["X-Request-Id"] == request_id


@pytest.mark.parametrize(
    "request_id", [None, "", "has space", "x" * 129, "<script>", "id\u00e9", "a;b"]
)
def test_request_id_is_generated_when_missing_or_not_sane(acme, request_id):
    extra = {} if request_id is None else {"HTTP_X_REQUEST_ID": request_id}
    response = acme.client().get(ACCOUNTS, **extra)
    generated = response["X-Request-Id"]
    assert UUID_RE.match(generated) and generated != request_id
    assert acme.client().get(ACCOUNTS, **extra)["X-Request-Id"] != generated


@pytest.mark.parametrize(
    "path", ["/api/v1/nope", "/healthz", "/api/v1/schema/?format=json", "/login/"]
)
def test_every_response_carries_a_request_id(path):
    response = APIClient().get(path, HTTP_X_REQUEST_ID="probe-1")
    assert response["X-Request-Id"] == "probe-1"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []
        self.addFilter(RequestIdLogFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_request_id_is_on_the_servers_log_lines(acme):
    handler = _Collect()
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        APIClient().get(ACCOUNTS, HTTP_X_REQUEST_ID="trace-401")
        acme.client().get(f"{ORDERS}/{uuid.uuid4()}", HTTP_X_REQUEST_ID="trace-404")
    finally:
        logger.removeHandler(handler)
    ids = [record.request_id for record in handler.records]
    assert ids == ["trace-401", "trace-404"], [r.getMessage() for r in handler.records]


def test_an_unexpected_error_is_a_500_envelope_without_internals(acme, monkeypatch):
    """A bug (here injected into the accounts selector) must not leak a stack trace or an
    exception message; the client gets the envelope and the request id to quote to support."""
    from otc.api import views

    def broken(customer):
        raise RuntimeError("psycopg secret-internal-detail")

    monkeypatch.setattr(views, "eligible_fiat_accounts", broken)
    handler = _Collect()
    logger = logging.getLogger("otc.api")
    logger.addHandler(handler)
    try:
        response = acme.client().get(ACCOUNTS, HTTP_X_REQUEST_ID="trace-500")
    finally:
        logger.removeHandler(handler)
    assert_error(response, 500, "INTERNAL_ERROR")
    text = response.content.decode()
    assert "secret-internal-detail" not in text and "Traceback" not in text
    assert response["X-Request-Id"] == "trace-500"
    assert [r.request_id for r in handler.records] == ["trace-500"]


def test_a_client_that_accepts_only_html_gets_a_json_406(acme):
    response = acme.client().get(ACCOUNTS, HTTP_ACCEPT="text/html")
    assert_error(response, 406, "NOT_ACCEPTABLE")
    # A browser's usual Accept (with */*) gets the JSON answer.
    browser = acme.client().get(ACCOUNTS, HTTP_ACCEPT="text/html,application/xhtml+xml,*/*;q=0.8")
    assert browser.status_code == 200 and browser["Content-Type"] == "application/json"


@pytest.mark.parametrize("path", [f"{ACCOUNTS}/", f"{ORDERS}/", f"{QUOTE}/"])
def test_trailing_slash_is_not_a_route(acme, path):
    assert_error(acme.client().get(path), 404, "NOT_FOUND")


def test_options_answers_in_the_data_envelope(acme):
    response = acme.client().options("/api/v1/otc-exchanges")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data"}
    assert set(body["data"]["allowedMethods"]) == {"GET", "HEAD", "POST", "OPTIONS"}
    assert response["X-Request-Id"]
