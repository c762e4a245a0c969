"""The portal's webhooks page: a customer user adds an endpoint and sees its secret once,
sends a test event, rotates, redelivers, disables, deletes; never another customer's."""

import re

import pytest
from django.test import Client

from otc.webhooks import services
from otc.webhooks.models import Delivery, WebhookEndpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(acme):
    client = Client()
    client.force_login(acme.user)
    return client


def test_sign_in_is_required(db):
    response = Client().get("/webhooks/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_add_an_endpoint_and_see_the_secret_only_once(acme, browser, receiver):
    response = browser.post(
        "/webhooks/",
        {"url": receiver.url, "description": "ERP", "events": ["otc_order.completed"]},
    )
    endpoint = WebhookEndpoint.objects.get(customer=acme.customer)
    assert response.status_code == 302 and response["Location"] == f"/webhooks/{endpoint.pk}/"
    assert endpoint.events == ["otc_order.completed"]
    page = browser.get(response["Location"]).content.decode()
    assert endpoint.secret in page
    again = browser.get(response["Location"]).content.decode()
    assert endpoint.secret not in again
    listing = browser.get("/webhooks/").content.decode()
    assert receiver.url in listing and endpoint.secret not in listing


def test_a_refused_url_is_explained_on_the_form(acme, browser, settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = False
    response = browser.post("/webhooks/", {"url": "https://192.168.1.20/hooks"})
    assert response.status_code == 422
    assert "private, loopback" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_send_a_test_event_and_read_the_log(
    acme, browser, receiver, django_capture_on_commit_callbacks
):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    receiver.answer((418, 0, b"I'm a teapot"))
    with django_capture_on_commit_callbacks(execute=True):
        response = browser.post(f"/webhooks/{endpoint.pk}/test/")
    page = browser.get(response["Location"]).content.decode()
    assert "Test event sent" in page
    assert "webhook.test" in page and "HTTP 418" in page and "teapot" in page
    assert receiver.requests[0].verify(endpoint.secret)["type"] == "webhook.test"

    delivery = Delivery.objects.get(endpoint=endpoint)
    with django_capture_on_commit_callbacks(execute=True):
        browser.post(f"/webhooks/{endpoint.pk}/redeliver/", {"event": str(delivery.event_id)})
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED
    assert len(receiver.requests) == 2


def test_rotate_shows_the_new_secret_once(acme, browser, receiver):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    page = browser.post(f"/webhooks/{endpoint.pk}/rotate/", follow=True).content.decode()
    endpoint.refresh_from_db()
    assert endpoint.secret in page
    assert re.search(r"whsec_[A-Za-z0-9+/=]+", page)


def test_disable_enable_and_delete(acme, browser, receiver):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    browser.post(f"/webhooks/{endpoint.pk}/toggle/", {"enabled": "false"})
    endpoint.refresh_from_db()
    assert not endpoint.enabled
    page = browser.get(f"/webhooks/{endpoint.pk}/").content.decode()
    assert "Disabled by the customer." in page
    assert (
        "Enable the endpoint"
        in browser.post(f"/webhooks/{endpoint.pk}/test/", follow=True).content.decode()
    )
    browser.post(f"/webhooks/{endpoint.pk}/toggle/", {"enabled": "true"})
    endpoint.refresh_from_db()
    assert endpoint.enabled
    browser.post(f"/webhooks/{endpoint.pk}/delete/")
    assert not WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_another_customers_endpoint_is_not_found(globex, browser, receiver):
    theirs = services.endpoint_create(customer=globex.customer, url=receiver.url)
    for path in ("", "test/", "rotate/", "toggle/", "delete/", "redeliver/"):
        method = browser.get if path == "" else browser.post
        assert method(f"/webhooks/{theirs.pk}/{path}").status_code == 404, path
    theirs.refresh_from_db()
    assert theirs.enabled
    assert not Delivery.objects.exists()
    assert receiver.url not in browser.get("/webhooks/").content.decode()


def test_actions_need_post_and_csrf(acme, receiver):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(acme.user)
    assert strict.get(f"/webhooks/{endpoint.pk}/delete/").status_code == 405
    assert strict.post(f"/webhooks/{endpoint.pk}/delete/").status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()
