"""One sign-in lockout (django-axes) for every way in: the portal/console's /login/, the
admin's login and the API's session-token endpoint. Failures count per (username, client
address): 30 wrong passwords lock that pair, the right password is then refused there, a
sign-in from another address still works, and the lock lifts after its cool-off."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from otc.api.throttling import TokenRateThrottle

from .. import factories
from ..otc.test_api_support import TOKEN, assert_error

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.7"
ELSEWHERE = "203.0.113.9"
TRIES = 30


@pytest.fixture(autouse=True)
def _token_rate_out_of_the_way(monkeypatch):
    """The per-address request limit (10/min) would answer 429 before the lockout is ever
    reached; lift it so these tests see the lockout alone."""
    monkeypatch.setattr(TokenRateThrottle, "rate", "10000/min", raising=False)


def login_page(client: Client, username: str, password: str, path: str = "/login/"):
    return client.post(path, {"username": username, "password": password})


def token(username: str, password: str, ip: str = ATTACKER):
    return APIClient(REMOTE_ADDR=ip).post(
        TOKEN, {"username": username, "password": password}, format="json"
    )


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def assert_login_page_locked(response) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 300
    page = response.content.decode()
    assert 'id="signin-locked"' in page
    assert "Too many failed sign-in attempts" in page
    assert "5 minutes" in page


# --- /login/ (customer portal and operator console) -------------------------------------------


def test_thirty_wrong_passwords_lock_the_portal_sign_in(acme):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    answers = [login_page(attacker, acme.user.username, "wrong").status_code for _ in range(TRIES)]
    # The first four are the ordinary "wrong password" page; the fifth locks, and says so.
    assert answers[:4] == [200] * 4
    assert set(answers[4:]) == {429}

    locked = login_page(attacker, acme.user.username, factories.PASSWORD)
    assert_login_page_locked(locked)
    assert not signed_in(attacker)


def test_thirty_wrong_passwords_lock_the_console_sign_in(operator):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(TRIES):
        login_page(attacker, operator.username, "wrong")
    locked = login_page(attacker, operator.username, factories.PASSWORD)
    assert_login_page_locked(locked)
    assert not signed_in(attacker)
    assert attacker.get("/ops/").status_code == 302  # still sent to sign in


def test_a_user_elsewhere_still_signs_in_while_an_attacker_is_locked(acme, operator):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for user in (acme.user, operator):
        for _ in range(TRIES):
            login_page(attacker, user.username, "wrong")

    for user, home in ((acme.user, "/"), (operator, "/ops/")):
        elsewhere = Client(REMOTE_ADDR=ELSEWHERE)
        response = login_page(elsewhere, user.username, factories.PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == home
        assert signed_in(elsewhere)


# --- /admin/login/ ------------------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_admin_sign_in(operator):
    operator.is_superuser = True
    operator.save()
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(TRIES):
        login_page(attacker, operator.username, "wrong", path="/admin/login/")
    locked = login_page(attacker, operator.username, factories.PASSWORD, path="/admin/login/")
    assert_login_page_locked(locked)
    assert not signed_in(attacker)
    assert attacker.get("/admin/").status_code == 302

    elsewhere = Client(REMOTE_ADDR=ELSEWHERE)
    response = login_page(elsewhere, operator.username, factories.PASSWORD, path="/admin/login/")
    assert response.status_code == 302 and signed_in(elsewhere)
    assert elsewhere.get("/admin/").status_code == 200


# --- POST /api/v1/auth/token -------------------------------------------------------------------


def test_thirty_wrong_passwords_lock_the_token_endpoint(acme):
    answers = [token(acme.user.username, "wrong") for _ in range(TRIES)]
    for response in answers[:4]:
        assert_error(response, 401, "INVALID_CREDENTIALS")
    for response in answers[4:]:
        err = assert_error(response, 429, "RATE_LIMITED")
        assert err["details"]["retry_after_ms"] == int(response["Retry-After"]) * 1000

    locked = token(acme.user.username, factories.PASSWORD)
    err = assert_error(locked, 429, "RATE_LIMITED")
    assert 0 < int(locked["Retry-After"]) <= 300
    assert err["details"]["retry_after_ms"] == int(locked["Retry-After"]) * 1000

    elsewhere = token(acme.user.username, factories.PASSWORD, ip=ELSEWHERE)
    assert elsewhere.status_code == 200, elsewhere.content
    assert elsewhere.json()["data"]["tokenType"] == "Bearer"


def test_another_user_from_the_same_address_is_not_locked(acme, globex):
    for _ in range(TRIES):
        token(acme.user.username, "wrong")
    assert token(globex.user.username, factories.PASSWORD).status_code == 200


def test_one_policy_failures_on_the_sign_in_page_lock_the_token_endpoint_too(acme):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(5):
        login_page(attacker, acme.user.username, "wrong")
    assert_error(token(acme.user.username, factories.PASSWORD), 429, "RATE_LIMITED")


def test_unknown_usernames_lock_too_so_the_lock_reveals_nothing(acme):
    for _ in range(5):
        token("nobody-here", "wrong")
    assert_error(token("nobody-here", "wrong"), 429, "RATE_LIMITED")


# --- the lock's lifetime --------------------------------------------------------------------


def age_failures(seconds: int) -> None:
    """Move every recorded failure ``seconds`` into the past (as if that time had passed)."""
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - timedelta(seconds=seconds)
        )


def test_retry_after_tells_the_time_left_and_refused_tries_do_not_extend_it(acme):
    for _ in range(5):
        token(acme.user.username, "wrong")
    first = token(acme.user.username, factories.PASSWORD)
    assert 295 <= int(first["Retry-After"]) <= 300

    age_failures(100)
    for _ in range(10):  # refused while locked: they do not restart the cool-off
        token(acme.user.username, "wrong")
    later = token(acme.user.username, factories.PASSWORD)
    err = assert_error(later, 429, "RATE_LIMITED")
    assert 195 <= int(later["Retry-After"]) <= 200
    assert err["details"]["retry_after_ms"] == int(later["Retry-After"]) * 1000


def test_the_lock_expires_after_its_cool_off(acme, operator):
    attacker = Client(REMOTE_ADDR=ATTACKER)
    for _ in range(TRIES):
        token(acme.user.username, "wrong")
        login_page(attacker, operator.username, "wrong")
    assert token(acme.user.username, factories.PASSWORD).status_code == 429

    age_failures(301)  # OTC_SIGNIN_LOCKOUT_SECONDS (300) have passed
    assert token(acme.user.username, factories.PASSWORD).status_code == 200
    response = login_page(attacker, operator.username, factories.PASSWORD)
    assert response.status_code == 302 and signed_in(attacker)


def test_a_successful_sign_in_clears_that_addresss_failures(acme):
    for _ in range(4):
        token(acme.user.username, "wrong")
    assert token(acme.user.username, factories.PASSWORD).status_code == 200
    assert not AccessAttempt.objects.filter(username=acme.user.username).exists()
    for _ in range(4):
        assert_error(token(acme.user.username, "wrong"), 401, "INVALID_CREDENTIALS")
