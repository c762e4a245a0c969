"""The fiat rail: the bank that holds customers' EUR accounts.

Services post every movement to the desk's own ledger; the rail is the edge where the
money really moves. ``FiatRail`` is what a real bank adapter implements: ``transfer``
(idempotent by the caller's reference), ``lookup`` of a reference, ``balance`` and
``statement`` from the bank's own records. The embedded ``SimulatedBank`` keeps those records
in its own tables (``SimBankTransfer``/``SimBankBalance``, see ``accounts.simulated``), never
reading the desk's ledger, so reconciliation can find where the two differ. It can be
switched into an outage (setting ``OTC_SIMULATE_FIAT_OUTAGE`` or, at run time for every
process, ``manage.py simulate_outage fiat on``) or made slow (``OTC_SIMULATE_FIAT_PAUSE_SECONDS``)
so failure paths can be exercised.
"""

from datetime import date
from decimal import Decimal
from typing import Protocol

from .errors import ProviderUnavailable
from .models import FiatAccount, LedgerAccount, SimBankBalance, SimBankTransfer
from .simulated import (  # noqa: F401  (re-exported: the switches and records live there)
    OUTAGE_CACHE_KEY,
    ProviderRecord,
    ProviderRejected,
    SimulatedBook,
    Statement,
    set_simulated_outage,
    set_simulated_pause,
    simulated_outage,
)


class FiatRail(Protocol):
    def transfer(
        self, *, source: FiatAccount, destination: FiatAccount, amount: Decimal, reference: str
    ) -> str:
        """Move ``amount`` between two accounts at the bank; returns the bank's reference.
        The same ``reference`` again returns the first answer and moves nothing. Raises
        ``ProviderUnavailable`` when the bank cannot be reached (nothing moved) and
        ``ProviderRejected`` when it refuses (nothing moved)."""
        ...

    def lookup(self, reference: str) -> ProviderRecord | None:
        """The bank's record of the transfer made with ``reference``, or None."""
        ...

    def balance(self, account: FiatAccount) -> Decimal:
        """The account's balance in the bank's books."""
        ...

    def statement(self, account: FiatAccount, day: date) -> Statement:
        """The account's movements on ``day`` (the desk's time zone), opening and closing."""
        ...


class SimulatedBank(SimulatedBook):
    name = "fiat"
    prefix = "simbank_"
    unavailable = "The bank is unavailable."
    transfer_model = SimBankTransfer
    balance_model = SimBankBalance

    def transfer(
        self, *, source: FiatAccount, destination: FiatAccount, amount: Decimal, reference: str
    ) -> str:
        if source.currency != destination.currency:
            raise ProviderRejected("The accounts are in different currencies.")
        return self._move(
            source=source,
            destination=destination,
            asset=destination.currency,
            amount=amount,
            reference=reference,
        )

    def balance(self, account: FiatAccount) -> Decimal:
        return self.holder_balance(account, account.currency)

    def statement(self, account: FiatAccount, day: date) -> Statement:
        return self.holder_statement(account, day, account.currency)


def fiat_rail() -> FiatRail:
    return SimulatedBank()


def provider_credit(ledger_account: LedgerAccount, amount: Decimal, reference: str) -> None:
    _outside(ledger_account, amount, reference, "credit")


def provider_debit(ledger_account: LedgerAccount, amount: Decimal, reference: str) -> None:
    """Money leaving to the outside world from the resource of ``ledger_account`` (see
    ``provider_credit``)."""
    _outside(ledger_account, amount, reference, "debit")


def _outside(ledger_account: LedgerAccount, amount: Decimal, reference: str, how: str) -> None:
    """Money arriving from outside for the resource whose ledger account is
    ``ledger_account`` (a fiat account at the bank, a wallet's holding at the custodian):
    the simulated provider records it in its own books. Ledger accounts that live nowhere
    outside the desk (clearing, fees) have no provider. Raises ``ProviderUnavailable``."""
    from wallets.providers import custody, holding_of  # wallets builds on accounts

    account = FiatAccount.objects.filter(ledger_account=ledger_account).first()
    if account is not None:
        provider, holder, asset = fiat_rail(), account, account.currency
    else:
        found = holding_of(ledger_account)
        if found is None:
            return
        provider, (holder, asset) = custody(), found
    if not hasattr(provider, how):
        return  # a real provider: the movement is observed on its statement, not made
    end = {"destination" if how == "credit" else "source": holder}
    getattr(provider, how)(amount=amount, reference=reference, asset=asset, **end)


__all__ = [
    "FiatRail",
    "ProviderRejected",
    "ProviderUnavailable",
    "SimulatedBank",
    "fiat_rail",
    "provider_credit",
    "provider_debit",
]
