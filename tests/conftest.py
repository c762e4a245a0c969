"""Shared fixtures: a desk with its treasury, two customers with funded resources, API
clients authenticated as each, and ledger invariants checked after every test."""

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import redis
from django.conf import settings as django_settings
from django.core.cache import cache
from django.db.models import Sum
from rest_framework.test import APIClient

from accounts import money
from accounts.models import SCOPE_READ, SCOPE_WRITE, Customer, LedgerAccount, Posting
from wallets.models import Network

from . import factories

STATIC_MID = Decimal("1.080000")


@pytest.fixture(autouse=True)
def _desk_settings(settings):
    settings.OTC_PRICE_FEED = f"static:{STATIC_MID}"
    settings.OTC_QUOTE_TTL_SECONDS = 60
    settings.OTC_SIMULATE_CUSTODY_OUTAGE = False
    settings.OTC_SIMULATE_FIAT_OUTAGE = False
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = False
    cache_clear()
    yield
    cache_clear()


# --- this run's own Redis namespace -----------------------------------------------------------
# Every test run has its own prefix on every Redis key (``REDIS_NAMESPACE``, see settings), so
# runs sharing a Redis database never see each other's queues, messages or cache entries.


def _redis() -> redis.Redis:
    return redis.Redis.from_url(django_settings.REDIS_URL)


def redis_namespace_delete(prefix: str) -> None:
    """Delete every key of this Redis database that starts with ``prefix``."""
    client = _redis()
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def cache_clear() -> None:
    """Empty this run's cache. Django's ``cache.clear()`` on Redis flushes the whole database,
    and with it the queues of every other run sharing it; delete our own keys instead."""
    prefix = django_settings.CACHES["default"].get("KEY_PREFIX")
    if django_settings.REDIS_URL and prefix:
        redis_namespace_delete(f"{prefix}:")
    else:
        cache.clear()


@pytest.fixture
def real_broker():
    """Tasks travel through Redis (nothing eager), starting from an empty broker: every key of
    this run's namespace (queues, unacknowledged messages a killed worker left) is removed,
    and only those."""
    from config.celery import app

    if not django_settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL)")
    assert django_settings.REDIS_NAMESPACE, "a test run always has its own Redis namespace"
    redis_namespace_delete(f"{django_settings.REDIS_NAMESPACE}:")
    app.conf.task_always_eager = False
    yield f"{django_settings.REDIS_NAMESPACE}:"
    app.conf.task_always_eager = True
    redis_namespace_delete(f"{django_settings.REDIS_NAMESPACE}:")


@dataclass
class CustomerWorld:
    customer: Customer
    eur_master: object
    eur_secondary: object
    eur_inactive: object
    usd: object
    wallet: object
    wallet_secondary: object
    wallet_no_usdc: object
    user: object
    read_key: str
    write_key: str

    def client(self, key: str | None = None) -> APIClient:
        api = APIClient()
        api.credentials(HTTP_X_API_KEY=key or self.write_key)
        return api


def build_customer(slug: str) -> CustomerWorld:
    customer = factories.CustomerFactory(slug=slug)
    return CustomerWorld(
        customer=customer,
        eur_master=factories.make_account(
            customer, label="Master", balance="250000.00", is_master=True
        ),
        eur_secondary=factories.make_account(customer, label="Ops", balance="50000.00"),
        eur_inactive=factories.make_account(customer, label="Closed", is_active=False),
        usd=factories.make_account(customer, label="USD", currency=money.USD, balance="100.00"),
        wallet=factories.make_wallet(customer, label="Primary", balance="100000.000000"),
        wallet_secondary=factories.make_wallet(
            customer, label="Secondary", network=Network.ETHEREUM, balance="500.000000"
        ),
        wallet_no_usdc=factories.make_wallet(
            customer, label="No USDC", network=Network.SOLANA, address=""
        ),
        user=factories.make_customer_user(customer),
        read_key=factories.make_key(customer, [SCOPE_READ]),
        write_key=factories.make_key(customer, [SCOPE_READ, SCOPE_WRITE]),
    )


@pytest.fixture
def desk(db):
    """The desk with its EUR treasury account and USDC treasury wallet."""
    from otc.reference import reference_data_ensure

    reference_data_ensure()  # flushed by transactional tests; migrations made it otherwise
    customer = factories.CustomerFactory(slug="desk", name="Desk", is_desk=True)
    treasury_eur = factories.make_account(
        customer, label="Treasury EUR", balance="5000000.00", is_treasury=True
    )
    treasury_usdc = factories.make_wallet(
        customer, label="Treasury USDC", balance="5000000.000000", is_treasury=True
    )
    return {"customer": customer, "eur": treasury_eur, "usdc": treasury_usdc}


@pytest.fixture
def acme(desk) -> CustomerWorld:
    return build_customer("acme")


@pytest.fixture
def globex(desk) -> CustomerWorld:
    return build_customer("globex")


@pytest.fixture
def fees(acme):
    """acme pays fees on EUR/USDC: the pair's 2.00 platform fee and 10 bps of its own."""
    from otc.models import CustomerFeeSchedule, Pair

    pair = Pair.objects.get(code="EUR/USDC")
    pair.platform_fixed_fee = Decimal("2.00")
    pair.save()
    CustomerFeeSchedule.objects.create(customer=acme.customer, pair=pair, percentage_bps=10)
    return pair


@pytest.fixture
def operator(db):
    return factories.UserFactory(username="op-alice", is_staff=True)


def assert_ledger_invariants() -> None:
    """Per currency, all postings sum to zero; no non-negative account is below zero; every
    cached balance equals the sum of its postings."""
    by_currency = Posting.objects.values("currency").annotate(total=Sum("amount"))
    for row in by_currency:
        assert row["total"] == 0, f"{row['currency']} postings do not sum to zero"
    sums = dict(Posting.objects.values_list("ledger_account").annotate(total=Sum("amount")))
    for account in LedgerAccount.objects.all():
        assert account.balance == sums.get(account.pk, 0), f"{account.code} balance drifted"
        if not account.allow_negative:
            assert account.balance >= 0, f"{account.code} is negative"


@pytest.fixture(autouse=True)
def _ledger_invariants(request):
    """After every test that used the database, the ledger must still add up. Requesting the
    database fixture here makes this check run before the database is rolled back."""
    uses_db = (
        "_django_db_helper" in request.fixturenames
        or request.node.get_closest_marker("django_db") is not None
    )
    if uses_db:
        request.getfixturevalue("_django_db_helper")
    yield
    if uses_db:
        assert_ledger_invariants()


# --- real Chromium for the browser tests ------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright's own download cannot work here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the whole run, shared by every suite's browser tests (a thread
    can hold only one sync Playwright at a time). Started on first use."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    # Playwright's sync API runs an event loop in this thread; the tests' own ORM calls
    # (fixtures, assertions) would otherwise be refused as "async unsafe".
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def artifacts() -> Path:
    """Where browser tests save their screenshots (kept by CI as test artifacts)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def page(chromium):
    """A fresh browser tab with its own cookies."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()
