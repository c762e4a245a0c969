"""The API's three ways in (x-api-key, Bearer session JWT, portal session + X-CSRF-Token),
the 401/403 answers, the token endpoint and the throttling of failed sign-ins."""

import uuid
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import SCOPE_READ, SCOPE_WRITE, ApiKey, CustomerMembership
from accounts.services import JWT_AUDIENCE, api_key_revoke
from otc.models import Order, OrderTransition, Status

from .. import factories
from .test_api_support import (
    ACCOUNTS,
    ORDERS,
    QUOTE,
    TOKEN,
    WALLETS,
    assert_error,
    balance_url,
    buy_body,
    buy_quote_id,
    cancel_url,
    confirm,
    new_key,
    order_url,
    parse_iso,
    quote,
    requote_url,
)

pytestmark = pytest.mark.django_db


def account_ids(response) -> set[str]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["data"]}


# --- x-api-key ------------------------------------------------------------------------------


def test_api_key_authenticates_as_its_customer(acme, globex):
    assert account_ids(acme.client().get(ACCOUNTS)) == {
        str(acme.eur_master.pk),
        str(acme.eur_secondary.pk),
    }
    assert account_ids(globex.client().get(ACCOUNTS)) == {
        str(globex.eur_master.pk),
        str(globex.eur_secondary.pk),
    }


def test_no_credentials_is_unauthenticated(acme):
    response = APIClient().get(ACCOUNTS)
    assert_error(response, 401, "UNAUTHENTICATED")
    assert response["WWW-Authenticate"]


def test_unknown_api_key_is_unauthenticated(acme):
    response = acme.client("sk_test_" + "x" * 43).get(ACCOUNTS)
    assert_error(response, 401, "UNAUTHENTICATED")


def test_revoked_api_key_is_unauthenticated(acme):
    assert acme.client(acme.write_key).get(ACCOUNTS).status_code == 200
    key = ApiKey.objects.get(key_hash=ApiKey.hash_secret(acme.write_key))
    api_key_revoke(key=key)
    assert_error(acme.client(acme.write_key).get(ACCOUNTS), 401, "UNAUTHENTICATED")
    # A revoked key can no longer act either.
    assert_error(quote(acme, buy_body(acme), acme.client(acme.write_key)), 401, "UNAUTHENTICATED")
    assert not Order.objects.exists()


def test_api_key_records_when_it_was_last_used(acme):
    key = ApiKey.objects.get(key_hash=ApiKey.hash_secret(acme.read_key))
    assert key.last_used_at is None
    before = timezone.now()
    assert acme.client(acme.read_key).get(WALLETS).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None and key.last_used_at >= before
    # An old stamp is refreshed on the next use.
    stale = timezone.now() - timedelta(days=3)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    assert acme.client(acme.read_key).get(WALLETS).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at > stale + timedelta(days=2)


def test_api_key_clients_may_send_the_seeds_csrf_header(acme):
    """The seed's curl example sends X-CSRF-Token alongside x-api-key; it must not matter."""
    api = APIClient(enforce_csrf_checks=True)
    api.credentials(HTTP_X_API_KEY=acme.write_key, HTTP_X_CSRF_TOKEN="ab" * 32)
    assert quote(acme, buy_body(acme), api).status_code == 200


def test_live_key_works_like_a_test_key(acme):
    live = factories.make_key(acme.customer, live=True)
    assert live.startswith("sk_live_")
    assert acme.write_key.startswith("sk_test_")
    assert acme.client(live).get(ACCOUNTS).status_code == 200


# --- scopes ---------------------------------------------------------------------------------


def _post_routes(acme):
    some_order = uuid.uuid4()
    return [
        (QUOTE, buy_body(acme), {}),
        (ORDERS, {"quoteId": str(some_order)}, {"HTTP_IDEMPOTENCY_KEY": new_key()}),
        (cancel_url(some_order), {}, {}),
        (requote_url(some_order), {}, {}),
    ]


def test_read_key_is_refused_on_every_post_route(acme):
    quote_id = buy_quote_id(acme)
    api = acme.client(acme.read_key)
    routes = [
        *_post_routes(acme),
        (cancel_url(quote_id), {}, {}),
        (requote_url(quote_id), {}, {}),
        (ORDERS, {"quoteId": quote_id}, {"HTTP_IDEMPOTENCY_KEY": new_key()}),
    ]
    for url, body, headers in routes:
        err = assert_error(api.post(url, body, format="json", **headers), 403, "INSUFFICIENT_SCOPE")
        assert SCOPE_WRITE in err["message"]
    # Nothing happened to the quote the read key tried to act on.
    assert Order.objects.get(pk=quote_id).status == Status.QUOTED
    assert Order.objects.count() == 1


def test_read_key_may_use_every_get_route(acme):
    quote_id = buy_quote_id(acme)
    api = acme.client(acme.read_key)
    for url in (ACCOUNTS, WALLETS, balance_url(acme.wallet.pk), ORDERS, order_url(quote_id)):
        assert api.get(url).status_code == 200, url


def test_write_only_key_is_refused_on_get_routes(acme):
    write_only = factories.make_key(acme.customer, [SCOPE_WRITE])
    api = acme.client(write_only)
    quote_id = buy_quote_id(acme)
    for url in (ACCOUNTS, WALLETS, balance_url(acme.wallet.pk), ORDERS, order_url(quote_id)):
        err = assert_error(api.get(url), 403, "INSUFFICIENT_SCOPE")
        assert SCOPE_READ in err["message"]
    assert quote(acme, buy_body(acme), api).status_code == 200


# --- Bearer session JWT ---------------------------------------------------------------------


def issue_token(user, password=factories.PASSWORD, client=None):
    return (client or APIClient()).post(
        TOKEN, {"username": user.username, "password": password}, format="json"
    )


def bearer(token: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def test_token_endpoint_issues_a_short_lived_bearer_token(acme, settings):
    before = timezone.now()
    response = issue_token(acme.user)
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    assert set(data) == {"accessToken", "tokenType", "expiresAt"}
    assert data["tokenType"] == "Bearer"
    assert isinstance(data["accessToken"], str) and data["accessToken"].count(".") == 2
    expires = parse_iso(data["expiresAt"])
    assert before + timedelta(minutes=14) < expires <= timezone.now() + timedelta(minutes=15)
    claims = jwt.decode(
        data["accessToken"], settings.SECRET_KEY, algorithms=["HS256"], audience=JWT_AUDIENCE
    )
    assert claims["cus"] == str(acme.customer.pk) and claims["sub"] == str(acme.user.pk)
    assert {SCOPE_READ, SCOPE_WRITE} <= set(claims["scopes"])
    assert claims["exp"] == int(expires.timestamp())


def test_bearer_token_acts_for_the_users_customer(acme, globex):
    token = issue_token(acme.user).json()["data"]["accessToken"]
    api = bearer(token)
    assert account_ids(api.get(ACCOUNTS)) == {str(acme.eur_master.pk), str(acme.eur_secondary.pk)}
    quote_id = buy_quote_id(acme, client=api)
    response = confirm(acme, quote_id, client=api)
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=quote_id)
    assert order.customer == acme.customer and order.status == Status.DEBIT_PENDING
    confirmed = OrderTransition.objects.get(order=order, to_status=Status.DEBIT_PENDING)
    assert confirmed.actor == acme.user.username and confirmed.actor_user == acme.user
    # Globex's order is invisible to acme's user.
    globex_quote = buy_quote_id(globex)
    assert_error(api.get(order_url(globex_quote)), 404, "ORDER_NOT_FOUND")


def test_expired_bearer_token_is_unauthenticated(acme, settings):
    settings.OTC_SESSION_TOKEN_TTL = timedelta(seconds=-5)
    token = issue_token(acme.user).json()["data"]["accessToken"]
    assert_error(bearer(token).get(ACCOUNTS), 401, "UNAUTHENTICATED")


@pytest.mark.parametrize(
    "token",
    ["garbage", "a.b.c", "", "eyJhbGciOiJIUzI1NiJ9.e30.AAAA"],
    ids=["garbage", "three-parts", "empty", "bad-signature"],
)
def test_garbled_bearer_token_is_unauthenticated(acme, token):
    response = bearer(token).get(ACCOUNTS)
    assert_error(response, 401, "UNAUTHENTICATED")


def test_bearer_token_signed_with_another_key_is_unauthenticated(acme):
    now = timezone.now()
    forged = jwt.encode(
        {
            "sub": str(acme.user.pk),
            "cus": str(acme.customer.pk),
            "scopes": [SCOPE_READ, SCOPE_WRITE],
            "iat": now,
            "exp": now + timedelta(minutes=5),
            "aud": JWT_AUDIENCE,
        },
        "not-the-server-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    assert_error(bearer(forged).get(ACCOUNTS), 401, "UNAUTHENTICATED")


def test_bearer_token_dies_with_the_users_membership(acme):
    token = issue_token(acme.user).json()["data"]["accessToken"]
    assert bearer(token).get(ACCOUNTS).status_code == 200
    CustomerMembership.objects.filter(user=acme.user).delete()
    assert_error(bearer(token).get(ACCOUNTS), 401, "UNAUTHENTICATED")


def test_bearer_token_of_a_deactivated_user_is_unauthenticated(acme):
    token = issue_token(acme.user).json()["data"]["accessToken"]
    acme.user.is_active = False
    acme.user.save()
    assert_error(bearer(token).get(ACCOUNTS), 401, "UNAUTHENTICATED")
    assert_error(issue_token(acme.user), 401, "INVALID_CREDENTIALS")


def test_wrong_password_is_invalid_credentials(acme):
    assert_error(issue_token(acme.user, password="wrong"), 401, "INVALID_CREDENTIALS")


def test_unknown_user_is_invalid_credentials(acme):
    response = APIClient().post(
        TOKEN, {"username": "nobody", "password": factories.PASSWORD}, format="json"
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


def test_staff_user_without_a_customer_gets_no_api_token(operator):
    assert_error(issue_token(operator), 401, "INVALID_CREDENTIALS")


def test_token_request_without_password_is_a_validation_error(acme):
    response = APIClient().post(TOKEN, {"username": acme.user.username}, format="json")
    err = assert_error(response, 400, "VALIDATION_ERROR")
    assert set(err["details"]) == {"password"}


# The sign-in lockout itself (every way in, per username and address) is tested in
# tests/hardening/test_signin_lockout.py.


def test_successful_sign_in_resets_the_failure_count(acme):
    for _ in range(4):
        assert_error(issue_token(acme.user, "wrong"), 401, "INVALID_CREDENTIALS")
    assert issue_token(acme.user).status_code == 200
    for _ in range(4):
        assert_error(issue_token(acme.user, "wrong"), 401, "INVALID_CREDENTIALS")
    assert issue_token(acme.user).status_code == 200


def test_token_requests_are_rate_limited_per_client_address(acme):
    """Besides the per-username lock, the token endpoint takes at most 10 requests a minute
    from one address (OTC_TOKEN_RATE_LIMIT)."""
    for _ in range(10):
        assert issue_token(acme.user).status_code == 200
    response = issue_token(acme.user)
    err = assert_error(response, 429, "RATE_LIMITED")
    assert 0 < int(response["Retry-After"]) <= 60
    assert 0 < err["details"]["retry_after_ms"] <= 60_000


# --- portal session + X-CSRF-Token ----------------------------------------------------------


def portal_client(world) -> tuple[APIClient, str]:
    """A browser-like client signed in through the real login form, with CSRF enforced."""
    api = APIClient(enforce_csrf_checks=True)
    page = api.get("/login/")
    assert page.status_code == 200
    signed_in = api.post(
        "/login/",
        {
            "username": world.user.username,
            "password": factories.PASSWORD,
            "csrfmiddlewaretoken": api.cookies["csrftoken"].value,
        },
    )
    assert signed_in.status_code == 302, signed_in.content
    return api, api.cookies["csrftoken"].value


def test_portal_session_reads_without_csrf(acme):
    api, _ = portal_client(acme)
    assert account_ids(api.get(ACCOUNTS)) == {str(acme.eur_master.pk), str(acme.eur_secondary.pk)}


def test_portal_session_post_needs_the_csrf_header(acme):
    api, _ = portal_client(acme)
    response = api.post(QUOTE, buy_body(acme), format="json")
    err = assert_error(response, 403, "CSRF_FAILED")
    assert "X-CSRF-Token" in err["message"]
    assert not Order.objects.exists()
    wrong = api.post(QUOTE, buy_body(acme), format="json", HTTP_X_CSRF_TOKEN="x" * 64)
    assert wrong.status_code == 403
    assert not Order.objects.exists()


def test_portal_session_with_csrf_header_can_quote_confirm_and_cancel(acme):
    api, csrf = portal_client(acme)
    response = api.post(QUOTE, buy_body(acme), format="json", HTTP_X_CSRF_TOKEN=csrf)
    assert response.status_code == 200, response.content
    quote_id = response.json()["data"]["quoteId"]
    assert api.post(cancel_url(quote_id), format="json", HTTP_X_CSRF_TOKEN=csrf).status_code == 200
    second = api.post(QUOTE, buy_body(acme), format="json", HTTP_X_CSRF_TOKEN=csrf)
    second_id = second.json()["data"]["quoteId"]
    confirmed = confirm(acme, second_id, client=api, HTTP_X_CSRF_TOKEN=csrf)
    assert confirmed.status_code == 201, confirmed.content
    transition = OrderTransition.objects.get(order_id=second_id, to_status=Status.DEBIT_PENDING)
    assert transition.channel == "portal" and transition.actor_user == acme.user


def test_staff_session_is_not_a_customer(operator):
    api = APIClient()
    api.force_login(operator)
    assert_error(api.get(ACCOUNTS), 401, "UNAUTHENTICATED")
