"""Short-lived copies of rarely changing pricing data in the shared cache (Redis): the
pairs with their assets (by code the enabled ones, by id any), and each customer's fee
schedule per pair. Every web process reads the same copy (no process memory), and a save or
delete of a pair, an asset or a fee schedule drops the copies at once and again after its
transaction commits (so a reader that filled the cache from the old row meanwhile cannot keep
it). ``PRICING_CACHE_SECONDS`` bounds what remains: a change made with ``queryset.update()``,
which sends no signal, is seen after at most that long (call ``pricing_cache_forget`` after
one)."""

from django.core.cache import cache
from django.db import transaction

PRICING_CACHE_SECONDS = 30
_NO_SCHEDULE = "none"


def pair_key(code: str) -> str:
    return f"otc:pair:{code}"


def pair_id_key(pair_id) -> str:
    return f"otc:pair-id:{pair_id}"


def fee_schedule_key(customer_id, pair_id) -> str:
    return f"otc:fee-schedule:{customer_id}:{pair_id}"


def cached_pair(code: str, load):
    """The enabled pair ``code`` (with its assets), from the cache or ``load()``; None when
    there is no such enabled pair (not cached: enabling one must show at once)."""
    pair = cache.get(pair_key(code))
    if pair is None:
        pair = load()
        if pair is not None:
            cache.set(pair_key(code), pair, PRICING_CACHE_SECONDS)
    return pair


def cached_pair_by_id(pair_id, load):
    """The pair with id ``pair_id`` (enabled or not, with its assets), from the cache or
    ``load()``."""
    pair = cache.get(pair_id_key(pair_id))
    if pair is None:
        pair = load()
        cache.set(pair_id_key(pair_id), pair, PRICING_CACHE_SECONDS)
    return pair


def cached_fee_schedule(customer_id, pair_id, load):
    """The customer's fee schedule on the pair, or None, from the cache or ``load()``."""
    key = fee_schedule_key(customer_id, pair_id)
    schedule = cache.get(key)
    if schedule is None:
        schedule = load()
        cache.set(key, schedule if schedule is not None else _NO_SCHEDULE, PRICING_CACHE_SECONDS)
    return None if schedule == _NO_SCHEDULE else schedule


def _forget(keys: list[str]) -> None:
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))


def pricing_cache_forget() -> None:
    """Drop every cached pair (after a change that sent no signal)."""
    from .models import Pair

    pairs = Pair.objects.values_list("pk", "code")
    _forget([key for pk, code in pairs for key in (pair_key(code), pair_id_key(pk))])


def _pair_changed(sender, instance, **kwargs) -> None:
    _forget([pair_key(instance.code), pair_id_key(instance.pk)])


def _asset_changed(sender, instance, **kwargs) -> None:
    pricing_cache_forget()


def _fee_schedule_changed(sender, instance, **kwargs) -> None:
    _forget([fee_schedule_key(instance.customer_id, instance.pair_id)])


def connect() -> None:
    from django.db.models.signals import post_delete, post_save

    from accounts.models import Asset

    from .models import CustomerFeeSchedule, Pair

    for signal in (post_save, post_delete):
        signal.connect(_pair_changed, sender=Pair, dispatch_uid=f"pair-cache-{signal}")
        signal.connect(_asset_changed, sender=Asset, dispatch_uid=f"asset-cache-{signal}")
        signal.connect(
            _fee_schedule_changed,
            sender=CustomerFeeSchedule,
            dispatch_uid=f"fee-schedule-cache-{signal}",
        )
