"""Idempotent execution of ``POST /otc-exchanges``.

The key is claimed by inserting a row unique on (customer, key) in the same transaction as
the confirm it guards, and the response is stored in that row before commit. A concurrent
duplicate's INSERT waits on the unique index until the first transaction ends: if it
committed, the duplicate replays the stored response; if it rolled back (a 5xx), the
duplicate runs. A wait longer than ``LOCK_WAIT`` gives ``409 IDEMPOTENCY_KEY_IN_PROGRESS``.
"""

import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts.errors import DomainError, error
from accounts.models import Customer

from .models import IdempotencyRecord
from .representations import error_envelope

LOCK_WAIT = "10s"


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    replayed: bool


def parse_key(raw: str | None) -> uuid.UUID:
    if not raw:
        raise error("IDEMPOTENCY_KEY_REQUIRED", 400, "Send an Idempotency-Key header (UUID v4).")
    try:
        key = uuid.UUID(raw.strip())
    except ValueError:
        key = None
    if key is None or key.version != 4 or str(key) != raw.strip().lower():
        raise error("IDEMPOTENCY_KEY_INVALID", 400, "The Idempotency-Key must be a UUID v4.")
    return key


def fingerprint(method: str, path: str, body: object) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def render(body: dict) -> bytes:
    return JSONRenderer().render(body)


class _Refused(Exception):
    """The action answered with a 4xx: its transaction is rolled back, the answer stored."""

    def __init__(self, refusal: DomainError) -> None:
        super().__init__(refusal.code)
        self.refusal = refusal


# The claim: one statement that sets the transaction's lock wait and inserts the key. A
# concurrent claim of the same key waits (up to ``LOCK_WAIT``) on the unique index until the
# first transaction ends; ON CONFLICT DO NOTHING then returns no row if that one committed
# (replay), or inserts if it rolled back. No savepoint is needed to survive a duplicate.
_CLAIM_SQL = """
INSERT INTO otc_idempotencyrecord (customer_id, key, fingerprint, created_at)
SELECT %(customer)s, %(key)s, %(fingerprint)s, %(now)s
FROM (SELECT set_config('lock_timeout', %(lock_wait)s, true)) AS lock_wait
ON CONFLICT (customer_id, key) DO NOTHING
RETURNING id
"""


def _claim(customer: Customer, key: uuid.UUID, request_fingerprint: str) -> int | None:
    """Claim ``key`` in the current transaction: the new record's id, or None when a record
    with the key exists (committed by another request)."""
    if connection.vendor != "postgresql":
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    customer=customer, key=key, fingerprint=request_fingerprint
                ).pk
        except IntegrityError:
            return None
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "customer": customer.pk,
                "key": key,
                "fingerprint": request_fingerprint,
                "now": timezone.now(),
                "lock_wait": LOCK_WAIT,
            },
        )
        row = cursor.fetchone()
    return row[0] if row else None


def _replay(customer: Customer, key: uuid.UUID, request_fingerprint: str) -> StoredResponse:
    stored = IdempotencyRecord.objects.get(customer=customer, key=key)
    if stored.fingerprint != request_fingerprint:
        raise error(
            "IDEMPOTENCY_KEY_REUSED",
            422,
            "This Idempotency-Key was used with a different request; use a fresh key per confirm.",
        )
    return StoredResponse(stored.status_code, bytes(stored.response_body), True)


def _store(record_id: int, status: int, content: bytes) -> None:
    IdempotencyRecord.objects.filter(pk=record_id).update(status_code=status, response_body=content)


def run_once(
    *,
    customer: Customer,
    key: uuid.UUID,
    request_fingerprint: str,
    action: Callable[[], tuple[int, dict]],
) -> StoredResponse:
    """Run ``action`` at most once per (customer, key); replay its stored response after.

    The action runs in the claim's transaction without a savepoint of its own. When it
    refuses (a ``DomainError`` below 500) that whole transaction is rolled back, so nothing
    the action wrote survives, and the refusal is stored under the key in a second
    transaction; if another request claimed the key in between, its answer is replayed
    instead. A 5xx stores nothing: the client may retry with the same key."""
    try:
        try:
            with transaction.atomic():
                record_id = _claim(customer, key, request_fingerprint)
                if record_id is None:
                    return _replay(customer, key, request_fingerprint)
                try:
                    status, body = action()
                except DomainError as exc:
                    if exc.status >= 500:
                        raise
                    raise _Refused(exc) from exc
                content = render(body)
                _store(record_id, status, content)
                return StoredResponse(status, content, False)
        except _Refused as refused:
            exc = refused.refusal
            content = render(error_envelope(exc.code, exc.message, exc.details))
            with transaction.atomic():
                record_id = _claim(customer, key, request_fingerprint)
                if record_id is None:
                    return _replay(customer, key, request_fingerprint)
                _store(record_id, exc.status, content)
            return StoredResponse(exc.status, content, False)
    except OperationalError as exc:
        if "lock timeout" in str(exc).lower():
            raise error(
                "IDEMPOTENCY_KEY_IN_PROGRESS",
                409,
                "A request with this Idempotency-Key is still being processed; retry shortly.",
            ) from None
        raise


def order_confirm_once(
    *,
    customer: Customer,
    key: uuid.UUID,
    order_id: uuid.UUID,
    side: str,
    actor,
    max_slippage_bps: int = 100,
) -> StoredResponse:
    """``POST /otc-exchanges``: confirm a quote at most once per key. The API and the portal
    both call this, so a key means the same thing whichever way the customer came in."""
    from . import services

    # Custody is asked (a sell's live balance) before the claim's transaction opens.
    precheck = services.order_confirm_precheck(order_id=order_id, customer=customer, side=side)

    def confirm() -> tuple[int, dict]:
        with services.refusals_roll_back_the_transaction():
            order = services.order_confirm(
                order_id=order_id,
                customer=customer,
                side=side,
                actor=actor,
                max_slippage_bps=max_slippage_bps,
                precheck=precheck,
            )
        return 201, {"data": {"orderId": str(order.pk), "status": order.status}}

    request = {"quoteId": str(order_id), "side": side}
    if max_slippage_bps != 100:  # a seed-000 body fingerprints as it always did
        request["maxSlippageBps"] = max_slippage_bps
    return run_once(
        customer=customer,
        key=key,
        action=confirm,
        request_fingerprint=fingerprint("POST", "/api/v1/otc-exchanges", request),
    )
