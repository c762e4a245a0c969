"""Pairs and fee schedules are read through the shared cache, and a change is seen by the
next quote (issue 12: no process memory, invalidated on save)."""

from decimal import Decimal

import pytest
from django.core.cache import cache

from otc.caching import pair_key, pricing_cache_forget
from otc.models import CustomerFeeSchedule, Pair

pytestmark = pytest.mark.django_db

QUOTE = "/api/v1/otc-exchanges/quote"


def quote(world, amount: str = "1000.00"):
    return world.client().post(
        QUOTE,
        {
            "side": "buy",
            "sourceFrAccountId": str(world.eur_master.pk),
            "destinationUtilaWalletId": str(world.wallet.pk),
            "sourceAmountEur": amount,
        },
        format="json",
    )


def fee_total(response) -> str:
    assert response.status_code == 200, response.content
    return response.json()["data"]["fees"]["total"]


def test_a_quote_leaves_the_pair_in_the_shared_cache(acme):
    assert fee_total(quote(acme)) == "0.00"
    assert cache.get(pair_key("EUR/USDC")) is not None


def test_a_pair_saved_is_seen_by_the_next_quote(acme):
    assert fee_total(quote(acme)) == "0.00"
    pair = Pair.objects.get(code="EUR/USDC")
    pair.platform_fixed_fee = Decimal("2.00")
    pair.save()
    assert fee_total(quote(acme)) == "2.00"


def test_a_disabled_pair_is_refused_at_once(acme):
    assert quote(acme).status_code == 200
    pair = Pair.objects.get(code="EUR/USDC")
    pair.enabled = False
    pair.save()
    response = quote(acme)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "CURRENCY_PAIR_NOT_ENABLED"


def test_a_fee_schedule_created_changed_and_deleted_is_seen_by_the_next_quote(acme, globex):
    assert fee_total(quote(acme)) == "0.00"
    pair = Pair.objects.get(code="EUR/USDC")
    schedule = CustomerFeeSchedule.objects.create(
        customer=acme.customer, pair=pair, fixed_fee=Decimal("1.50")
    )
    assert fee_total(quote(acme)) == "1.50"
    assert fee_total(quote(globex)) == "0.00"  # someone else's schedule
    schedule.fixed_fee = Decimal("0.75")
    schedule.save()
    assert fee_total(quote(acme)) == "0.75"
    schedule.delete()
    assert fee_total(quote(acme)) == "0.00"


def test_an_update_without_signals_needs_the_explicit_forget(acme):
    assert fee_total(quote(acme)) == "0.00"
    Pair.objects.filter(code="EUR/USDC").update(platform_fixed_fee=Decimal("3.00"))
    assert fee_total(quote(acme)) == "0.00"  # the cached copy, for up to 30 s
    pricing_cache_forget()
    assert fee_total(quote(acme)) == "3.00"
