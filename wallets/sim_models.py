"""The simulated custodian's own books (imported by ``wallets.models``).

The desk never reads these to learn what it owns: they are the custodian's side of the story,
kept apart from the desk's ledger so that a difference between the two shows up in
reconciliation. A real custody adapter keeps nothing here: the chain is the record.
"""

from django.db import models

AMOUNT = {"max_digits": 24, "decimal_places": 6}


class SimChainTransfer(models.Model):
    """One movement the simulated custodian carried out. ``source`` is empty for money that
    arrived from outside the custodian (a deposit),
    ``destination`` for money that left it (a withdrawal)."""

    reference = models.CharField(max_length=120, unique=True, help_text="The caller's reference.")
    provider_reference = models.CharField(max_length=64, unique=True)
    source = models.ForeignKey(
        "wallets.Wallet", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    destination = models.ForeignKey(
        "wallets.Wallet", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    asset = models.CharField(max_length=8)
    amount = models.DecimalField(**AMOUNT)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = "simulated custodian transfer"

    def __str__(self) -> str:
        return f"{self.provider_reference} {self.amount} {self.asset}"


class SimChainBalance(models.Model):
    """The simulated custodian's balance of one wallet and asset, kept with its transfers."""

    holder = models.ForeignKey("wallets.Wallet", on_delete=models.PROTECT, related_name="+")
    asset = models.CharField(max_length=8)
    balance = models.DecimalField(default=0, **AMOUNT)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["holder", "asset"], name="one_sim_chain_balance"),
        ]
        verbose_name = "simulated custodian balance"

    def __str__(self) -> str:
        return f"{self.holder_id} {self.balance} {self.asset}"
