"""``manage.py price_override``: pins a pair's mid for every quote (through the shared cache),
shows on the console's live price panel, is audited, clears, refuses nonsense, expires."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from otc import pricing
from otc.models import AuditEntry, Pair
from tests.ops.conftest import make_staff, signed_in
from tests.otc.test_api_support import buy_body, quote

pytestmark = pytest.mark.django_db


def run(*args, capture) -> str:
    out = StringIO()
    with capture(execute=True):  # the cache is written when the audit entry commits
        call_command("price_override", *args, stdout=out)
    return out.getvalue().strip()


def quoted_rates(world) -> tuple[str, str]:
    response = quote(world, buy_body(world, "100.00"))
    assert response.status_code == 200, response.content
    data = response.json()["data"]
    return data["referenceRate"], data["rate"]


def test_a_pinned_price_is_what_quotes_use_until_cleared(acme, django_capture_on_commit_callbacks):
    assert quoted_rates(acme) == ("1.080000", "1.074600")
    out = run("EUR/USDC", "1.2", "--minutes", "5", capture=django_capture_on_commit_callbacks)
    assert out.startswith("EUR/USDC pinned at 1.200000 until ")

    assert quoted_rates(acme) == ("1.200000", "1.194000")  # 1.2 less the 50 bps markup
    override = pricing.price_override_get("EUR/USDC")
    assert override.rate == Decimal("1.2")
    assert override.set_by.startswith("command:")
    assert timedelta(minutes=4) < override.expires_at - datetime.now(UTC) <= timedelta(minutes=5)
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.subject, entry.channel) == (
        "price_override.set",
        "EUR/USDC",
        "command",
    )
    assert entry.details == {"rate": "1.200000", "expiresAt": override.expires_at.isoformat()}

    out = run("EUR/USDC", "--clear", capture=django_capture_on_commit_callbacks)
    assert out == "EUR/USDC cleared"
    assert pricing.price_override_get("EUR/USDC") is None
    assert quoted_rates(acme) == ("1.080000", "1.074600")
    cleared = AuditEntry.objects.filter(action="price_override.clear").get()
    assert cleared.details == {"wasSet": True}
    assert run("EUR/USDC", "--clear", capture=django_capture_on_commit_callbacks) == (
        "nothing was pinned"
    )


def test_the_console_panel_shows_the_pinned_price_who_set_it_and_when_it_ends(
    acme, django_capture_on_commit_callbacks
):
    staff = make_staff("op-dave")
    run("eur/usdc", "1.1", "--minutes", "30", capture=django_capture_on_commit_callbacks)
    panel = signed_in(staff).get("/ops/price/").content.decode()
    assert 'data-testid="price-override"' in panel
    assert "Manual price pinned at" in panel and "1.100000" in panel
    assert "command:" in panel and "(command)" in panel
    assert "ends" in panel
    run("EUR/USDC", "--clear", capture=django_capture_on_commit_callbacks)
    assert "Manual price pinned" not in signed_in(staff).get("/ops/price/").content.decode()


def test_without_minutes_the_price_stays_until_cleared(acme, django_capture_on_commit_callbacks):
    out = run("EUR/USDC", "1.05", capture=django_capture_on_commit_callbacks)
    assert out.endswith("until cleared")
    assert pricing.price_override_get("EUR/USDC").expires_at is None


def test_as_a_named_operator(acme, operator, django_capture_on_commit_callbacks):
    run(
        "EUR/USDC",
        "1.09",
        "--operator",
        operator.username,
        capture=django_capture_on_commit_callbacks,
    )
    entry = AuditEntry.objects.get()
    assert entry.actor_user == operator and entry.actor == operator.username
    with pytest.raises(CommandError, match="No active staff user"):
        run("EUR/USDC", "1.09", "--operator", "nobody", capture=django_capture_on_commit_callbacks)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("EUR/USDC", "abc"), "not a rate"),
        (("EUR/USDC", "-1"), "positive"),
        (("EUR/USDC", "0"), "positive"),
        (("EUR/USDC", "NaN"), "positive"),
        (("EUR/USDC", "1.1234567"), "6 decimals"),
        (("EUR/USDC", "1.1", "--minutes", "0"), "1 to 1440"),
        (("EUR/USDC", "1.1", "--minutes", "1441"), "1 to 1440"),
        (("EUR/XYZ", "1.1"), "PAIR_NOT_FOUND"),
        (("EUR/USDC",), "Give the rate"),
        (("EUR/USDC", "1.1", "--clear"), "not both"),
    ],
)
def test_nonsense_is_refused_and_pins_nothing(
    acme, args, message, django_capture_on_commit_callbacks
):
    with pytest.raises(CommandError, match=message):
        run(*args, capture=django_capture_on_commit_callbacks)
    assert pricing.price_override_get("EUR/USDC") is None
    assert not AuditEntry.objects.exists()


class _Later(datetime):
    """``datetime`` six minutes from now, for the pricing module's clock."""

    @classmethod
    def now(cls, tz=None):
        return datetime.now(tz) + timedelta(minutes=6)


def test_the_override_expires(acme, monkeypatch, django_capture_on_commit_callbacks):
    run("EUR/USDC", "1.2", "--minutes", "5", capture=django_capture_on_commit_callbacks)
    key = pricing.OVERRIDE_KEY.format(pair="EUR/USDC")
    backend = getattr(cache, "_cache", None)
    if hasattr(backend, "get_client"):  # Redis: the key itself expires with the override
        ttl = backend.get_client(key).ttl(cache.make_and_validate_key(key))
        assert 240 < ttl <= 300
    assert pricing.live_mid_rate(Pair.objects.get(code="EUR/USDC")) == Decimal("1.2")

    monkeypatch.setattr(pricing, "datetime", _Later)
    assert pricing.price_override_get("EUR/USDC") is None
    assert pricing.live_mid_rate(Pair.objects.get(code="EUR/USDC")) == Decimal("1.080000")
    monkeypatch.undo()
    assert quoted_rates(acme)[0] == "1.200000"  # still pinned in the real present
