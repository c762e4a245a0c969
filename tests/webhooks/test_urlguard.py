"""The SSRF guard: only https to public addresses, at registration and again at send time,
unless OTC_WEBHOOKS_ALLOW_PRIVATE (which also admits http)."""

import socket

import pytest

from otc.webhooks import services, urlguard
from otc.webhooks.models import Delivery
from otc.webhooks.urlguard import Target, UrlNotAllowed, resolve_target

from .conftest import all_scopes_key
from .test_delivery import quote_buy


@pytest.fixture
def guarded(settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = False


REFUSED = [
    "http://93.184.216.34/hooks",  # plain http
    "ftp://93.184.216.34/hooks",
    "https://127.0.0.1/hooks",
    "https://127.8.9.10:8443/hooks",
    "https://localhost/hooks",  # resolves to loopback
    "https://[::1]/hooks",
    "https://10.1.2.3/hooks",
    "https://172.16.5.4/hooks",
    "https://192.168.0.10/hooks",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata, link-local
    "https://[fe80::1]/hooks",
    "https://[fc00::1]/hooks",
    "https://0.0.0.0/hooks",
    "https://100.64.0.1/hooks",  # carrier-grade NAT
    "https://224.0.0.1/hooks",  # multicast
    "https://[::ffff:127.0.0.1]/hooks",  # loopback in IPv4-mapped form
    "https://user:pass@93.184.216.34/hooks",  # credentials in the URL
    "https://no-such-host.invalid/hooks",  # does not resolve
    "https:///hooks",
]


@pytest.mark.parametrize("url", REFUSED)
def test_non_public_or_non_https_urls_are_refused(guarded, url):
    with pytest.raises(UrlNotAllowed):
        resolve_target(url)


@pytest.mark.parametrize(
    "url", ["https://93.184.216.34/hooks", "https://[2606:4700:4700::1111]:8443/x?y=1"]
)
def test_public_https_addresses_are_allowed(guarded, url):
    assert resolve_target(url) == Target(url=url)


def test_allow_private_admits_loopback_and_http(settings):
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    assert resolve_target("http://127.0.0.1:8000/hooks").url == "http://127.0.0.1:8000/hooks"
    with pytest.raises(UrlNotAllowed):
        resolve_target("ftp://127.0.0.1/hooks")


def fake_dns(monkeypatch, answers: dict[str, list[str]]) -> None:
    """Name resolution for made-up names (the sandbox has no public DNS)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(urlguard.socket, "getaddrinfo", getaddrinfo)


def test_a_host_name_is_pinned_to_the_address_that_was_checked(guarded, monkeypatch):
    fake_dns(monkeypatch, {"hooks.example.com": ["2606:4700::1", "93.184.216.34"]})
    target = resolve_target("https://hooks.example.com:8443/otc?x=1")
    assert target == Target(
        url="https://93.184.216.34:8443/otc?x=1",
        host_header="hooks.example.com:8443",
        sni_hostname="hooks.example.com",
    )


def test_a_host_with_any_private_address_is_refused(guarded, monkeypatch):
    # A rebinding setup answers with a public and a private address.
    fake_dns(monkeypatch, {"rebind.example.com": ["93.184.216.34", "10.0.0.5"]})
    with pytest.raises(UrlNotAllowed, match=r"10\.0\.0\.5"):
        resolve_target("https://rebind.example.com/hooks")


def test_a_pinned_request_carries_the_original_host_header(receiver):
    target = Target(url=receiver.url, host_header="hooks.example.com", sni_hostname=None)
    response = services._post(target, body="{}", headers={}, timeout=5)
    assert response.status_code == 200
    assert receiver.requests[0].headers["host"] == "hooks.example.com"


@pytest.mark.django_db
def test_registration_refuses_a_private_url(acme, guarded):
    api = acme.client(all_scopes_key(acme.customer))
    for url in ("https://127.0.0.1/hooks", "http://93.184.216.34/hooks"):
        response = api.post("/api/v1/webhook-endpoints", {"url": url}, format="json")
        assert response.status_code == 422, url
        error = response.json()["error"]
        assert error["code"] == "URL_NOT_ALLOWED"
        assert error["details"]["url"] == url
    assert not acme.customer.webhook_endpoints.exists()


@pytest.mark.django_db
def test_the_guard_runs_again_at_send_time(
    acme, receiver, settings, django_capture_on_commit_callbacks
):
    endpoint = services.endpoint_create(customer=acme.customer, url=receiver.url)
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = False  # e.g. the DNS answer changed since
    with django_capture_on_commit_callbacks(execute=True):
        quote_buy(acme)
    assert receiver.requests == []
    delivery = Delivery.objects.get(endpoint=endpoint)
    assert delivery.status == Delivery.Status.PENDING  # retried later, like any failure
    [attempt] = delivery.attempts.all()
    assert attempt.status_code is None
    assert attempt.error.startswith("Not sent: Webhook URLs must use https")


@pytest.mark.parametrize("url", ["http://localhost:9000/hook", "https://localhost/hooks"])
def test_localhost_is_a_well_formed_url_and_the_guard_decides(settings, url):
    from otc.webhooks.serializers import WebhookUrlField

    assert WebhookUrlField().run_validation(url) == url  # the form admits it ...
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = False
    with pytest.raises(UrlNotAllowed):  # ... and only the SSRF guard's setting lets it in
        resolve_target(url)
    settings.OTC_WEBHOOKS_ALLOW_PRIVATE = True
    assert resolve_target(url).url == url
