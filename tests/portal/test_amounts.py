"""Amounts typed in the portal are read the way the user's locale writes them (Babel,
strict), ambiguous or malformed ones are refused with how to write them, and the API keeps its
plain decimal strings whatever the Accept-Language."""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts import money
from otc.models import Order
from otc.web import numbers
from tests.otc.test_api_support import buy_body, quote

NNBSP, NBSP = "\u202f", "\u00a0"

# Every way a person writes one thousand two hundred thirty-four and 56 cents, and twelve and a
# half, per locale.
WRITTEN = {
    "en": {
        "1234.56": ["1,234.56", "1234.56", " 1,234.56 "],
        "12.5": ["12.5", "12.50", "12.500000"],
    },
    "de": {
        "1234.56": ["1.234,56", "1234,56"],
        "12.5": ["12,5", "12,50", "12,500000"],
    },
    "nl": {
        "1234.56": ["1.234,56", "1234,56"],
        "12.5": ["12,5", "12,50", "12,500000"],
    },
    "fr": {
        "1234.56": ["1 234,56", f"1{NNBSP}234,56", f"1{NBSP}234,56", "1234,56", "1234.56"],
        "12.5": ["12,5", "12,50", "12.5"],
    },
}
CASES = [
    (locale, text, Decimal(value))
    for locale, values in WRITTEN.items()
    for value, texts in values.items()
    for text in texts
]


@pytest.mark.parametrize("currency", [money.EUR, money.USDC])
@pytest.mark.parametrize(("locale", "text", "expected"), CASES)
def test_every_way_a_person_writes_it_is_read_right(locale, text, expected, currency):
    if currency == money.EUR and text.endswith("500000"):
        pytest.skip("six decimals are a USDC amount")
    assert numbers.parse_amount(text, currency, locale) == expected
    assert numbers.parse_amount(text, currency, locale).as_tuple().exponent == (
        -money.PRECISION[currency]
    )


# The other conventions' ways, refused rather than misread (the bug: "12,5" read as 125).
MISREAD = [
    ("en", "12,5"),
    ("en", "1.234,56"),
    ("en", "1234,56"),
    ("en", "1 234,56"),
    ("en", "1 234.56"),
    ("de", "12.5"),
    ("de", "1,234.56"),
    ("de", "1234.56"),
    ("de", "1 234,56"),
    ("nl", "12.5"),
    ("nl", "1,234.56"),
    ("nl", "1234.56"),
    ("fr", "1.234,56"),
    ("fr", "1,234.56"),
    ("de", "1.2345,6"),
    ("de", "1,2,3"),
]


@pytest.mark.parametrize(("locale", "text"), MISREAD)
def test_another_conventions_way_is_refused_with_how_to_write_it(locale, text):
    with pytest.raises(money.AmountError) as refused:
        numbers.parse_amount(text, money.EUR, locale)
    example = numbers.format_amount(Decimal("1234.56"), money.EUR, locale)
    assert f"Write it like {example}" in str(refused.value)


@pytest.mark.parametrize("locale", ["en", "de", "fr", "nl"])
@pytest.mark.parametrize("text", ["1,234", "1.234", "12,345", "123.456"])
def test_a_figure_two_conventions_read_differently_is_refused_for_usdc(locale, text):
    """One mark and three digits: a thousand and more in one convention, about one in the
    other. USDC has six decimals, so both readings would be valid amounts."""
    with pytest.raises(money.AmountError, match="could be read two ways"):
        numbers.parse_amount(text, money.USDC, locale)


def test_the_ambiguity_message_gives_both_unambiguous_spellings():
    with pytest.raises(money.AmountError) as refused:
        numbers.parse_amount("12,345", money.USDC, "de")
    assert "Write 12.345,00 or 12,3450 to say which you mean." in str(refused.value)
    assert numbers.parse_amount("12.345,00", money.USDC, "de") == Decimal("12345")
    assert numbers.parse_amount("12,3450", money.USDC, "de") == Decimal("12.345")


@pytest.mark.parametrize(
    ("locale", "text", "expected"),
    [("de", "1.234", "1234.00"), ("en", "1,234", "1234.00"), ("nl", "12.345", "12345.00")],
)
def test_for_eur_a_grouped_thousand_has_only_one_reading(locale, text, expected):
    assert numbers.parse_amount(text, money.EUR, locale) == Decimal(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e3", "is not an amount"),
        ("NaN", "is not an amount"),
        ("١٢", "is not an amount"),
        ("12,345", "at most 2 decimals"),
        ("-5", "greater than zero"),
        ("0", "greater than zero"),
        ("", "Enter an amount"),
    ],
)
def test_malformed_amounts_are_refused(text, message):
    with pytest.raises(money.AmountError, match=message):
        numbers.parse_amount(text, money.EUR, "de")


# --- through the portal ---------------------------------------------------------------------


@pytest.fixture
def portal(client, acme):
    client.force_login(acme.user)
    return client


def quote_post(world, amount, side="buy"):
    return {
        "side": side,
        "fiat_account": str(world.eur_master.pk),
        "wallet": str(world.wallet.pk),
        "amount": amount,
    }


@pytest.mark.parametrize(
    ("language", "typed"),
    [("de-DE,de;q=0.9", "12,5"), ("nl", "12,5"), ("fr-FR", "12,5"), ("en-GB", "12.5")],
)
def test_the_browsers_language_decides_how_the_amount_is_read(portal, acme, language, typed):
    response = portal.post(
        reverse("portal:exchange"),
        quote_post(acme, typed, side="sell"),
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Order.objects.get().source_amount == Decimal("12.500000")


def test_twelve_comma_five_is_never_quoted_as_125_in_english(portal, acme):
    response = portal.post(
        reverse("portal:exchange"), quote_post(acme, "12,5"), HTTP_ACCEPT_LANGUAGE="en-US"
    )
    assert response.status_code == 400
    assert "“12,5” is not how amounts are written in English" in response.content.decode()
    assert not Order.objects.exists()


def test_the_quote_page_shows_the_amount_in_the_readers_locale(portal, acme):
    response = portal.post(
        reverse("portal:exchange"), quote_post(acme, "1.234,56"), HTTP_ACCEPT_LANGUAGE="de"
    )
    page = portal.get(response["Location"], HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "1.234,56 EUR" in page
    assert 'value="1.234,56"' in page  # the form again, in the same writing, reads back


def test_the_preview_says_what_the_server_reads(portal, acme):
    url = reverse("portal:amount_preview")
    german = portal.get(url, {"side": "buy", "amount": "1234,5"}, HTTP_ACCEPT_LANGUAGE="de")
    assert "We read this as <strong>1.234,50 EUR</strong>" in german.content.decode()
    french = portal.get(url, {"side": "sell", "amount": "1 234,5"}, HTTP_ACCEPT_LANGUAGE="fr")
    assert f"1{NNBSP}234,500000 USDC" in french.content.decode()
    wrong = portal.get(url, {"side": "buy", "amount": "12,5"}, HTTP_ACCEPT_LANGUAGE="en")
    assert "is not how amounts are written in English" in wrong.content.decode()
    assert portal.get(url, {"side": "buy", "amount": ""}).content.decode().strip() == ""


def test_the_api_keeps_plain_decimal_strings_whatever_the_language(acme):
    client = acme.client()
    ok = quote(acme, buy_body(acme, "100.00"), client)
    assert ok.status_code == 200
    client.credentials(HTTP_X_API_KEY=acme.write_key, HTTP_ACCEPT_LANGUAGE="de")
    german = client.post("/api/v1/otc-exchanges/quote", buy_body(acme, "100.00"), format="json")
    assert german.status_code == 200
    assert german.json()["data"]["sourceAmount"] == "100.00"
    assert "Content-Language" not in german
    comma = client.post("/api/v1/otc-exchanges/quote", buy_body(acme, "100,00"), format="json")
    assert comma.status_code == 400
