"""Custody: the custodian that holds USDC wallets on chain.

``SimulatedCustody`` answers balances from the desk's ledger and settles transfers at once;
its outage switch (``OTC_SIMULATE_CUSTODY_OUTAGE`` or ``manage.py simulate_outage custody on``)
makes every call raise ``ProviderUnavailable``, which the API turns into the seed's 502 codes.
"""

import uuid
from decimal import Decimal
from typing import Protocol

from accounts.errors import ProviderUnavailable
from accounts.models import LedgerAccount
from accounts.providers import simulated_outage

from .models import Wallet


class Custody(Protocol):
    def balance(self, wallet: Wallet, asset: str = "USDC") -> Decimal:
        """The wallet's live balance of ``asset``. Raises ``ProviderUnavailable``."""
        ...

    def transfer(
        self, *, source: Wallet, destination: Wallet, amount: Decimal, reference: str
    ) -> str:
        """Send USDC on chain; returns the custodian's transfer reference."""
        ...


class SimulatedCustody:
    def balance(self, wallet: Wallet, asset: str = "USDC") -> Decimal:
        if simulated_outage("custody"):
            raise ProviderUnavailable("The custodian is unavailable.")
        if asset == "USDC":
            return LedgerAccount.objects.values_list("balance", flat=True).get(
                pk=wallet.ledger_account_id
            )
        balance = LedgerAccount.objects.filter(
            wallet_holding__wallet=wallet, wallet_holding__asset_id=asset
        ).values_list("balance", flat=True)
        return balance.first() or Decimal(0)

    def transfer(
        self, *, source: Wallet, destination: Wallet, amount: Decimal, reference: str
    ) -> str:
        if simulated_outage("custody"):
            raise ProviderUnavailable("The custodian is unavailable.")
        return f"simchain_{uuid.uuid4().hex}"


def custody() -> Custody:
    return SimulatedCustody()
