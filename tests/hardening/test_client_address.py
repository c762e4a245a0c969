"""Which address a request comes from: ``X-Forwarded-For`` is believed only as far as the
configured number of our own proxies (``OTC_TRUSTED_PROXY_COUNT``, 0 by default) wrote it,
for the per-client rate limits and the sign-in lockout alike."""

import pytest
from django.test import RequestFactory
from rest_framework.test import APIClient

from accounts.authentication import client_ip

from .. import factories
from ..otc.test_api_support import TOKEN, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def trusted_proxies(settings):
    def trust(count: int) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": count}

    return trust


def forwarded_request(xff: str | None, remote_addr: str = "10.0.0.1"):
    extra = {"REMOTE_ADDR": remote_addr}
    if xff is not None:
        extra["HTTP_X_FORWARDED_FOR"] = xff
    return RequestFactory().get("/", **extra)


def test_by_default_forwarded_for_is_ignored():
    assert client_ip(forwarded_request("1.2.3.4")) == "10.0.0.1"
    assert client_ip(forwarded_request("1.2.3.4, 5.6.7.8")) == "10.0.0.1"


def test_with_one_trusted_proxy_the_address_it_saw_counts(trusted_proxies):
    trusted_proxies(1)
    # The client wrote "1.2.3.4"; our proxy appended the address it saw.
    assert client_ip(forwarded_request("1.2.3.4, 198.51.100.7")) == "198.51.100.7"
    assert client_ip(forwarded_request("198.51.100.7")) == "198.51.100.7"
    assert client_ip(forwarded_request(None)) == "10.0.0.1"


def test_with_two_trusted_proxies_the_second_from_the_right_counts(trusted_proxies):
    trusted_proxies(2)
    assert client_ip(forwarded_request("6.6.6.6, 198.51.100.7, 10.1.1.1")) == "198.51.100.7"


def test_a_forwarded_value_that_is_no_address_falls_back_to_the_peer(trusted_proxies):
    trusted_proxies(3)  # more proxies configured than there are: the client's text reaches us
    assert client_ip(forwarded_request("'; drop table, 198.51.100.7")) == "10.0.0.1"


def token(xff: str, password: str = factories.PASSWORD, username: str = "acme-user"):
    return APIClient(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=xff).post(
        TOKEN, {"username": username, "password": password}, format="json"
    )


def test_thirty_tries_with_thirty_spoofed_addresses_are_rate_limited(acme):
    answers = [token(f"192.0.2.{n}") for n in range(1, 31)]
    statuses = [r.status_code for r in answers]
    assert statuses[:10] == [200] * 10  # OTC_TOKEN_RATE_LIMIT: 10 a minute per address
    assert set(statuses[10:]) == {429}
    assert_error(answers[-1], 429, "RATE_LIMITED")


def test_spoofed_addresses_do_not_escape_the_sign_in_lockout(acme, monkeypatch):
    from otc.api.throttling import TokenRateThrottle

    monkeypatch.setattr(TokenRateThrottle, "rate", "10000/min", raising=False)
    for n in range(1, 31):
        token(f"192.0.2.{n}", password="wrong")
    assert_error(token("192.0.2.99"), 429, "RATE_LIMITED")


def test_behind_a_trusted_proxy_each_real_client_is_limited_on_its_own(acme, trusted_proxies):
    trusted_proxies(1)
    for n in range(10):
        assert token(f"6.6.6.{n}, 198.51.100.7").status_code == 200
    assert_error(token("6.6.6.99, 198.51.100.7"), 429, "RATE_LIMITED")
    # Another client behind the same proxy is not affected.
    assert token("198.51.100.8").status_code == 200
