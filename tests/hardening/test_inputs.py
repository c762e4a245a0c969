"""One set of input rules for every route (``otc.api.inputs``): a blank query parameter is a
400 on every list route, ``events?type=,,,`` is a 400 and not "no filter", and a body field
a route does not know is refused with VALIDATION_ERROR naming it, on every body."""

import pytest

from otc.models import Order, Status
from otc.webhooks.models import Delivery, WebhookEndpoint

from ..otc.test_api_support import ORDERS, QUOTE, assert_error, buy_body, buy_quote_id, new_key

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/events"


# --- list queries ---------------------------------------------------------------------------


@pytest.mark.parametrize("param", ["page", "limit"])
@pytest.mark.parametrize("value", ["", "  "])
def test_a_blank_page_or_limit_is_a_validation_error_on_every_list_route(
    api, paged_routes, param, value
):
    for path in paged_routes:
        err = assert_error(api.get(path, {param: value}), 400, "VALIDATION_ERROR")
        assert err["details"] == {param: ["This parameter may not be blank."]}, path


@pytest.mark.parametrize("param", ["limit", "after", "type"])
def test_a_blank_parameter_is_a_validation_error_on_the_event_feed(api, param):
    err = assert_error(api.get(EVENTS, {param: ""}), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {param}


@pytest.mark.parametrize("types", [",,,", "otc_order.quoted,", ",otc_order.quoted", " , "])
def test_an_event_type_list_with_an_empty_item_is_a_validation_error(api, event, types):
    err = assert_error(api.get(EVENTS, {"type": types}), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"type"}


def test_the_event_type_filter_still_filters(api, acme, event):
    from otc.webhooks.services import event_emit

    event_emit(customer=acme.customer, type="otc_order.cancelled", data={"n": "2"})
    response = api.get(EVENTS, {"type": "otc_order.cancelled, otc_order.expired"})
    assert response.status_code == 200, response.content
    assert [e["type"] for e in response.json()["data"]] == ["otc_order.cancelled"]


def test_limits_above_the_maximum_are_refused_everywhere(api, paged_routes):
    for path in [*paged_routes, EVENTS]:
        err = assert_error(api.get(path, {"limit": "101"}), 400, "VALIDATION_ERROR")
        assert set(err["details"]) == {"limit"}, path


def test_unknown_query_parameters_are_ignored(api, paged_routes):
    for path in [*paged_routes, EVENTS]:
        assert api.get(path, {"_": "1717171717"}).status_code == 200, path


# --- bodies ---------------------------------------------------------------------------------


def test_a_misspelt_quote_field_is_refused_and_nothing_is_quoted(api, acme):
    body = buy_body(acme)
    body["destinationAmountUsdcc"] = "500.000000"
    err = assert_error(api.post(QUOTE, body, format="json"), 400, "VALIDATION_ERROR")
    assert list(err["details"]) == ["destinationAmountUsdcc"]
    assert err["details"]["destinationAmountUsdcc"][0].startswith("Unknown field.")
    assert "sourceAmountEur" in err["details"]["destinationAmountUsdcc"][0]  # lists the valid
    assert not Order.objects.exists()


def test_unknown_fields_are_reported_with_the_other_errors(api, acme):
    body = buy_body(acme, sourceAmountEur="-1")
    body["typo"] = 1
    err = assert_error(api.post(QUOTE, body, format="json"), 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"sourceAmountEur", "typo"}


def test_an_unknown_confirm_field_is_refused_and_nothing_is_confirmed(api, acme):
    quote_id = buy_quote_id(acme, client=api)
    body = {"side": "buy", "quoteId": quote_id, "maxSlipageBps": 10}
    response = api.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    err = assert_error(response, 400, "VALIDATION_ERROR")
    assert list(err["details"]) == ["maxSlipageBps"]
    assert Order.objects.get(pk=quote_id).status == Status.QUOTED


def test_an_unknown_token_field_is_refused(api, acme):
    body = {"username": acme.user.username, "password": "x", "otp": "123456"}
    err = assert_error(api.post("/api/v1/auth/token", body, format="json"), 400, "VALIDATION_ERROR")
    assert list(err["details"]) == ["otp"]


def test_an_unknown_webhook_endpoint_field_is_refused_on_create_and_update(api, endpoint):
    created = api.post(
        "/api/v1/webhook-endpoints",
        {"url": "http://127.0.0.1:9/other", "evnts": ["otc_order.completed"]},
        format="json",
    )
    assert list(assert_error(created, 400, "VALIDATION_ERROR")["details"]) == ["evnts"]
    assert WebhookEndpoint.objects.count() == 1

    updated = api.patch(
        f"/api/v1/webhook-endpoints/{endpoint.pk}", {"enabeld": False}, format="json"
    )
    assert list(assert_error(updated, 400, "VALIDATION_ERROR")["details"]) == ["enabeld"]
    endpoint.refresh_from_db()
    assert endpoint.enabled


def test_an_unknown_redeliver_field_is_refused(api, endpoint, event):
    deliveries = Delivery.objects.count()
    response = api.post(
        f"/api/v1/webhook-endpoints/{endpoint.pk}/redeliver",
        {"eventId": str(event.pk), "force": True},
        format="json",
    )
    assert list(assert_error(response, 400, "VALIDATION_ERROR")["details"]) == ["force"]
    assert Delivery.objects.count() == deliveries
