"""The Kraken price-feed adapter against a local stand-in that speaks Kraken's public Ticker
format over real HTTP (the exchange itself is out of reach here)."""

import json
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.cache import cache

from accounts.errors import ProviderUnavailable
from otc import pricing

pytestmark = pytest.mark.django_db


class FakeKraken:
    def __init__(self) -> None:
        self.body: object = None
        self.status = 200
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                payload = json.dumps(outer.body).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def book(self, bid: str, ask: str) -> None:
        self.body = {
            "error": [],
            "result": {"USDCEUR": {"a": [ask, "1", "1.000"], "b": [bid, "1", "1.000"]}},
        }


def eur_usdc():
    from otc.reference import reference_data_ensure

    return reference_data_ensure()


@pytest.fixture
def kraken(settings, db):
    fake = FakeKraken()
    settings.OTC_PRICE_FEED = "kraken"
    settings.OTC_KRAKEN_API_URL = fake.url
    cache.delete(pricing.KrakenFeed.CACHE_KEY.format(symbol="USDCEUR"))
    yield fake
    fake.server.shutdown()


def test_mid_of_the_book_inverted_to_usdc_per_eur(kraken):
    kraken.book(bid="0.92100", ask="0.92300")  # mid 0.922 EUR per USDC
    assert pricing.live_mid_rate(eur_usdc()) == Decimal("1.084598")  # 1 / 0.922, rounded down
    assert kraken.requests == ["/0/public/Ticker?pair=USDCEUR"]


def test_one_snapshot_is_shared_until_it_is_stale(kraken):
    kraken.book(bid="0.92100", ask="0.92300")
    first = pricing.live_mid_rate(eur_usdc())
    kraken.book(bid="0.90000", ask="0.90100")
    assert pricing.live_mid_rate(eur_usdc()) == first  # from the shared cache, no second request
    assert len(kraken.requests) == 1
    cache.delete(pricing.KrakenFeed.CACHE_KEY.format(symbol="USDCEUR"))  # the snapshot expired
    assert pricing.live_mid_rate(eur_usdc()) == Decimal("1.110494")  # 1 / 0.9005
    assert len(kraken.requests) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"error": ["EQuery:Unknown asset pair"], "result": {}},
        {"error": [], "result": {"USDCEUR": {"a": ["0.9"], "b": ["0.95"]}}},  # crossed book
        {"error": [], "result": {"USDCEUR": {"a": ["1.20"], "b": ["0.80"]}}},  # absurd spread
        {"error": [], "result": {}},
        ["not", "a", "ticker"],
    ],
)
def test_nonsense_from_the_exchange_makes_the_feed_unavailable(kraken, body):
    kraken.body = body
    with pytest.raises(ProviderUnavailable):
        pricing.live_mid_rate(eur_usdc())
    assert cache.get(pricing.KrakenFeed.CACHE_KEY) is None  # nothing stale is kept


def test_an_http_error_makes_the_feed_unavailable(kraken):
    kraken.book(bid="0.92100", ask="0.92300")
    kraken.status = 503
    with pytest.raises(ProviderUnavailable):
        pricing.live_mid_rate(eur_usdc())


def test_an_unreachable_exchange_gives_quote_unavailable_and_creates_nothing(acme, settings):
    from otc.models import Order

    settings.OTC_PRICE_FEED = "kraken"
    settings.OTC_KRAKEN_API_URL = "http://127.0.0.1:9"  # nothing listens on the discard port
    cache.delete(pricing.KrakenFeed.CACHE_KEY.format(symbol="USDCEUR"))
    response = acme.client().post(
        "/api/v1/otc-exchanges/quote",
        {
            "sourceFrAccountId": str(acme.eur_master.pk),
            "destinationUtilaWalletId": str(acme.wallet.pk),
            "sourceAmountEur": "100.00",
        },
        format="json",
    )
    assert (response.status_code, response.json()["error"]["code"]) == (502, "QUOTE_UNAVAILABLE")
    assert not Order.objects.exists()


def test_a_quote_is_priced_from_the_exchange(acme, kraken):
    kraken.book(bid="0.92100", ask="0.92300")
    response = acme.client().post(
        "/api/v1/otc-exchanges/quote",
        {
            "sourceFrAccountId": str(acme.eur_master.pk),
            "destinationUtilaWalletId": str(acme.wallet.pk),
            "sourceAmountEur": "100.00",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    # mid 1.084598 less acme's 50 bps spread, rounded down
    assert response.json()["data"]["rate"] == "1.079175"
