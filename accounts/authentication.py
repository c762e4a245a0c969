"""The API's three ways in: ``x-api-key``, a Bearer session JWT, and the portal's session
cookie (with the CSRF token in ``X-CSRF-Token``). Each yields a ``Caller``: the customer
acted for, its scopes, and for the timeline who it was."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone
from rest_framework import authentication, exceptions, permissions

from .errors import DomainError
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


class ApiKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        secret = request.headers.get("x-api-key")
        if not secret:
            return None
        key = (
            ApiKey.objects.select_related("customer")
            .filter(key_hash=ApiKey.hash_secret(secret), revoked_at__isnull=True)
            .first()
        )
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
