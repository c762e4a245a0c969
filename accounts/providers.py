"""The fiat rail: the bank that holds customers' EUR accounts.

Services post every movement to the desk's own ledger; the rail is the edge where the
money really moves. The embedded ``SimulatedBank`` settles at once on the local ledger and
can be switched into an outage (setting ``OTC_SIMULATE_FIAT_OUTAGE`` or, at run time for every
process, ``manage.py simulate_outage fiat on``) so failure paths can be exercised.
"""

import uuid
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.core.cache import cache

from .errors import ProviderUnavailable
from .models import FiatAccount

OUTAGE_CACHE_KEY = "otc:simulate-outage:{name}"


def simulated_outage(name: str) -> bool:
    """True when the simulated provider ``name`` (``custody`` or ``fiat``) must fail."""
    if getattr(settings, f"OTC_SIMULATE_{name.upper()}_OUTAGE", False):
        return True
    return bool(cache.get(OUTAGE_CACHE_KEY.format(name=name)))


def set_simulated_outage(name: str, on: bool) -> None:
    key = OUTAGE_CACHE_KEY.format(name=name)
    if on:
        cache.set(key, True, timeout=None)
    else:
        cache.delete(key)


class FiatRail(Protocol):
    def transfer(
        self, *, source: FiatAccount, destination: FiatAccount, amount: Decimal, reference: str
    ) -> str:
        """Move ``amount`` between two accounts at the bank; returns the bank's reference.
        Raises ``ProviderUnavailable`` when the bank cannot be reached."""
        ...


class SimulatedBank:
    def transfer(
        self, *, source: FiatAccount, destination: FiatAccount, amount: Decimal, reference: str
    ) -> str:
        if simulated_outage("fiat"):
            raise ProviderUnavailable("The bank is unavailable.")
        return f"simbank_{uuid.uuid4().hex}"


def fiat_rail() -> FiatRail:
    return SimulatedBank()
