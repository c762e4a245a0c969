"""The simulated bank's own books (imported by ``accounts.models``).

The desk never reads these to learn what it owns: they are the bank's side of the story,
kept apart from the desk's ledger so that a difference between the two shows up in
reconciliation. A real bank adapter keeps nothing here: the bank is the record.
"""

from django.db import models

AMOUNT = {"max_digits": 24, "decimal_places": 6}


class SimBankTransfer(models.Model):
    """One movement the simulated bank carried out. ``source`` is empty for money that
    arrived from outside the bank (a deposit),
    ``destination`` for money that left it (a withdrawal)."""

    reference = models.CharField(max_length=120, unique=True, help_text="The caller's reference.")
    provider_reference = models.CharField(max_length=64, unique=True)
    source = models.ForeignKey(
        "accounts.FiatAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination = models.ForeignKey(
        "accounts.FiatAccount", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    asset = models.CharField(max_length=8)
    amount = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "simulated bank transfer"

    def __str__(self) -> str:
        return f"{self.provider_reference} {self.amount} {self.asset}"


class SimBankBalance(models.Model):
    """The simulated bank's balance of one account, kept with its transfers."""

    holder = models.ForeignKey("accounts.FiatAccount", on_delete=models.PROTECT, related_name="+")
    asset = models.CharField(max_length=8)
    balance = models.DecimalField(default=0, **AMOUNT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["holder", "asset"], name="one_sim_bank_balance"),
        ]
        verbose_name = "simulated bank balance"

    def __str__(self) -> str:
        return f"{self.holder_id} {self.balance} {self.asset}"
