"""/ops/webhooks/: operators see customers' failing webhook endpoints across customers."""

import pytest
from django.test import Client
from django.utils import timezone

from otc.webhooks.models import WebhookEndpoint
from otc.webhooks.services import endpoint_create

pytestmark = pytest.mark.django_db

URL = "/ops/webhooks/"


@pytest.fixture(autouse=True)
def _private_urls_allowed(settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True


def _failing(customer, url: str, failures: int, *, enabled: bool = True) -> WebhookEndpoint:
    endpoint = endpoint_create(customer=customer, url=url)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=failures,
        failing_since=timezone.now(),
        enabled=enabled,
        disabled_reason="" if enabled else "Disabled after 10 failed deliveries in a row.",
    )
    return endpoint


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_lists_failing_endpoints_of_every_customer_disabled_first(acme, globex, alice):
    healthy = endpoint_create(customer=acme.customer, url="http://127.0.0.1:9/healthy")
    retrying = _failing(acme.customer, "http://127.0.0.1:9/acme-hook", 3)
    disabled = _failing(globex.customer, "http://127.0.0.1:9/globex-hook", 10, enabled=False)

    response = _signed_in(alice).get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    assert str(healthy.pk) not in html
    assert html.index(str(disabled.pk)) < html.index(str(retrying.pk))
    assert "Disabled after 10 failed deliveries" in html
    assert acme.customer.name in html and globex.customer.name in html


def test_query_count_does_not_grow_with_the_number_of_endpoints(
    acme, alice, django_assert_max_num_queries
):
    client = _signed_in(alice)
    _failing(acme.customer, "http://127.0.0.1:9/a", 1)
    with django_assert_max_num_queries(12) as few:
        client.get(URL)
    for n in range(8):
        _failing(acme.customer, f"http://127.0.0.1:9/more-{n}", 2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(URL).status_code == 200


def test_customer_users_and_anonymous_visitors_never_see_it(acme):
    _failing(acme.customer, "http://127.0.0.1:9/secret-hook", 4)
    anonymous = Client().get(URL)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    customer_view = _signed_in(acme.user).get(URL)
    assert customer_view.status_code == 403
    assert b"secret-hook" not in customer_view.content
