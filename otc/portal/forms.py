"""Forms of the portal. They only parse and validate input; the services decide."""

from django import forms

from accounts import money
from accounts.models import (
    ALL_SCOPES,
    SCOPE_READ,
    SCOPE_WEBHOOKS_READ,
    SCOPE_WEBHOOKS_WRITE,
    SCOPE_WRITE,
    Customer,
)
from accounts.selectors import eligible_fiat_accounts
from otc import services
from otc.models import Side, Status
from wallets.selectors import eligible_wallets

SIDE_CHOICES = [
    (Side.BUY, "Buy USDC (pay EUR)"),
    (Side.SELL, "Sell USDC (receive EUR)"),
]


def source_currency(side: str) -> str:
    return money.EUR if side == Side.BUY else money.USDC


def _limits(customer, currency: str):
    """The EUR/USDC pair's limits for the side whose source is ``currency``."""
    side = Side.BUY if currency == money.EUR else Side.SELL
    return services.source_limits(customer, services.pair_get(services.DEFAULT_PAIR), side)


class QuoteForm(forms.Form):
    """Ask for an indicative quote. The choices are exactly what the API's ``/accounts`` and
    ``/wallets`` list; the amount is checked against the currency's decimals and the
    customer's per-order limits before the service is asked (which checks them again)."""

    side = forms.ChoiceField(
        label="I want to", choices=SIDE_CHOICES, initial=Side.BUY, widget=forms.RadioSelect
    )
    fiat_account = forms.TypedChoiceField(
        label="EUR account",
        coerce=str,
        help_text="Buy: the EUR is paid from it. Sell: the EUR is paid into it.",
    )
    wallet = forms.TypedChoiceField(
        label="USDC wallet",
        coerce=str,
        help_text="Buy: the USDC arrives in it. Sell: the USDC is sent from it.",
    )
    amount = forms.CharField(
        label="Amount to pay",
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def __init__(self, *args, customer: Customer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.accounts = list(eligible_fiat_accounts(customer))
        self.wallets = list(eligible_wallets(customer))
        self.fields["fiat_account"].choices = [
            (
                str(a.pk),
                f"{a.label}{' (master)' if a.is_master else ''} · "
                f"{money.format_amount(a.balance, a.currency)} EUR",
            )
            for a in self.accounts
        ]
        self.fields["wallet"].choices = [
            (str(w.pk), f"{w.label} · {w.get_network_display()}") for w in self.wallets
        ]
        side = self.data.get("side") if self.is_bound else self.initial.get("side")
        currency = source_currency(side if side in Side.values else Side.BUY)
        self.fields["amount"].label = f"Amount to {'pay' if side != Side.SELL else 'sell'}"
        self.fields["amount"].help_text = self.limits_text(currency)

    def limits_text(self, currency: str) -> str:
        low, high = _limits(self.customer, currency)
        return (
            f"In {currency}, up to {money.PRECISION[currency]} decimals; between "
            f"{money.format_amount(low, currency)} and {money.format_amount(high, currency)}."
        )

    def limits(self) -> dict[str, dict[str, str]]:
        """Per currency, what the browser script shows when the side switches."""
        result = {}
        for currency in (money.EUR, money.USDC):
            low, high = _limits(self.customer, currency)
            result[currency] = {
                "decimals": str(money.PRECISION[currency]),
                "min": money.format_amount(low, currency),
                "max": money.format_amount(high, currency),
                "help": self.limits_text(currency),
            }
        return result

    def clean(self):
        data = super().clean()
        side, raw = data.get("side"), data.get("amount")
        if side and raw:
            currency = source_currency(side)
            try:
                amount = money.parse_amount(raw.replace(",", "").replace(" ", ""), currency)
            except money.AmountError as exc:
                self.add_error("amount", str(exc))
                return data
            low, high = _limits(self.customer, currency)
            if not low <= amount <= high:
                self.add_error(
                    "amount",
                    f"Enter an amount between {money.format_amount(low, currency)} and "
                    f"{money.format_amount(high, currency)} {currency}.",
                )
                return data
            data["source_amount"] = amount
            data["currency"] = currency
        return data


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Status.choices]
    )
    side = forms.ChoiceField(
        label="Side", required=False, choices=[("", "Buy and sell"), *Side.choices]
    )


SCOPE_LABELS = {
    SCOPE_READ: "Read quotes, orders, accounts and wallets",
    SCOPE_WRITE: "Request quotes, confirm and cancel orders",
    SCOPE_WEBHOOKS_READ: "Read webhook endpoints and deliveries",
    SCOPE_WEBHOOKS_WRITE: "Manage webhook endpoints",
}


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Name", max_length=100, required=False, help_text="So you can tell keys apart."
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes",
        choices=[(s, f"{s} — {SCOPE_LABELS[s]}" if s in SCOPE_LABELS else s) for s in ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=[SCOPE_READ],
        error_messages={"required": "Choose at least one scope."},
    )
    live = forms.TypedChoiceField(
        label="Environment",
        choices=[("test", "Test (sk_test_…)"), ("live", "Live (sk_live_…)")],
        initial="test",
        coerce=lambda value: value == "live",
        widget=forms.RadioSelect,
    )
