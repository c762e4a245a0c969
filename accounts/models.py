"""Customers, their users and API keys, EUR fiat accounts, and the double-entry ledger.

The ledger is the desk's book of record: every movement of money is one ``JournalEntry``
whose ``Posting`` legs sum to zero per currency. Each fiat account and wallet owns one
``LedgerAccount``; its ``balance`` is maintained under a row lock with every posting and
can never go negative (checked in the service and, as a backstop, by the database).
"""

import hashlib
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from . import money

SCOPE_READ = "otc-exchanges:read"
SCOPE_WRITE = "otc-exchanges:write"
SCOPE_WEBHOOKS_READ = "webhooks:read"
SCOPE_WEBHOOKS_WRITE = "webhooks:write"
SCOPE_EXCHANGES_READ = "exchanges:read"  # the market exchanges of seed 001 (``/exchanges``)
SCOPE_EXCHANGES_WRITE = "exchanges:write"
ALL_SCOPES = (
    SCOPE_READ,
    SCOPE_WRITE,
    SCOPE_WEBHOOKS_READ,
    SCOPE_WEBHOOKS_WRITE,
    SCOPE_EXCHANGES_READ,
    SCOPE_EXCHANGES_WRITE,
)

AMOUNT_FIELD = {"max_digits": 24, "decimal_places": 6}


def default_spread_bps() -> int:
    """Kept for migration 0001 (the spread became the pair's platform FX markup)."""
    return 50


class Asset(models.Model):
    """A currency the desk holds: a fiat currency or a stablecoin. Amounts of it are kept with
    ``decimals`` places everywhere (API strings, ledger postings, rounding). A stablecoin lists
    the networks it lives on; a wallet's address on such a network can hold it."""

    class Kind(models.TextChoices):
        FIAT = "fiat", "Fiat currency"
        STABLECOIN = "stablecoin", "Stablecoin"

    code = models.CharField(max_length=8, primary_key=True)
    name = models.CharField(max_length=60)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    decimals = models.PositiveSmallIntegerField()
    networks = models.JSONField(default=list, blank=True, help_text="Stablecoins: networks.")

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(decimals__lte=6), name="asset_decimals_at_most_6")
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_fiat(self) -> bool:
        return self.kind == self.Kind.FIAT


class KycStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"


class Customer(models.Model):
    """A business that trades with the desk. The desk itself is one row (``is_desk``): it owns
    the treasury account and wallet."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    is_desk = models.BooleanField(default=False)
    kyc_status = models.CharField(
        max_length=12,
        choices=KycStatus.choices,
        default=KycStatus.PENDING,
        help_text="Only verified customers may quote or confirm.",
    )
    daily_limit_eur = models.DecimalField(
        max_digits=24,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Overrides the desk's daily limit (EUR equivalent, desk time zone).",
    )
    min_order_eur = models.DecimalField(
        max_digits=24,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Overrides the desk's minimum (EUR).",
    )
    max_order_eur = models.DecimalField(
        max_digits=24,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Overrides the desk's maximum (EUR).",
    )
    min_order_usdc = models.DecimalField(
        max_digits=24,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Overrides the desk's minimum (USDC).",
    )
    max_order_usdc = models.DecimalField(
        max_digits=24,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Overrides the desk's maximum (USDC).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_desk"], condition=Q(is_desk=True), name="one_desk_customer"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def order_limits(self, currency: str, default: tuple) -> tuple:
        """(minimum, maximum) per-order source amount in ``currency``: the customer's own
        overrides where set (EUR and USDC), else ``default`` (the pair's limits)."""
        default_min, default_max = default
        overrides = {
            money.EUR: (self.min_order_eur, self.max_order_eur),
            money.USDC: (self.min_order_usdc, self.max_order_usdc),
        }.get(currency, (None, None))
        return (overrides[0] or default_min, overrides[1] or default_max)


class CustomerMembership(models.Model):
    """Links a portal user to the one customer they act for."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.customer}"


class ApiKey(models.Model):
    """A customer's API key. Only a SHA-256 hash of the secret is stored (the secret is 256
    random bits, so a slow hash adds nothing); the prefix identifies it in lists."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=20, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(default=list)
    is_live = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.customer})"

    @staticmethod
    def hash_secret(secret: str) -> str:
        return hashlib.sha256(secret.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class LedgerAccount(models.Model):
    """One account of the ledger. ``balance`` is kept with every posting under a row lock."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", "Customer"
        TREASURY = "treasury", "Treasury"
        CLEARING = "clearing", "Clearing (in transit)"
        FEES = "fees", "Fee income"
        EXTERNAL = "external", "External world"
        HELD = "held", "Held (reserved for orders)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=80, unique=True)
    currency = models.CharField(max_length=8)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    allow_negative = models.BooleanField(default=False)
    balance = models.DecimalField(default=0, **AMOUNT_FIELD)
    # A hold account keeps the part of another account's money that confirmed orders have
    # reserved (a sell's USDC until settlement). The money is still the owner's: the two
    # accounts together are what the provider holds; ``held_for.balance`` is what is free.
    held_for = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="hold_account",
        help_text="Hold accounts: the account whose reserved money this keeps.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0),
                name="ledger_balance_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.currency})"


class JournalEntry(models.Model):
    """One balanced movement of money. Immutable once posted."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit"
        ORDER_DEBIT = "order_debit", "Order debit (EUR to clearing)"
        DEBIT_SETTLED = "debit_settled", "Debit settled (clearing to treasury)"
        ORDER_SETTLEMENT = "order_settlement", "Order settlement"
        REFUND = "refund", "Refund"
        MARKET_ADJUSTMENT = "market_adjustment", "Market adjustment"
        HOLD = "hold", "Hold (available to held)"
        HOLD_RELEASE = "hold_release", "Hold released (held to available)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    description = models.CharField(max_length=255)
    # The business object that caused the movement (an order id); a plain UUID so the
    # ledger does not depend on the apps that use it.
    reference_id = models.UUIDField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name_plural = "journal entries"

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Journal entries are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Journal entries are immutable.")


class Posting(models.Model):
    """One leg of a journal entry: a signed amount on one ledger account (positive raises the
    account's balance)."""

    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    ledger_account = models.ForeignKey(
        LedgerAccount, on_delete=models.PROTECT, related_name="postings"
    )
    currency = models.CharField(max_length=8)
    amount = models.DecimalField(**AMOUNT_FIELD)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_not_zero"),
        ]

    def __str__(self) -> str:
        return f"{self.ledger_account.code} {self.amount} {self.currency}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValidationError("Postings are immutable.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Postings are immutable.")


class FiatAccount(models.Model):
    """A fiat account held for a customer at the desk's bank (the fiat rail)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="fiat_accounts")
    currency = models.CharField(max_length=8, default=money.EUR)
    label = models.CharField(max_length=120)
    is_master = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    is_treasury = models.BooleanField(default=False)
    # The bank's own identifier: server-side only, never in an API response.
    provider_reference = models.CharField(max_length=120, blank=True)
    ledger_account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="fiat_account"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_master", "created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.currency})"

    @property
    def balance(self):
        return self.ledger_account.balance


from .sim_models import SimBankBalance, SimBankTransfer  # noqa: E402, F401  (the simulated bank)
