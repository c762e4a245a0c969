"""Custodial USDC wallets held for customers (and the desk's treasury wallet)."""

import re
import uuid

from django.core.exceptions import ValidationError
from django.db import models

from accounts.models import Asset, Customer, LedgerAccount


class Network(models.TextChoices):
    ETHEREUM = "ethereum", "Ethereum"
    POLYGON = "polygon", "Polygon"
    BASE = "base", "Base"
    ARBITRUM = "arbitrum", "Arbitrum"
    SOLANA = "solana", "Solana"
    TRON = "tron", "Tron"


_EVM = re.compile(r"^0x[0-9a-fA-F]{40}$")
ADDRESS_PATTERNS = {
    Network.ETHEREUM: _EVM,
    Network.POLYGON: _EVM,
    Network.BASE: _EVM,
    Network.ARBITRUM: _EVM,
    Network.SOLANA: re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$"),
    Network.TRON: re.compile(r"^T[1-9A-HJ-NP-Za-km-z]{33}$"),
}


def validate_usdc_address(network: str, address: str) -> None:
    pattern = ADDRESS_PATTERNS.get(network)
    if pattern is None:
        raise ValidationError({"network": f"Unknown network {network!r}."})
    if not pattern.match(address):
        raise ValidationError({"usdc_address": f"Not a valid USDC address on {network}."})


class Wallet(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="wallets")
    label = models.CharField(max_length=120)
    network = models.CharField(max_length=16, choices=Network.choices)
    usdc_address = models.CharField(max_length=64, blank=True, default="")
    is_treasury = models.BooleanField(default=False)
    # The custodian's own identifier: server-side only.
    provider_reference = models.CharField(max_length=120, blank=True)
    ledger_account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="wallet"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.label} ({self.network})"

    def clean(self) -> None:
        if self.usdc_address:
            validate_usdc_address(self.network, self.usdc_address)

    @property
    def has_usdc_address(self) -> bool:
        return bool(self.usdc_address)

    @property
    def address(self) -> str:
        """The wallet's address on its network; it can hold any token of that network (the
        field keeps seed 000's name)."""
        return self.usdc_address

    def can_hold(self, asset: Asset) -> bool:
        return bool(self.usdc_address) and self.network in asset.networks


class WalletHolding(models.Model):
    """What one wallet holds of one asset: its own ledger account. A wallet's USDC holding is
    ``Wallet.ledger_account``; any other token of the network (USDT, say) gets a holding the
    first time it is used, so a new stablecoin is data, not a model."""

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="holdings")
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+")
    ledger_account = models.OneToOneField(
        LedgerAccount, on_delete=models.PROTECT, related_name="wallet_holding"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["wallet", "asset"], name="one_holding_per_asset")
        ]

    def __str__(self) -> str:
        return f"{self.wallet} {self.asset_id}"


from .sim_models import SimChainBalance, SimChainTransfer  # noqa: E402, F401  (the simulated custodian)
