"""/api/v1/schema/ (OpenAPI 3 documenting every route and its error codes), /api/v1/docs/
(interactive docs served from local static files only) and /healthz."""

import json
import re
import uuid
from pathlib import Path

import jsonschema
import pytest
from django.contrib.staticfiles import finders
from rest_framework import serializers
from rest_framework.test import APIClient

from accounts import money
from accounts.models import ALL_SCOPES
from otc.api.examples import ERRORS
from otc.api.inputs import MAX_PAGE, decimal_pattern
from otc.api.serializers import MoneyField
from otc.webhooks.serializers import WEBHOOK_URL_PATTERN, EndpointCreateInput

from .. import factories

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
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

# Every error code CONTRACT.md names for the API.
CONTRACT_CODES = {
    *AUTH,
    *BUY_CODES,
    *SELL_CODES,
    "INVALID_CREDENTIALS",
    "WALLET_NOT_FOUND",
    "BALANCE_UNAVAILABLE",
    "QUOTE_UNAVAILABLE",
    "VALIDATION_ERROR",
    "AMOUNT_OUT_OF_RANGE",
    "IDEMPOTENCY_KEY_REQUIRED",
    "IDEMPOTENCY_KEY_INVALID",
    "IDEMPOTENCY_KEY_REUSED",
    "IDEMPOTENCY_KEY_IN_PROGRESS",
    "QUOTE_EXPIRED",
    "ORDER_NOT_FOUND",
    "SIDE_MISMATCH",
    "ORDER_NOT_CONFIRMABLE",
    "SOURCE_INSUFFICIENT_FUNDS",
    "NOT_CANCELLABLE",
    "NOT_REQUOTABLE",
    "FEES_EXCEED_AMOUNT",
    "INVALID_CALCULATED_AMOUNT",
    "CURRENCY_PAIR_NOT_ENABLED",
    "REVIEW_NOT_FOUND",
    "REVIEW_CHANGED",
    "REVIEW_EXPIRED",
    "KYC_NOT_VERIFIED",
    "DAILY_LIMIT_EXCEEDED",
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


def _component(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_quote_body_is_exactly_one_of_each_sides_shapes(schema):
    body = schema["paths"]["/api/v1/otc-exchanges/quote"]["post"]["requestBody"]
    variants = _component(schema, body["content"]["application/json"]["schema"])["oneOf"]
    shapes = set()
    for variant in variants:
        assert variant["additionalProperties"] is False, variant["title"]
        side = variant["properties"]["side"]["enum"]
        assert len(side) == 1
        resources = (
            {"sourceFrAccountId", "destinationUtilaWalletId"}
            if side == ["buy"]
            else {"sourceUtilaWalletId", "destinationFrAccountId"}
        )
        amounts = [p for p in variant["properties"] if "Amount" in p]
        assert len(amounts) == 1, variant["title"]  # exactly one amount, never two
        required = set(variant["required"])
        assert required >= resources | set(amounts)
        # side defaults to buy: only a sell must say so
        assert ("side" in required) == (side == ["sell"])
        shapes.add((side[0], amounts[0]))
    assert shapes == {
        ("buy", "sourceAmountEur"),
        ("buy", "destinationAmountUsdc"),
        ("buy", "sourceAmount"),
        ("buy", "destinationAmount"),
        ("sell", "sourceAmountUsdc"),
        ("sell", "destinationAmountEur"),
        ("sell", "sourceAmount"),
        ("sell", "destinationAmount"),
    }


def _operations(schema: dict):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_every_list_route_states_the_page_and_limit_bounds(schema):
    bounded = 0
    for path, _method, operation in _operations(schema):
        parameters = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}
        if "limit" in parameters:
            limit = parameters["limit"]["schema"]
            assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100), path
            assert limit["default"] == 50, path
            bounded += 1
        if "page" in parameters:
            page = parameters["page"]["schema"]
            assert (page["type"], page["minimum"], page["maximum"]) == ("integer", 1, MAX_PAGE)
    assert bounded >= 4  # orders, webhook endpoints, deliveries, events


def test_list_filters_are_enums_and_the_events_cursor_is_a_uuid(schema):
    orders = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/api/v1/otc-exchanges"]["get"]["parameters"]
    }
    assert set(orders["side"]["enum"]) == {"buy", "sell"}
    assert "pending_approval" in orders["status"]["enum"]
    events = {p["name"]: p for p in schema["paths"]["/api/v1/events"]["get"]["parameters"]}
    assert events["after"]["schema"]["format"] == "uuid"
    types = events["type"]
    assert (types["style"], types["explode"], types["schema"]["minItems"]) == ("form", False, 1)
    assert "otc_order.completed" in types["schema"]["items"]["enum"]


def test_idempotency_key_is_documented_as_a_uuid_v4(schema):
    parameters = schema["paths"]["/api/v1/otc-exchanges"]["post"]["parameters"]
    header = next(p for p in parameters if p["name"] == "Idempotency-Key")
    pattern = re.compile(header["schema"]["pattern"])
    assert header["schema"]["format"] == "uuid"
    assert pattern.fullmatch(str(uuid.uuid4()))
    assert pattern.fullmatch(str(uuid.uuid4()).upper())
    assert not pattern.fullmatch(str(uuid.uuid1()))  # a UUID, but not version 4
    assert not pattern.fullmatch(uuid.uuid4().hex)


def test_webhook_events_need_at_least_one_item(schema):
    for name in ("EndpointCreateInputRequest", "PatchedEndpointUpdateInputRequest"):
        component = (
            schema["components"]["schemas"].get(name)
            or schema["components"]["schemas"][name.replace("Patched", "")]
        )
        assert component["properties"]["events"]["minItems"] == 1, name


def test_every_request_body_is_closed(schema):
    for path, method, operation in _operations(schema):
        body = operation.get("requestBody")
        if not body:
            continue
        component = _component(schema, body["content"]["application/json"]["schema"])
        for shape in component.get("oneOf", [component]):
            assert shape["additionalProperties"] is False, (path, method)


def test_path_ids_are_uuids_and_links_name_real_operations(schema):
    operation_ids = {op["operationId"] for _, _, op in _operations(schema)}
    linked = 0
    for path, _method, operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                assert parameter["schema"] == {"type": "string", "format": "uuid"}, path
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in operation_ids
                linked += 1
    assert linked >= 20


@pytest.mark.parametrize(
    ("decimals", "accepted", "refused"),
    [
        (2, ["100", "100.5", "0.01", "000.10", "1" * 18], ["0", "0.00", "1.005", "1" * 19]),
        (6, ["0.000001", "12.123456", "5"], ["0.0000001", "0.000000", "1e3", "-1"]),
    ],
)
def test_the_published_amount_pattern_is_the_fields_own(decimals, accepted, refused):
    currency = {2: money.EUR, 6: money.USDC}[decimals]
    pattern = re.compile(decimal_pattern(decimals))
    field = MoneyField(currency)
    for value in [*accepted, *refused, " 5", "+5", ".5", "5.", "1_000", "١٢"]:
        matches = bool(pattern.fullmatch(value))
        assert matches == (value in accepted), value
        try:
            field.run_validation(value)
            taken = True
        except serializers.ValidationError:
            taken = False
        assert taken == matches, value


# --- documentation an integrator can use ---------------------------------------------------


def _examples(content: dict) -> list:
    return [e["value"] for e in content.get("examples", {}).values()]


def test_every_operation_has_a_summary_a_description_and_examples(schema):
    for path, method, operation in _operations(schema):
        where = (path, method)
        assert operation.get("summary"), where
        assert len(operation.get("description", "")) > 30, where
        body = operation.get("requestBody")
        if body:
            assert _examples(body["content"]["application/json"]), where
        successes = [
            (status, response)
            for status, response in operation["responses"].items()
            if status.startswith("2")
        ]
        for status, response in successes:
            json_content = response.get("content", {}).get("application/json")
            if json_content:  # 204 has no body; a statement is a file
                assert _examples(json_content), (where, status)
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                codes = documented_codes(operation, status)
                shown = {
                    value["error"]["code"]
                    for value in _examples(response["content"]["application/json"])
                }
                assert shown == codes, (where, status)  # one example per listed code


def test_every_contract_error_code_has_a_documented_example_with_its_status(schema):
    shown: dict[str, set[str]] = {}
    for _, _, operation in _operations(schema):
        for status, response in operation["responses"].items():
            for value in _examples(response.get("content", {}).get("application/json", {})):
                if "error" in value:
                    shown.setdefault(value["error"]["code"], set()).add(status)
    missing = CONTRACT_CODES - set(shown)
    assert not missing
    for code, statuses in shown.items():
        assert statuses == {str(ERRORS[code].status)}, code


def test_the_error_table_matches_the_code_that_raises_each_error():
    """Where the code raises a code with a literal status (``error("CODE", 409, ...)``), the
    documented example says the same status."""
    raised: dict[str, set[int]] = {}
    pattern = re.compile(r'"([A-Z][A-Z0-9_]+)",\s*(\d{3}),')
    for folder in ("accounts", "wallets", "otc"):
        for path in (ROOT / folder).rglob("*.py"):
            for code, status in pattern.findall(path.read_text()):
                raised.setdefault(code, set()).add(int(status))
    checked = 0
    for code, example in ERRORS.items():
        if code in raised:
            assert raised[code] == {example.status}, code
            checked += 1
    assert checked >= 25


def _openapi_to_jsonschema(node):
    """OpenAPI 3.0's ``nullable`` as JSON Schema (the rest of what we use is the same)."""
    if isinstance(node, list):
        return [_openapi_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {k: _openapi_to_jsonschema(v) for k, v in node.items()}
    if "$ref" in node:
        node["$ref"] = node["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def test_every_example_is_valid_against_its_own_schema(schema):
    defs = _openapi_to_jsonschema(schema["components"]["schemas"])
    checked = 0
    for path, method, operation in _operations(schema):
        contents = []
        if operation.get("requestBody"):
            contents.append(operation["requestBody"]["content"]["application/json"])
        for response in operation["responses"].values():
            if "application/json" in response.get("content", {}):
                contents.append(response["content"]["application/json"])
        for content in contents:
            validator = jsonschema.Draft202012Validator(
                {**_openapi_to_jsonschema(content["schema"]), "$defs": defs}
            )
            for name, example in content.get("examples", {}).items():
                errors = [e.message for e in validator.iter_errors(example["value"])]
                assert not errors, (path, method, name, errors[:3])
                checked += 1
    assert checked > 150


def test_the_docs_page_has_a_five_minute_guide_with_curl(schema):
    description = schema["info"]["description"]
    assert "first exchange in five minutes" in description.lower()
    for step in ("otc-exchanges/quote", "Idempotency-Key", "otc-exchanges/<orderId>"):
        assert step in description
    assert description.count("curl ") >= 6


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


# --- the server refuses what the schema refuses (schemathesis found each) -------------------


@pytest.fixture
def api(acme) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=factories.make_key(acme.customer, list(ALL_SCOPES)))
    return client


@pytest.mark.parametrize("path", ["/api/v1/otc-exchanges", "/api/v1/webhook-endpoints"])
@pytest.mark.parametrize(
    "query",
    ["limit=10&limit=100", "page=1&page=2", "limit=1.0", "page=%201", "limit=+5"],
)
def test_list_queries_outside_the_schema_are_refused(api, path, query):
    response = api.get(f"{path}?{query}")
    assert response.status_code == 400, query
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    assert set(body["details"]) <= {"page", "limit"}


def test_a_repeated_event_type_filter_is_refused(api):
    response = api.get("/api/v1/events?type=otc_order.quoted&type=otc_order.completed")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"type": ["Give this parameter once."]}


def test_confirm_refuses_a_uuid_that_is_not_version_4(api):
    response = api.post(
        "/api/v1/otc-exchanges",
        {"side": "buy", "quoteId": str(uuid.uuid4())},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid1()),
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "IDEMPOTENCY_KEY_INVALID"


def test_webhook_events_must_not_be_empty(api):
    response = api.post(
        "/api/v1/webhook-endpoints",
        {"url": "https://erp.example.com/hooks", "events": []},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]) == {"events"}


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (
            "/api/v1/webhook-endpoints",
            {"url": "https://erp.example.com/h", "description": 0},
            "description",
        ),
        (
            "/api/v1/webhook-endpoints",
            {"url": "https://erp.example.com/h", "events": "*"},
            "events",
        ),
        (
            "/api/v1/otc-exchanges/quote",
            {"side": "buy", "pair": 1, "sourceAmountEur": "10"},
            "pair",
        ),
        ("/api/v1/auth/token", {"username": 12, "password": "x"}, "username"),
    ],
)
def test_body_fields_of_another_json_type_are_refused_not_converted(api, path, body, field):
    response = api.post(path, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"][field] == [
        "Must be a JSON array." if field == "events" else "Must be a JSON string."
    ]


def test_a_boolean_must_be_a_json_boolean(api, acme, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    created = api.post(
        "/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hooks"}, format="json"
    )
    endpoint = created.json()["data"]["id"]
    for value in (0, "false", "no"):
        response = api.patch(
            f"/api/v1/webhook-endpoints/{endpoint}", {"enabled": value}, format="json"
        )
        assert response.status_code == 400, value
        assert response.json()["error"]["details"] == {"enabled": ["Must be true or false."]}
    response = api.post(
        "/api/v1/otc-exchanges",
        {"quoteId": str(uuid.uuid4()), "maxSlippageBps": "100"},
        format="json",
        HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
    )
    assert response.json()["error"]["details"] == {"maxSlippageBps": ["Must be a JSON integer."]}


@pytest.mark.parametrize(
    "url",
    [
        "http://185.101.251.229#\u00eb\u00da",  # not ASCII: an IRI, not a URI
        "https://erp.example.com/<hooks>",
        "https://erp.example.com/%zz",
        "https://" + ".".join([c * 60 for c in "abcde"]) + ".com",  # a host over 253
    ],
)
def test_webhook_urls_outside_the_published_pattern_are_refused(api, settings, url):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True  # the form alone decides, not the address
    assert not re.fullmatch(WEBHOOK_URL_PATTERN.strip("^$"), url)
    response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")
    assert response.status_code == 400, url
    assert set(response.json()["error"]["details"]) == {"url"}


@pytest.mark.parametrize(
    "url",
    [
        "https://erp.example.com/hooks/otc?x=1#y",
        "https://my-company-webhook-receiver-prod.hooks.eu-west-1.example.com/a%20b",
        "https://93.184.216.34:8443/hooks",
        "https://[2606:4700:4700::1111]/x",
        "https://xn--mnchen-3ya.de/",
    ],
)
def test_webhook_urls_matching_the_published_pattern_pass_the_field(url):
    assert re.fullmatch(WEBHOOK_URL_PATTERN.strip("^$"), url)
    assert EndpointCreateInput(data={"url": url}).is_valid()
