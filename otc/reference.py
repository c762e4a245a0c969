"""The desk's reference data: assets and the EUR/USDC pair with its platform fee schedule.

Migrations ``accounts 0003`` and ``otc 0004`` create the same rows on a real database; this
function recreates them where the data was flushed (transactional tests) or for a demo, and
changes nothing that exists.
"""

from decimal import Decimal

from accounts.models import Asset

from .models import Pair

STABLECOIN_NETWORKS = ["ethereum", "polygon", "base", "arbitrum", "solana", "tron"]
ASSETS = (
    ("EUR", "Euro", Asset.Kind.FIAT, 2, []),
    ("USD", "US dollar", Asset.Kind.FIAT, 2, []),
    ("USDC", "USD Coin", Asset.Kind.STABLECOIN, 6, STABLECOIN_NETWORKS),
)


def reference_data_ensure() -> Pair:
    """Create the assets and the EUR/USDC pair if missing; return the pair."""
    for code, name, kind, decimals, networks in ASSETS:
        Asset.objects.get_or_create(
            code=code,
            defaults={"name": name, "kind": kind, "decimals": decimals, "networks": networks},
        )
    pair, _ = Pair.objects.get_or_create(
        code="EUR/USDC",
        defaults={
            "base_asset_id": "EUR",
            "quote_asset_id": "USDC",
            "feed_symbol": "USDCEUR",
            "buy_min": Decimal("10.00"),
            "buy_max": Decimal("1000000.00"),
            "sell_min": Decimal("10.000000"),
            "sell_max": Decimal("1000000.000000"),
            "platform_fx_markup_bps": 50,
        },
    )
    return pair
