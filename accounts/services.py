"""Writes for customers, their resources, API keys and session tokens."""

import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

import jwt
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from . import money
from .errors import DomainError, error
from .ledger import deposit
from .models import ALL_SCOPES, ApiKey, Customer, FiatAccount, LedgerAccount

JWT_ALGORITHM = "HS256"
JWT_AUDIENCE = "otc-desk-api"


def ledger_account_create(*, code: str, currency: str, kind: str) -> LedgerAccount:
    return LedgerAccount.objects.create(code=code, currency=currency, kind=kind)


def fiat_account_create(
    *,
    customer: Customer,
    label: str,
    currency: str = money.EUR,
    is_master: bool = False,
    is_active: bool = True,
    is_treasury: bool = False,
    opening_balance: Decimal | None = None,
    provider_reference: str = "",
) -> FiatAccount:
    with transaction.atomic():
        account_id = uuid.uuid4()
        ledger_account = ledger_account_create(
            code=f"fiat:{account_id}",
            currency=currency,
            kind=LedgerAccount.Kind.TREASURY if is_treasury else LedgerAccount.Kind.CUSTOMER,
        )
        account = FiatAccount(
            id=account_id,
            customer=customer,
            label=label,
            currency=currency,
            is_master=is_master,
            is_active=is_active,
            is_treasury=is_treasury,
            ledger_account=ledger_account,
            provider_reference=provider_reference or f"simbank_acct_{account_id.hex[:12]}",
        )
        account.full_clean()
        account.save()
        if opening_balance:
            deposit(ledger_account, opening_balance, description=f"Opening balance of {label}")
    return account


def _validate_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = list(dict.fromkeys(s.strip() for s in scopes if s.strip()))
    unknown = sorted(set(scopes) - set(ALL_SCOPES))
    if unknown or not scopes:
        raise error(
            "VALIDATION_ERROR",
            400,
            "Unknown or missing scopes.",
            scopes=[f"Choose from {', '.join(ALL_SCOPES)}."],
            unknown=unknown,
        )
    return scopes


def api_key_create(
    *,
    customer: Customer,
    scopes: Iterable[str],
    live: bool = False,
    name: str = "",
    created_by: AbstractBaseUser | None = None,
) -> tuple[ApiKey, str]:
    """Mint a key. Returns the row and the secret, which is never stored and never shown
    again."""
    scopes = _validate_scopes(scopes)
    secret = ("sk_live_" if live else "sk_test_") + secrets.token_urlsafe(32)
    key = ApiKey.objects.create(
        customer=customer,
        name=name,
        prefix=secret[:16],
        key_hash=ApiKey.hash_secret(secret),
        scopes=scopes,
        is_live=live,
        created_by=created_by,
    )
    return key, secret


def api_key_revoke(*, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


def session_token_issue(
    *, username: str, password: str, request: HttpRequest
) -> tuple[str, datetime]:
    """Exchange a customer user's credentials for a short-lived signed JWT carrying the
    user's customer and scopes. ``request`` lets the sign-in lockout (django-axes) see and
    count the attempt."""
    user = authenticate(request, username=username, password=password)
    membership = getattr(user, "membership", None) if user is not None else None
    if user is None or membership is None or not user.is_active:
        raise error("INVALID_CREDENTIALS", 401, "Wrong username or password.")
    now = timezone.now()
    expires_at = now + settings.OTC_SESSION_TOKEN_TTL
    token = jwt.encode(
        {
            "sub": str(user.pk),
            "cus": str(membership.customer_id),
            "scopes": list(ALL_SCOPES),
            "iat": now,
            "exp": expires_at,
            "aud": JWT_AUDIENCE,
            "jti": uuid.uuid4().hex,
        },
        settings.SECRET_KEY,
        algorithm=JWT_ALGORITHM,
    )
    return token, expires_at


def session_token_decode(token: str) -> dict:
    try:
        return jwt.decode(
            token,
            settings.SECRET_KEY,
            algorithms=[JWT_ALGORITHM],
            audience=JWT_AUDIENCE,
            options={"require": ["exp", "sub", "cus"]},
        )
    except jwt.PyJWTError:
        raise DomainError(
            "The session token is invalid or expired.", code="UNAUTHENTICATED", status=401
        ) from None
