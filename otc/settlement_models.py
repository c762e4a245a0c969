"""The money trail (imported by ``otc.models``): every provider call an order makes, and the
daily reconciliation of the desk's books with the providers'."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

AMOUNT = {"max_digits": 24, "decimal_places": 6}


class ProviderTransfer(models.Model):
    """One call to the bank or the custodian, recorded before it is made. Its ``reference``
    (``order:<id>:<step>``) makes the provider's ``transfer`` idempotent: a worker that resumes
    after a crash asks again with the same reference and gets the first answer.

    pending  -> written, not yet sent (or the provider was unreachable: nothing moved)
    sent     -> a call is (or was, when a worker died) under way; the outcome is unknown
    settled  -> the provider did it and the ledger recorded it (``journal_entry``)
    failed   -> the provider refused it for good; nothing moved
    cancelled-> voided before the provider did it (the order failed or was refunded first)
    """

    class Step(models.TextChoices):
        DEBIT = "debit", "Debit (customer account to treasury)"
        COLLECT = "collect", "Collect (customer wallet to treasury)"
        DELIVER = "deliver", "Deliver (treasury to customer)"
        REFUND = "refund", "Refund (treasury to customer)"
        # A market exchange's unused slippage buffer, back to where the source came from.
        ADJUST = "adjust", "Market adjustment (treasury to customer)"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        SETTLED = "settled", "Settled"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Provider(models.TextChoices):
        BANK = "bank", "Bank (fiat rail)"
        CUSTODY = "custody", "Custodian"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(
        "otc.Order", on_delete=models.PROTECT, related_name="provider_transfers"
    )
    step = models.CharField(max_length=16, choices=Step.choices)
    reference = models.CharField(max_length=120, unique=True)
    provider = models.CharField(max_length=16, choices=Provider.choices)
    asset = models.CharField(max_length=8)
    amount = models.DecimalField(**AMOUNT)
    source_account = models.ForeignKey(
        "accounts.FiatAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    source_wallet = models.ForeignKey(
        "wallets.Wallet", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination_account = models.ForeignKey(
        "accounts.FiatAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination_wallet = models.ForeignKey(
        "wallets.Wallet", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    provider_reference = models.CharField(max_length=120, blank=True)
    journal_entry = models.ForeignKey(
        "accounts.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    settled_at = models.DateTimeField(null=True, blank=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["order", "step"], name="one_transfer_per_order_step"),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="provider_transfer_amount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(state="settled") | Q(journal_entry__isnull=False),
                name="settled_transfer_has_ledger_entry",
            ),
        ]
        indexes = [models.Index(fields=["state", "updated_at"])]

    def __str__(self) -> str:
        return f"{self.reference} ({self.state})"

    @property
    def source(self):
        return self.source_account or self.source_wallet

    @property
    def destination(self):
        return self.destination_account or self.destination_wallet

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.PENDING, self.State.SENT)


class ReconciliationReport(models.Model):
    """One run of ``reconcile`` for one day: how many movements matched and the breaks."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    day = models.DateField(db_index=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    positions = models.PositiveIntegerField(default=0, help_text="Accounts and wallet assets.")
    matched = models.PositiveIntegerField(default=0)
    break_count = models.PositiveIntegerField(default=0)
    triggered_by = models.CharField(max_length=120, blank=True)

    class Meta:
        ordering = ["-day", "-started_at"]

    def __str__(self) -> str:
        return f"Reconciliation {self.day} ({self.break_count} breaks)"


class ReconciliationBreak(models.Model):
    """A difference between the desk's books and a provider's, for an operator to resolve."""

    class Kind(models.TextChoices):
        AMOUNT_MISMATCH = "amount_mismatch", "Mismatched amount"
        MISSING_IN_PROVIDER = "missing_in_provider", "Missing in provider"
        MISSING_IN_LEDGER = "missing_in_ledger", "Missing in ledger"
        BALANCE_MISMATCH = "balance_mismatch", "Balance differs"

    report = models.ForeignKey(
        ReconciliationReport, on_delete=models.CASCADE, related_name="breaks"
    )
    kind = models.CharField(max_length=24, choices=Kind.choices)
    provider = models.CharField(max_length=16, choices=ProviderTransfer.Provider.choices)
    position = models.CharField(max_length=200, help_text="The account or wallet and asset.")
    asset = models.CharField(max_length=8)
    reference = models.CharField(max_length=120, blank=True)
    provider_reference = models.CharField(max_length=120, blank=True)
    ledger_amount = models.DecimalField(null=True, blank=True, **AMOUNT)
    provider_amount = models.DecimalField(null=True, blank=True, **AMOUNT)
    order = models.ForeignKey(
        "otc.Order", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.CharField(max_length=300)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["report", "provider", "position", "kind"]
        indexes = [models.Index(fields=["resolved_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.position} {self.reference}"
