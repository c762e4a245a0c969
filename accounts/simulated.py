"""The books of a simulated provider (the bank, the custodian), kept in their own tables.

``SimulatedBook`` is what both simulators share: transfers idempotent by the caller's
reference, balances from the provider's own records (never from the desk's ledger), a
refusal when the source does not hold the amount, a statement per holder and day, and
``credit`` for money arriving from outside (a real adapter has no such call: a deposit is
something the desk observes on its statement). Two switches exercise failure paths: an outage
(every call raises ``ProviderUnavailable`` before anything happens) and a pause (the provider
records the transfer, then takes ``N`` seconds to answer; a test kills the worker meanwhile).
Both are read from settings or, at run time for every process, from the shared cache.
"""

import functools
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from .compiled import CompiledQuery
from .errors import ProviderUnavailable

OUTAGE_CACHE_KEY = "otc:simulate-outage:{name}"
PAUSE_CACHE_KEY = "otc:simulate-pause:{name}"


class ProviderRejected(Exception):
    """The provider answered and refused the transfer for good (funds, a reused reference).
    Nothing moved; retrying the same request cannot succeed."""


def _configured_outage(name: str) -> bool:
    return bool(getattr(settings, f"OTC_SIMULATE_{name.upper()}_OUTAGE", False))


def _configured_pause(name: str) -> float:
    return float(getattr(settings, f"OTC_SIMULATE_{name.upper()}_PAUSE_SECONDS", 0) or 0)


def simulated_outage(name: str) -> bool:
    """True when the simulated provider ``name`` (``custody`` or ``fiat``) must fail."""
    return _configured_outage(name) or bool(cache.get(OUTAGE_CACHE_KEY.format(name=name)))


def set_simulated_outage(name: str, on: bool) -> None:
    key = OUTAGE_CACHE_KEY.format(name=name)
    if on:
        cache.set(key, True, timeout=None)
    else:
        cache.delete(key)


def simulated_pause(name: str) -> float:
    """Seconds the simulated provider ``name`` waits after recording a transfer."""
    return float(cache.get(PAUSE_CACHE_KEY.format(name=name)) or _configured_pause(name))


def set_simulated_pause(name: str, seconds: float) -> None:
    key = PAUSE_CACHE_KEY.format(name=name)
    if seconds:
        cache.set(key, seconds, timeout=None)
    else:
        cache.delete(key)


@functools.cache
def _by_reference(transfer_model: type) -> CompiledQuery:
    """A simulated provider's transfer by the caller's reference, compiled once."""
    return CompiledQuery(
        lambda reference: transfer_model.objects.filter(reference=reference),
        reference="placeholder-reference",
    )


@dataclass(frozen=True)
class ProviderRecord:
    """A transfer as the provider knows it."""

    reference: str
    provider_reference: str
    source_id: object | None
    destination_id: object
    asset: str
    amount: Decimal
    at: datetime


@dataclass(frozen=True)
class StatementLine:
    reference: str
    provider_reference: str
    amount: Decimal  # signed: positive into the holder
    at: datetime


@dataclass
class Statement:
    """One holder's movements of one asset on one day (the desk's time zone), with the
    balances before and after."""

    holder_id: object
    asset: str
    day: date
    opening: Decimal
    closing: Decimal
    lines: list[StatementLine] = field(default_factory=list)


def desk_timezone() -> ZoneInfo:
    name = getattr(settings, "OTC_DESK_TIMEZONE", None) or settings.OTC_OFF_HOURS_TIMEZONE
    return ZoneInfo(name)


def day_window(day: date) -> tuple[datetime, datetime]:
    """[start, end) of ``day`` in the desk's time zone."""
    zone = desk_timezone()
    start = datetime.combine(day, dtime.min, tzinfo=zone)
    return start, datetime.combine(day + timedelta(days=1), dtime.min, tzinfo=zone)


class SimulatedBook:
    """The records of one simulated provider. ``transfer_model`` has reference,
    provider_reference, source, destination, asset, amount, created_at; ``balance_model`` has
    holder, asset, balance."""

    name = ""  # the switch name: "fiat" or "custody"
    prefix = ""  # of the provider's own references
    unavailable = "The provider is unavailable."
    transfer_model: type
    balance_model: type

    def _check_up(self) -> None:
        if simulated_outage(self.name):
            raise ProviderUnavailable(self.unavailable)

    def _record(self, row) -> ProviderRecord:
        return ProviderRecord(
            reference=row.reference,
            provider_reference=row.provider_reference,
            source_id=row.source_id,
            destination_id=row.destination_id,
            asset=row.asset,
            amount=row.amount,
            at=row.created_at,
        )

    def _switches(self) -> tuple[bool, float]:
        """(outage, pause seconds) of this provider: settings, or the shared cache's switches
        read in one round trip."""
        keys = [OUTAGE_CACHE_KEY.format(name=self.name), PAUSE_CACHE_KEY.format(name=self.name)]
        found = cache.get_many(keys)
        outage = _configured_outage(self.name) or bool(found.get(keys[0]))
        return outage, float(found.get(keys[1]) or _configured_pause(self.name))

    def _move(self, *, source, destination, asset: str, amount: Decimal, reference: str) -> str:
        outage, pause = self._switches()
        if outage:
            raise ProviderUnavailable(self.unavailable)
        if amount <= 0:
            raise ProviderRejected("The amount must be positive.")
        holders = [h.pk for h in (source, destination) if h is not None]
        with transaction.atomic():
            balances = self._locked_balances(holders, asset)
            if len(balances) < len(set(holders)):  # a first transfer in this asset
                self.balance_model.objects.bulk_create(
                    [self.balance_model(holder_id=h, asset=asset) for h in holders],
                    ignore_conflicts=True,
                )
                balances = self._locked_balances(holders, asset)
            # Same reference, same request: the first answer again (after the locks, so a
            # concurrent twin has committed or not started).
            existing = _by_reference(self.transfer_model).first(reference=reference)
            if existing is not None:
                same = (
                    existing.source_id == (source.pk if source else None)
                    and existing.destination_id == (destination.pk if destination else None)
                    and existing.asset == asset
                    and existing.amount == amount
                )
                if not same:
                    raise ProviderRejected(
                        f"The reference {reference} was used for another transfer."
                    )
                return existing.provider_reference
            if source is not None and balances[source.pk][1] < amount:
                raise ProviderRejected("Insufficient funds at the provider.")
            row = self.transfer_model.objects.create(
                reference=reference,
                provider_reference=f"{self.prefix}{uuid.uuid4().hex}",
                source=source,
                destination=destination,
                asset=asset,
                amount=amount,
                created_at=timezone.now(),
            )
            deltas: dict = {}
            if source is not None:
                deltas[balances[source.pk][0]] = -amount
            if destination is not None:
                row_id = balances[destination.pk][0]
                deltas[row_id] = deltas.get(row_id, 0) + amount
            self._add_to_balances(deltas)
        if pause:
            time.sleep(pause)  # recorded, not yet answered: the caller may die meanwhile
        return row.provider_reference

    def _locked_balances(self, holders: list, asset: str) -> dict:
        """{holder id: (balance row id, balance)} of the holders in ``asset``, the rows locked
        in primary-key order."""
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(self.balance_model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT id, holder_id, balance FROM {table} "  # noqa: S608 - a model's table
                    "WHERE holder_id = ANY(%s) AND asset = %s ORDER BY id FOR UPDATE",
                    [holders, asset],
                )
                return {holder: (pk, balance) for pk, holder, balance in cursor.fetchall()}
        rows = (
            self.balance_model.objects.select_for_update()
            .filter(holder_id__in=holders, asset=asset)
            .order_by("pk")
        )
        return {row.holder_id: (row.pk, row.balance) for row in rows}

    def _add_to_balances(self, deltas: dict) -> None:
        """Add each amount to its balance row (by row id), in one statement."""
        if connection.vendor == "postgresql":
            table = connection.ops.quote_name(self.balance_model._meta.db_table)
            with connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} AS b SET balance = b.balance + v.delta "  # noqa: S608
                    "FROM unnest(%s::bigint[], %s::numeric[]) AS v(id, delta) WHERE b.id = v.id",
                    [list(deltas), list(deltas.values())],
                )
            return
        for pk, delta in deltas.items():
            self.balance_model.objects.filter(pk=pk).update(balance=F("balance") + delta)

    def credit(self, *, destination, amount: Decimal, reference: str, asset: str) -> str:
        """(simulator only) Money arriving from outside the provider."""
        return self._move(
            source=None, destination=destination, asset=asset, amount=amount, reference=reference
        )

    def debit(self, *, source, amount: Decimal, reference: str, asset: str) -> str:
        """(simulator only) Money leaving the provider to the outside world."""
        return self._move(
            source=source, destination=None, asset=asset, amount=amount, reference=reference
        )

    def lookup(self, reference: str) -> ProviderRecord | None:
        """The provider's record of the transfer with the caller's ``reference``, if any."""
        self._check_up()
        row = self.transfer_model.objects.filter(reference=reference).first()
        return self._record(row) if row else None

    def holder_balance(self, holder, asset: str) -> Decimal:
        self._check_up()
        value = (
            self.balance_model.objects.filter(holder=holder, asset=asset)
            .values_list("balance", flat=True)
            .first()
        )
        return value or Decimal(0)

    def holder_statement(self, holder, day: date, asset: str) -> Statement:
        self._check_up()
        start, end = day_window(day)
        mine = self.transfer_model.objects.filter(
            Q(source=holder) | Q(destination=holder), asset=asset
        )

        def net(rows) -> Decimal:
            incoming = rows.filter(destination=holder).aggregate(t=Sum("amount"))["t"] or 0
            outgoing = rows.filter(source=holder).aggregate(t=Sum("amount"))["t"] or 0
            return Decimal(incoming) - Decimal(outgoing)

        opening = net(mine.filter(created_at__lt=start))
        lines = [
            StatementLine(
                reference=row.reference,
                provider_reference=row.provider_reference,
                amount=row.amount if row.destination_id == holder.pk else -row.amount,
                at=row.created_at,
            )
            for row in mine.filter(created_at__gte=start, created_at__lt=end).order_by(
                "created_at", "pk"
            )
        ]
        closing = opening + sum((line.amount for line in lines), Decimal(0))
        return Statement(
            holder_id=holder.pk, asset=asset, day=day, opening=opening, closing=closing, lines=lines
        )
