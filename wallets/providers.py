"""Custody: the custodian that holds USDC (and other stablecoin) wallets on chain.

``Custody`` is what a real custody adapter implements: ``transfer`` (idempotent by the
caller's reference), ``lookup``, ``balance`` and ``statement`` from the custodian's own
records. ``SimulatedCustody`` keeps those in its own tables (``SimChainTransfer``/
``SimChainBalance``), never reading the desk's ledger. Its outage switch
(``OTC_SIMULATE_CUSTODY_OUTAGE`` or ``manage.py simulate_outage custody on``) makes every call
raise ``ProviderUnavailable``, which the API turns into the seed's 502 codes;
``OTC_SIMULATE_CUSTODY_PAUSE_SECONDS`` makes it slow to answer after recording a transfer.
"""

from datetime import date
from decimal import Decimal
from typing import Protocol

from accounts import money
from accounts.models import LedgerAccount
from accounts.simulated import ProviderRecord, SimulatedBook, Statement

from .models import SimChainBalance, SimChainTransfer, Wallet, WalletHolding


class Custody(Protocol):
    def balance(self, wallet: Wallet, asset: str = "USDC") -> Decimal:
        """The wallet's live balance of ``asset``. Raises ``ProviderUnavailable``."""
        ...

    def transfer(
        self,
        *,
        source: Wallet,
        destination: Wallet,
        amount: Decimal,
        reference: str,
        asset: str = "USDC",
    ) -> str:
        """Send ``asset`` on chain; returns the custodian's transfer reference. The same
        ``reference`` again returns the first answer and moves nothing."""
        ...

    def lookup(self, reference: str) -> ProviderRecord | None: ...

    def statement(self, wallet: Wallet, day: date, asset: str = "USDC") -> Statement: ...


class SimulatedCustody(SimulatedBook):
    name = "custody"
    prefix = "simchain_"
    unavailable = "The custodian is unavailable."
    transfer_model = SimChainTransfer
    balance_model = SimChainBalance

    def balance(self, wallet: Wallet, asset: str = money.USDC) -> Decimal:
        return self.holder_balance(wallet, asset)

    def transfer(
        self,
        *,
        source: Wallet,
        destination: Wallet,
        amount: Decimal,
        reference: str,
        asset: str = money.USDC,
    ) -> str:
        return self._move(
            source=source, destination=destination, asset=asset, amount=amount, reference=reference
        )

    def statement(self, wallet: Wallet, day: date, asset: str = money.USDC) -> Statement:
        return self.holder_statement(wallet, day, asset)


def custody() -> Custody:
    return SimulatedCustody()


def holding_of(ledger_account: LedgerAccount) -> tuple[Wallet, str] | None:
    """The wallet and asset whose holding ``ledger_account`` records, if any."""
    wallet = Wallet.objects.filter(ledger_account=ledger_account).first()
    if wallet is not None:
        return wallet, money.USDC
    holding = (
        WalletHolding.objects.select_related("wallet").filter(ledger_account=ledger_account).first()
    )
    return (holding.wallet, holding.asset_id) if holding else None
