"""Operators in the admin: failing endpoints across customers, the delivery log, redelivery;
re-enabling an endpoint is for supervisors."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from otc.webhooks import services
from otc.webhooks.models import Delivery, WebhookEndpoint

from .. import factories
from .test_delivery import quote_buy

pytestmark = pytest.mark.django_db


def staff_client(username: str, group: str) -> Client:
    user = factories.UserFactory(username=username, is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def failing_and_healthy(acme, globex, receiver):
    failing = services.endpoint_create(customer=acme.customer, url=receiver.url + "/acme")
    healthy = services.endpoint_create(customer=globex.customer, url=receiver.url + "/globex")
    services.endpoint_update(endpoint=failing, enabled=False)
    WebhookEndpoint.objects.filter(pk=failing.pk).update(
        consecutive_failures=10, disabled_reason="Disabled automatically after 10 deliveries"
    )
    return failing, healthy


def test_operators_see_failing_endpoints_across_customers(failing_and_healthy):
    failing, healthy = failing_and_healthy
    operator = staff_client("op-bob", "operators")
    page = operator.get("/admin/webhooks/webhookendpoint/?health=failing").content.decode()
    assert failing.url in page and "Disabled automatically after 10 deliveries" in page
    assert healthy.url not in page
    detail = operator.get(f"/admin/webhooks/webhookendpoint/{failing.pk}/change/")
    assert detail.status_code == 200
    assert failing.secret not in detail.content.decode()


def test_operators_can_redeliver_but_not_re_enable(
    acme, failing_and_healthy, receiver, django_capture_on_commit_callbacks
):
    failing, _ = failing_and_healthy
    operator = staff_client("op-bob", "operators")
    refused = operator.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "enable_endpoints", "_selected_action": [str(failing.pk)]},
    )
    assert refused.status_code in (200, 302)
    failing.refresh_from_db()
    assert not failing.enabled

    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    receiver.answer((500, 0, b"down"))
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.PENDING
    with django_capture_on_commit_callbacks(execute=True):
        operator.post(
            "/admin/webhooks/delivery/",
            {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
        )
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SUCCEEDED


def test_supervisors_can_re_enable(failing_and_healthy):
    failing, _ = failing_and_healthy
    supervisor = staff_client("sup-carol", "supervisors")
    supervisor.post(
        "/admin/webhooks/webhookendpoint/",
        {"action": "enable_endpoints", "_selected_action": [str(failing.pk)]},
    )
    failing.refresh_from_db()
    assert failing.enabled and failing.consecutive_failures == 0 and not failing.disabled_reason


def test_an_endpoints_delivery_log_is_one_click_away(
    acme, globex, receiver, django_capture_on_commit_callbacks
):
    mine = services.endpoint_create(customer=acme.customer, url=receiver.url + "/acme")
    services.endpoint_create(customer=globex.customer, url=receiver.url + "/globex")
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
        quote_buy(globex)
    operator = staff_client("op-bob", "operators")
    listing = operator.get("/admin/webhooks/webhookendpoint/").content.decode()
    link = f"/admin/webhooks/delivery/?endpoint__id__exact={mine.pk}"
    assert link in listing
    log = operator.get(link)
    assert log.status_code == 200
    page = log.content.decode()
    assert "/acme" in page and "/globex" not in page
