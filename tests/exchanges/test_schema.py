"""The OpenAPI document describes the exchanges routes in the seed's snake_case shapes, with
every error code the routes give."""

import pytest

from otc.api.exchanges import ACCEPT_ERRORS, CREATE_ERRORS, EXAMPLE, EXECUTED

from .conftest import SEED_EXECUTED_FIELDS, buy_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def schema(client):
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def documented_codes(operation: dict) -> set[str]:
    codes = set()
    for response in operation["responses"].values():
        description = response.get("description", "")
        if description.startswith("Error codes: "):
            codes |= set(description.removeprefix("Error codes: ").split(", "))
    return codes


def names(listed) -> set[str]:
    """The codes of an error list, written ``(status, "CODE")`` or ``"CODE"``."""
    return {item[1] if isinstance(item, tuple) else item for item in listed}


def test_every_error_code_of_the_posts_is_documented(schema):
    paths = schema["paths"]
    assert documented_codes(paths["/api/v1/exchanges"]["post"]) == names(CREATE_ERRORS)
    accept = paths["/api/v1/exchanges/{exchange_id}/accept"]["post"]
    assert documented_codes(accept) == names(ACCEPT_ERRORS)
    get = paths["/api/v1/exchanges/{exchange_id}"]["get"]
    assert "EXCHANGE_NOT_FOUND" in documented_codes(get)
    listing = {p["name"]: p["schema"] for p in paths["/api/v1/exchanges"]["get"]["parameters"]}
    assert (listing["limit"]["minimum"], listing["limit"]["maximum"]) == (1, 100)


def test_the_shapes_are_the_seeds(schema):
    exchange = schema["components"]["schemas"]["ExchangeOutput"]["properties"]
    for field in SEED_EXECUTED_FIELDS:
        assert field in exchange
    statuses = schema["components"]["schemas"]["ExchangeStatusEnum"]["enum"]
    assert statuses == ["QUOTED", "EXECUTED", "EXPIRED", "FAILED", "CANCELLED"]
    body = schema["components"]["schemas"]["ExchangeCreateInputRequest"]["properties"]
    assert set(body) == {"source_account_id", "destination_account_id", "action", "amount"}
    assert (
        "maximum_slippage"
        in schema["components"]["schemas"]["ExchangeAcceptInputRequest"]["properties"]
    )


def test_the_documented_examples_have_the_real_bodys_fields(acme, create, accept):
    created = create(buy_body(acme)).json()
    assert set(EXAMPLE) == set(created)
    executed = accept(created["id"]).json()
    assert set(EXECUTED) == set(executed)
    assert set(EXECUTED["transactions"][0]) == set(executed["transactions"][0])
