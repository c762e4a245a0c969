"""The API's three ways in: ``x-api-key``, a Bearer session JWT, and the portal's session
cookie (with the CSRF token in ``X-CSRF-Token``). Each yields a ``Caller``: the customer
acted for, its scopes, and for the timeline who it was.

Also the two rules every way in shares: which address a request comes from
(``client_ip``) and the sign-in lockout (django-axes, see README "Sign-in lockout")."""

import functools
import ipaddress
import math
from dataclasses import dataclass, field
from datetime import timedelta

from axes.helpers import (
    get_client_parameters,
    get_client_user_agent,
    get_client_username,
    get_cool_off,
    get_failure_limit,
)
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.http import HttpRequest
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions
from rest_framework.throttling import BaseThrottle

from .compiled import model_columns, model_instance
from .errors import DomainError, error
from .models import ALL_SCOPES, SCOPE_READ, SCOPE_WRITE, ApiKey, Customer
from .services import session_token_decode

LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass
class Caller:
    customer: Customer
    scopes: frozenset[str]
    channel: str  # "api" or "portal"
    label: str
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = field(default=None, repr=False)

    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self):
        return self.user.pk if self.user else None

    def get_username(self) -> str:
        return self.label


@functools.cache
def _api_key_statement() -> tuple[str, list[str], list[str]]:
    """The key by its hash, with its customer, in one statement built once per process (the
    ORM compiled this ``select_related`` on every request; compiling cost more than running
    it). ``key_hash`` is unique."""
    key_fields, key_columns = model_columns(ApiKey, "k")
    customer_fields, customer_columns = model_columns(Customer, "c")
    sql = (
        f"SELECT {key_columns}, {customer_columns} "  # noqa: S608 - names from the models
        f'FROM "{ApiKey._meta.db_table}" k '
        f'JOIN "{Customer._meta.db_table}" c ON c."id" = k."customer_id" '
        'WHERE k."key_hash" = %s AND k."revoked_at" IS NULL'
    )
    return sql, key_fields, customer_fields


def api_key_active(key_hash: str) -> ApiKey | None:
    """The unrevoked key with this hash, its customer loaded; None if there is none."""
    if connection.vendor != "postgresql":
        return (
            ApiKey.objects.select_related("customer")
            .filter(key_hash=key_hash, revoked_at__isnull=True)
            .first()
        )
    sql, key_fields, customer_fields = _api_key_statement()
    with connection.cursor() as cursor:
        cursor.execute(sql, [key_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    key = model_instance(ApiKey, key_fields, row[: len(key_fields)])
    key.customer = model_instance(Customer, customer_fields, row[len(key_fields) :])
    return key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        secret = request.headers.get("x-api-key")
        if not secret:
            return None
        key = api_key_active(ApiKey.hash_secret(secret))
        if key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        caller = Caller(
            customer=key.customer,
            scopes=frozenset(key.scopes),
            channel="api",
            label=f"api-key:{key.prefix}",
            api_key=key,
        )
        return caller, key

    def authenticate_header(self, request) -> str:
        return "x-api-key"


class SessionJwtAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("bearer "):
            return None
        try:
            claims = session_token_decode(header[7:].strip())
        except DomainError as exc:
            raise exceptions.AuthenticationFailed(exc.message) from None
        user = (
            get_user_model()
            .objects.select_related("membership__customer")
            .filter(pk=claims["sub"], is_active=True)
            .first()
        )
        membership = getattr(user, "membership", None) if user else None
        if membership is None or str(membership.customer_id) != claims["cus"]:
            raise exceptions.AuthenticationFailed("The session token is no longer valid.")
        scopes = frozenset(claims.get("scopes", [])) & frozenset(ALL_SCOPES)
        return Caller(
            customer=membership.customer,
            scopes=scopes,
            channel="api",
            label=user.get_username(),
            user=user,
        ), claims

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class PortalSessionAuthentication(authentication.SessionAuthentication):
    """The portal's own session; unsafe methods need the CSRF token (``X-CSRF-Token``)."""

    def authenticate(self, request):
        user = getattr(request._request, "user", None)
        if not user or not user.is_active:
            return None
        membership = getattr(user, "membership", None)
        if membership is None:
            return None
        self.enforce_csrf(request)
        return Caller(
            customer=membership.customer,
            scopes=frozenset(ALL_SCOPES),
            channel="portal",
            label=user.get_username(),
            user=user,
        ), None


class HasRouteScope(permissions.BasePermission):
    """GET routes need ``otc-exchanges:read``, POST routes ``otc-exchanges:write``; a view
    can name its own with ``required_scopes = {"GET": ..., "POST": ...}``."""

    default_scopes = {
        "GET": SCOPE_READ,
        "HEAD": SCOPE_READ,
        "OPTIONS": SCOPE_READ,
        "POST": SCOPE_WRITE,
        "PUT": SCOPE_WRITE,
        "PATCH": SCOPE_WRITE,
        "DELETE": SCOPE_WRITE,
    }

    def has_permission(self, request, view) -> bool:
        caller = request.user
        if not isinstance(caller, Caller):
            raise exceptions.NotAuthenticated()
        scopes = getattr(view, "required_scopes", None) or self.default_scopes
        needed = scopes.get(request.method)
        if needed and needed not in caller.scopes:
            raise exceptions.PermissionDenied(
                f"This route needs the {needed} scope.", code="INSUFFICIENT_SCOPE"
            )
        return True


# --- where a request comes from ---------------------------------------------------------------


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, as the rate limits and the sign-in lockout see it.

    ``X-Forwarded-For`` is believed only as far as our own proxies wrote it: with
    ``OTC_TRUSTED_PROXY_COUNT`` (DRF's ``NUM_PROXIES``) = N, the N-th address from the right is
    the one our outermost proxy saw; whatever stands left of it came from the client. With 0
    (the default) the header is ignored and ``REMOTE_ADDR`` counts. DRF's throttles apply the
    same rule; a value that is not an IP address (a proxy count set too high lets the client's
    own text through) falls back to ``REMOTE_ADDR``."""
    remote_addr = request.META.get("REMOTE_ADDR") or None
    ident = BaseThrottle().get_ident(request)
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        return remote_addr


# --- the sign-in lockout ----------------------------------------------------------------------

SIGNIN_LOCKED_MESSAGE = "Too many failed sign-in attempts; wait a few minutes."


def signin_locked_out(request: HttpRequest) -> bool:
    """Whether django-axes refused (or just locked) this request's sign-in attempt."""
    return bool(getattr(request, "axes_locked_out", False))


def signin_lock_seconds_left(request: HttpRequest, credentials: dict | None = None) -> int:
    """Seconds until the lock on this request's (username, address) lifts.

    axes (database handler) keeps one row per (username, address, user agent) whose
    ``attempt_time`` is its latest failure; failures count while younger than the cool-off.
    Walking the rows newest first, the lock holds until the row that brings the count to the
    limit ages out."""
    cool_off = get_cool_off(request) or timedelta(0)
    username = get_client_username(request, credentials)
    user_agent = get_client_user_agent(request)
    limit = get_failure_limit(request, credentials)
    now = timezone.now()
    seconds = 1
    for filters in get_client_parameters(
        username, client_ip(request), user_agent, request, credentials
    ):
        counted = 0
        rows = (
            AccessAttempt.objects.filter(**filters, attempt_time__gte=now - cool_off)
            .order_by("-attempt_time")
            .values_list("attempt_time", "failures_since_start")
        )
        for attempt_time, failures in rows:
            counted += failures
            if counted >= limit:
                left = (attempt_time + cool_off - now).total_seconds()
                seconds = max(seconds, math.ceil(left))
                break
    return seconds


def signin_locked_error(request: HttpRequest, credentials: dict | None = None) -> DomainError:
    """The contract's 429 for a locked sign-in (``Retry-After`` comes from ``retry_after_ms``)."""
    seconds = signin_lock_seconds_left(request, credentials)
    return error("RATE_LIMITED", 429, SIGNIN_LOCKED_MESSAGE, retry_after_ms=seconds * 1000)


def signin_succeeded(request: HttpRequest, *, username: str) -> None:
    """Forget this (username, address)'s failures after a sign-in that did not go through
    ``django.contrib.auth.login`` (whose signal axes already follows): the token endpoint."""
    ip = client_ip(request)
    if ip is not None:
        axes_reset(ip=ip, username=username)
