"""/api/v1/schema/ (OpenAPI 3 documenting every route and its error codes), /api/v1/docs/
(interactive docs served from local static files only) and /healthz."""

import json
import re

import pytest
from django.contrib.staticfiles import finders
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

AUTH = {"UNAUTHENTICATED", "INSUFFICIENT_SCOPE", "RATE_LIMITED"}
BUY_CODES = {
    "SOURCE_NOT_FOUND",
    "SOURCE_WRONG_CURRENCY",
    "SOURCE_INACTIVE",
    "DESTINATION_NOT_FOUND",
    "DESTINATION_NO_USDC_ADDRESS",
}
SELL_CODES = {
    "SOURCE_WALLET_NOT_FOUND",
    "SOURCE_WALLET_NO_USDC",
    "SOURCE_WALLET_INSUFFICIENT",
    "DESTINATION_ACCOUNT_NOT_FOUND",
    "DESTINATION_ACCOUNT_WRONG_CURRENCY",
    "DESTINATION_ACCOUNT_INACTIVE",
}

# (path, method) -> (success status, the contract's error codes by status)
ROUTES = {
    ("/api/v1/auth/token", "post"): (
        "200",
        {"400": {"VALIDATION_ERROR"}, "401": {"INVALID_CREDENTIALS"}, "429": {"RATE_LIMITED"}},
    ),
    ("/api/v1/otc-exchanges/accounts", "get"): ("200", {}),
    ("/api/v1/otc-exchanges/wallets", "get"): ("200", {}),
    ("/api/v1/otc-exchanges/wallets/{wallet_id}/balance", "get"): (
        "200",
        {"404": {"WALLET_NOT_FOUND"}, "502": {"BALANCE_UNAVAILABLE"}},
    ),
    ("/api/v1/otc-exchanges/quote", "post"): (
        "200",
        {
            "400": {"VALIDATION_ERROR"},
            "422": BUY_CODES | SELL_CODES | {"AMOUNT_OUT_OF_RANGE"},
            "502": {"QUOTE_UNAVAILABLE"},
        },
    ),
    ("/api/v1/otc-exchanges", "post"): (
        "201",
        {
            "400": {
                "IDEMPOTENCY_KEY_REQUIRED",
                "IDEMPOTENCY_KEY_INVALID",
                "QUOTE_EXPIRED",
                "VALIDATION_ERROR",
            },
            "404": {"ORDER_NOT_FOUND"},
            "409": {"ORDER_NOT_CONFIRMABLE", "IDEMPOTENCY_KEY_IN_PROGRESS"},
            "422": {"SIDE_MISMATCH", "SOURCE_INSUFFICIENT_FUNDS", "IDEMPOTENCY_KEY_REUSED"}
            | BUY_CODES
            | SELL_CODES,
            "502": {"QUOTE_UNAVAILABLE"},
        },
    ),
    ("/api/v1/otc-exchanges", "get"): ("200", {"400": {"VALIDATION_ERROR"}}),
    ("/api/v1/otc-exchanges/{order_id}", "get"): ("200", {"404": {"ORDER_NOT_FOUND"}}),
    ("/api/v1/otc-exchanges/{order_id}/cancel", "post"): (
        "200",
        {"404": {"ORDER_NOT_FOUND"}, "409": {"NOT_CANCELLABLE"}},
    ),
    ("/api/v1/otc-exchanges/{order_id}/requote", "post"): (
        "200",
        {
            "404": {"ORDER_NOT_FOUND"},
            "409": {"NOT_REQUOTABLE"},
            "422": BUY_CODES | SELL_CODES,
            "502": {"QUOTE_UNAVAILABLE"},
        },
    ),
}


@pytest.fixture
def schema() -> dict:
    response = APIClient().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def documented_codes(operation: dict, status: str) -> set[str]:
    description = operation["responses"][status].get("description", "")
    return set(re.findall(r"[A-Z][A-Z0-9_]+", description))


def test_schema_is_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"]
    schemes = schema["components"]["securitySchemes"]
    api_key = schemes["ApiKeyAuth"]
    assert (api_key["type"], api_key["in"], api_key["name"]) == ("apiKey", "header", "x-api-key")
    assert schemes["BearerAuth"]["scheme"] == "bearer"


def test_schema_is_also_served_as_yaml():
    response = APIClient().get("/api/v1/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_schema_documents_every_route(schema):
    documented = {
        (path, method)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert set(ROUTES) <= documented
    # The catch-all 404 route is not an operation.
    assert not any("{" not in p and ".*" in p for p, _ in documented)


@pytest.mark.parametrize(("path", "method"), list(ROUTES))
def test_each_route_documents_its_success_and_error_codes(schema, path, method):
    operation = schema["paths"][path][method]
    success, errors = ROUTES[(path, method)]
    assert success in operation["responses"]
    if path != "/api/v1/auth/token":
        errors = {**errors, "401": {"UNAUTHENTICATED"}, "403": {"INSUFFICIENT_SCOPE"}}
        errors["429"] = {"RATE_LIMITED"}
    for status, codes in errors.items():
        assert status in operation["responses"], (path, method, status)
        missing = codes - documented_codes(operation, status)
        assert not missing, (path, method, status, missing)
        content = operation["responses"][status]["content"]["application/json"]["schema"]
        assert content["$ref"].startswith("#/components/schemas/")


def test_error_envelope_component(schema):
    refs = {
        operation["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        for path, method in ROUTES
        for operation in [schema["paths"][path][method]]
        for status in operation["responses"]
        if status.startswith(("4", "5"))
    }
    for ref in refs:
        component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
        assert set(component["properties"]) == {"error"}, ref


def test_confirm_documents_the_idempotency_key_header(schema):
    parameters = schema["paths"]["/api/v1/otc-exchanges"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    assert header["in"] == "header" and header["required"] is True
    assert header["schema"]["format"] == "uuid"


def test_list_documents_its_query_parameters(schema):
    names = {p["name"] for p in schema["paths"]["/api/v1/otc-exchanges"]["get"]["parameters"]}
    assert {"page", "limit", "status", "side"} <= names


def test_quote_request_body_documents_both_sides(schema):
    body = schema["paths"]["/api/v1/otc-exchanges/quote"]["post"]["requestBody"]
    ref = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    properties = set(schema["components"]["schemas"][ref]["properties"])
    assert properties >= {
        "side",
        "sourceFrAccountId",
        "destinationUtilaWalletId",
        "sourceAmountEur",
        "sourceUtilaWalletId",
        "destinationFrAccountId",
        "sourceAmountUsdc",
    }


def test_docs_page_uses_only_local_assets():
    response = APIClient().get("/api/v1/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert "/api/v1/schema/" in html
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        assert asset.startswith("/static/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a shipped file"
    assert not re.search(r"https?://", html), "the docs page must not load anything remote"
    assert "cdn" not in html.lower()


def test_healthz():
    response = APIClient().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
