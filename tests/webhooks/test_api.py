"""The endpoints API and the event feed: envelope, scopes and ownership on every route,
validation, pagination, the secret shown only at creation and rotation."""

import uuid

import pytest
from rest_framework.test import APIClient

from accounts.models import SCOPE_READ, SCOPE_WEBHOOKS_READ, SCOPE_WEBHOOKS_WRITE, SCOPE_WRITE
from otc.webhooks import services
from otc.webhooks.models import Delivery, WebhookEndpoint

from .. import factories
from .conftest import all_scopes_key
from .test_delivery import quote_buy

pytestmark = pytest.mark.django_db


def client(key: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_X_API_KEY=key)
    return api


@pytest.fixture
def hooks(acme):
    return client(all_scopes_key(acme.customer))


def create(api, url, **extra):
    return api.post("/api/v1/webhook-endpoints", {"url": url, **extra}, format="json")


def test_create_returns_the_secret_once(hooks, receiver):
    response = create(hooks, receiver.url, description="treasury bot")
    assert response.status_code == 201, response.content
    data = response.json()["data"]
    assert data["url"] == receiver.url
    assert data["events"] == ["*"]
    assert data["description"] == "treasury bot"
    assert data["enabled"] is True
    assert data["secret"].startswith("whsec_")
    assert data["createdAt"].endswith("Z")
    uuid.UUID(data["id"])

    shown = hooks.get(f"/api/v1/webhook-endpoints/{data['id']}").json()["data"]
    assert "secret" not in shown
    listed = hooks.get("/api/v1/webhook-endpoints").json()
    assert "secret" not in listed["data"][0]
    assert listed["meta"] == {"pagination": {"page": 1, "limit": 50, "total": 1}}


def test_create_with_event_types(hooks, receiver):
    data = create(hooks, receiver.url, events=["otc_order.completed", "otc_order.rejected"]).json()[
        "data"
    ]
    assert data["events"] == ["otc_order.completed", "otc_order.rejected"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"url": "not a url"}, "url"),
        ({}, "url"),
        ({"url": "https://93.184.216.34/x", "events": ["order.nope"]}, "events"),
        ({"url": "https://93.184.216.34/x", "events": []}, "events"),
    ],
)
def test_create_rejects_malformed_bodies(hooks, body, field):
    response = hooks.post("/api/v1/webhook-endpoints", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]


def test_unknown_event_type_error_lists_the_valid_ones(hooks):
    response = create(hooks, "https://93.184.216.34/x", events=["order.nope"])
    message = str(response.json()["error"]["details"]["events"])
    assert "otc_order.completed" in message


def test_patch_updates_and_disable_enable_round_trip(hooks, receiver):
    endpoint_id = create(hooks, receiver.url).json()["data"]["id"]
    path = f"/api/v1/webhook-endpoints/{endpoint_id}"
    response = hooks.patch(
        path, {"description": "new", "events": ["otc_order.completed"]}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["data"]["events"] == ["otc_order.completed"]
    disabled = hooks.patch(path, {"enabled": False}, format="json").json()["data"]
    assert disabled["enabled"] is False
    assert disabled["disabledReason"] == "Disabled by the customer."
    enabled = hooks.patch(path, {"enabled": True}, format="json").json()["data"]
    assert enabled["enabled"] is True and enabled["disabledReason"] is None


def test_patch_checks_a_new_url_against_the_guard(hooks, receiver, settings):
    endpoint_id = create(hooks, receiver.url).json()["data"]["id"]
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = False
    response = hooks.patch(
        f"/api/v1/webhook-endpoints/{endpoint_id}",
        {"url": "https://10.0.0.7/hooks"},
        format="json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "URL_NOT_ALLOWED"
    assert WebhookEndpoint.objects.get(pk=endpoint_id).url == receiver.url


def test_delete(hooks, receiver):
    endpoint_id = create(hooks, receiver.url).json()["data"]["id"]
    response = hooks.delete(f"/api/v1/webhook-endpoints/{endpoint_id}")
    assert response.status_code == 204
    assert not WebhookEndpoint.objects.filter(pk=endpoint_id).exists()
    assert hooks.get(f"/api/v1/webhook-endpoints/{endpoint_id}").status_code == 404


def test_rotate_secret_returns_a_new_secret(hooks, receiver):
    created = create(hooks, receiver.url).json()["data"]
    response = hooks.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret")
    assert response.status_code == 200
    rotated = response.json()["data"]["secret"]
    assert rotated.startswith("whsec_") and rotated != created["secret"]


def test_test_event_is_delivered_and_logged(hooks, receiver, django_capture_on_commit_callbacks):
    created = create(hooks, receiver.url).json()["data"]
    with django_capture_on_commit_callbacks(execute=True):
        response = hooks.post(f"/api/v1/webhook-endpoints/{created['id']}/test")
    assert response.status_code == 202
    assert response.json()["data"]["eventType"] == "webhook.test"
    [request] = receiver.wait_for(1)
    assert request.verify(created["secret"])["type"] == "webhook.test"
    log = hooks.get(f"/api/v1/webhook-endpoints/{created['id']}/deliveries").json()
    assert log["meta"]["pagination"]["total"] == 1
    [delivery] = log["data"]
    assert delivery["status"] == "succeeded"
    [attempt] = delivery["attempts"]
    assert attempt["statusCode"] == 200 and attempt["succeeded"] is True
    assert attempt["durationMs"] >= 0 and attempt["responseExcerpt"] == "ok"


def test_redeliver_an_event(acme, hooks, receiver, django_capture_on_commit_callbacks):
    created = create(hooks, receiver.url).json()["data"]
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    event_id = receiver.wait_for(1)[0].verify(created["secret"])["id"]
    with django_capture_on_commit_callbacks(execute=True):
        response = hooks.post(
            f"/api/v1/webhook-endpoints/{created['id']}/redeliver",
            {"eventId": event_id},
            format="json",
        )
    assert response.status_code == 202, response.content
    assert response.json()["data"]["eventId"] == event_id
    second = receiver.wait_for(2)[1]
    assert second.verify(created["secret"])["id"] == event_id


def test_redeliver_refuses_another_customers_event(
    acme, globex, hooks, receiver, django_capture_on_commit_callbacks
):
    created = create(hooks, receiver.url).json()["data"]
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(globex)
    from otc.webhooks.models import Event

    foreign = Event.objects.get(customer=globex.customer)
    response = hooks.post(
        f"/api/v1/webhook-endpoints/{created['id']}/redeliver",
        {"eventId": str(foreign.pk)},
        format="json",
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "EVENT_NOT_FOUND"


def test_redeliver_to_a_disabled_endpoint_is_a_conflict(acme, hooks, receiver):
    created = create(hooks, receiver.url).json()["data"]
    quote_buy(acme)
    event_id = acme.client().get("/api/v1/events").json()["data"][0]["id"]
    hooks.patch(f"/api/v1/webhook-endpoints/{created['id']}", {"enabled": False}, format="json")
    response = hooks.post(
        f"/api/v1/webhook-endpoints/{created['id']}/redeliver",
        {"eventId": event_id},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "ENDPOINT_DISABLED"


def test_endpoint_list_paginates(acme, hooks, receiver):
    for n in range(3):
        services.endpoint_create(customer=acme.customer, url=f"{receiver.url}/{n}")
    page = hooks.get("/api/v1/webhook-endpoints?page=2&limit=2").json()
    assert page["meta"]["pagination"] == {"page": 2, "limit": 2, "total": 3}
    assert [e["url"] for e in page["data"]] == [f"{receiver.url}/0"]
    bad = hooks.get("/api/v1/webhook-endpoints?limit=101")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "VALIDATION_ERROR"


def test_endpoint_limit_per_customer(acme, hooks, receiver):
    for n in range(services.MAX_ENDPOINTS_PER_CUSTOMER):
        services.endpoint_create(customer=acme.customer, url=f"{receiver.url}/{n}")
    response = create(hooks, receiver.url)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "ENDPOINT_LIMIT_REACHED"


# --- scopes and ownership on every route ----------------------------------------------------

ROUTES = [
    ("get", "/api/v1/webhook-endpoints", SCOPE_WEBHOOKS_READ, False),
    ("post", "/api/v1/webhook-endpoints", SCOPE_WEBHOOKS_WRITE, False),
    ("get", "/api/v1/webhook-endpoints/{id}", SCOPE_WEBHOOKS_READ, True),
    ("patch", "/api/v1/webhook-endpoints/{id}", SCOPE_WEBHOOKS_WRITE, True),
    ("delete", "/api/v1/webhook-endpoints/{id}", SCOPE_WEBHOOKS_WRITE, True),
    ("post", "/api/v1/webhook-endpoints/{id}/rotate-secret", SCOPE_WEBHOOKS_WRITE, True),
    ("post", "/api/v1/webhook-endpoints/{id}/test", SCOPE_WEBHOOKS_WRITE, True),
    ("get", "/api/v1/webhook-endpoints/{id}/deliveries", SCOPE_WEBHOOKS_READ, True),
    ("post", "/api/v1/webhook-endpoints/{id}/redeliver", SCOPE_WEBHOOKS_WRITE, True),
]
IDS = [f"{m.upper()} {p}" for m, p, _, _ in ROUTES]


def _call(api, method, path, endpoint_id, url):
    body = {"url": url, "description": "x", "eventId": str(uuid.uuid4())}
    return getattr(api, method)(path.format(id=endpoint_id), body, format="json")


@pytest.mark.parametrize("method, path, scope, by_id", ROUTES, ids=IDS)
def test_every_route_needs_its_webhooks_scope(acme, receiver, method, path, scope, by_id):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    others = {SCOPE_READ, SCOPE_WRITE, SCOPE_WEBHOOKS_READ, SCOPE_WEBHOOKS_WRITE} - {scope}
    lacking = client(factories.make_key(acme.customer, sorted(others)))
    response = _call(lacking, method, path, endpoint.pk, receiver.url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
    assert scope in response.json()["error"]["message"]
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()

    anonymous = _call(APIClient(), method, path, endpoint.pk, receiver.url)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"

    allowed = client(factories.make_key(acme.customer, [scope]))
    assert _call(allowed, method, path, endpoint.pk, receiver.url).status_code not in (401, 403)


@pytest.mark.parametrize(
    "method, path, scope, by_id",
    [r for r in ROUTES if r[3]],
    ids=[i for i, r in zip(IDS, ROUTES, strict=True) if r[3]],
)
def test_another_customers_endpoint_is_not_found_on_every_route(
    acme, globex, receiver, method, path, scope, by_id
):
    theirs = services.endpoint_create(customer=globex.customer, url=receiver.url)
    mine = client(all_scopes_key(acme.customer))
    for endpoint_id in (theirs.pk, uuid.uuid4(), "not-a-uuid"):
        response = _call(mine, method, path, endpoint_id, receiver.url)
        assert response.status_code == 404, (endpoint_id, response.content)
        assert response.json()["error"]["code"] == "WEBHOOK_ENDPOINT_NOT_FOUND"
    theirs.refresh_from_db()
    assert theirs.enabled and theirs.description == ""
    assert not Delivery.objects.filter(endpoint=theirs).exists()


def test_the_portal_session_reaches_the_webhooks_api_with_csrf(acme, receiver):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(acme.user)
    assert browser.get("/api/v1/webhook-endpoints").status_code == 200
    refused = browser.post(
        "/api/v1/webhook-endpoints", {"url": receiver.url}, content_type="application/json"
    )
    assert refused.status_code == 403


# --- the event feed -------------------------------------------------------------------------


def test_the_feed_lists_events_oldest_first_after_the_cursor(acme, globex):
    first = quote_buy(acme)
    second = quote_buy(acme)
    quote_buy(globex)
    reader = acme.client(acme.read_key)
    page = reader.get("/api/v1/events").json()
    assert [e["data"]["id"] for e in page["data"]] == [first, second]
    assert all(e["type"] == "otc_order.quoted" for e in page["data"])
    assert page["meta"]["pagination"]["hasMore"] is False
    cursor = page["data"][0]["id"]
    after = reader.get(f"/api/v1/events?after={cursor}").json()
    assert [e["data"]["id"] for e in after["data"]] == [second]
    tail = reader.get(f"/api/v1/events?after={after['meta']['pagination']['nextAfter']}").json()
    assert tail["data"] == [] and tail["meta"]["pagination"]["nextAfter"] == page["data"][1]["id"]


def test_the_feed_pages_with_limit_and_filters_by_type(acme):
    quote_buy(acme)
    quote_buy(acme)
    order_id = quote_buy(acme)
    acme.client().post(f"/api/v1/otc-exchanges/{order_id}/cancel")
    reader = acme.client(acme.read_key)
    page = reader.get("/api/v1/events?limit=2").json()
    assert len(page["data"]) == 2 and page["meta"]["pagination"]["hasMore"] is True
    rest = reader.get(f"/api/v1/events?after={page['meta']['pagination']['nextAfter']}").json()
    assert [e["type"] for e in rest["data"]] == ["otc_order.quoted", "otc_order.cancelled"]
    cancelled = reader.get("/api/v1/events?type=otc_order.cancelled").json()["data"]
    assert [e["data"]["id"] for e in cancelled] == [order_id]
    assert cancelled[0]["data"]["previousStatus"] == "quoted"
    both = reader.get("/api/v1/events?type=otc_order.cancelled,otc_order.quoted").json()
    assert len(both["data"]) == 4


@pytest.mark.parametrize(
    "query, field",
    [
        ("type=order.nope", "type"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("after=nope", "after"),
        (f"after={uuid.uuid4()}", "after"),
    ],
)
def test_the_feed_validates_its_query(acme, query, field):
    response = acme.client(acme.read_key).get(f"/api/v1/events?{query}")
    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_another_customers_event_is_no_cursor_and_not_found(acme, globex):
    quote_buy(globex)
    theirs = globex.client(globex.read_key).get("/api/v1/events").json()["data"][0]["id"]
    reader = acme.client(acme.read_key)
    assert reader.get(f"/api/v1/events?after={theirs}").status_code == 400
    response = reader.get(f"/api/v1/events/{theirs}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "EVENT_NOT_FOUND"
    assert globex.client(globex.read_key).get(f"/api/v1/events/{theirs}").status_code == 200


def test_the_feed_needs_the_read_scope(acme):
    no_read = client(factories.make_key(acme.customer, [SCOPE_WEBHOOKS_READ]))
    for path in ("/api/v1/events", f"/api/v1/events/{uuid.uuid4()}"):
        response = no_read.get(path)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "INSUFFICIENT_SCOPE"
        assert APIClient().get(path).status_code == 401
