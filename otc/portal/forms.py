"""Forms of the portal. They only parse and validate input; the services decide."""

from django import forms
from django.urls import reverse

from accounts import money
from accounts.errors import ProviderUnavailable
from accounts.models import (
    ALL_SCOPES,
    SCOPE_EXCHANGES_READ,
    SCOPE_EXCHANGES_WRITE,
    SCOPE_READ,
    SCOPE_WEBHOOKS_READ,
    SCOPE_WEBHOOKS_WRITE,
    SCOPE_WRITE,
    Customer,
)
from accounts.selectors import eligible_fiat_accounts
from otc import services
from otc.models import FixedSide, Side, Status
from otc.web import numbers
from wallets.providers import custody
from wallets.selectors import available_after_holds, eligible_wallets, wallet_held_balances

from .status_text import ORDER_STATUSES, QUOTE_STATUSES

SIDE_CHOICES = [
    (Side.BUY, "Buy USDC (pay EUR)"),
    (Side.SELL, "Sell USDC (receive EUR)"),
]


def source_currency(side: str) -> str:
    return money.EUR if side == Side.BUY else money.USDC


def destination_currency(side: str) -> str:
    return money.USDC if side == Side.BUY else money.EUR


def amount_currency(side: str, fixed_side: str) -> str:
    """The currency the typed amount is in: the source's, or the destination's when the
    customer fixes what they receive ("I want to receive exactly ...")."""
    if fixed_side == FixedSide.DESTINATION:
        return destination_currency(side)
    return source_currency(side)


def amount_label(side: str, fixed_side: str) -> str:
    if fixed_side == FixedSide.DESTINATION:
        return "Amount to receive"
    return "Amount to sell" if side == Side.SELL else "Amount to pay"


FIXED_SIDE_LABELS = {
    # (side, fixed side) -> the radio's label; the script swaps them when the side changes
    (Side.BUY, FixedSide.SOURCE): "I pay exactly",
    (Side.SELL, FixedSide.SOURCE): "I sell exactly",
    (Side.BUY, FixedSide.DESTINATION): "I want to receive exactly",
    (Side.SELL, FixedSide.DESTINATION): "I want to receive exactly",
}


def _mode(side: str | None, fixed_side: str | None) -> tuple[str, str]:
    return (
        side if side in Side.values else Side.BUY,
        fixed_side if fixed_side in FixedSide.values else FixedSide.SOURCE,
    )


def _limits(customer, currency: str, pair):
    """The EUR/USDC pair's limits for the side whose source is ``currency``."""
    side = Side.BUY if currency == money.EUR else Side.SELL
    return services.source_limits(customer, pair, side)


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
    fixed_side = forms.ChoiceField(
        label="Amount",
        choices=[
            (FixedSide.SOURCE, FIXED_SIDE_LABELS[Side.BUY, FixedSide.SOURCE]),
            (FixedSide.DESTINATION, FIXED_SIDE_LABELS[Side.BUY, FixedSide.DESTINATION]),
        ],
        initial=FixedSide.SOURCE,
        required=False,  # an older form without the choice fixes the source, as before
        widget=forms.RadioSelect,
    )
    amount = forms.CharField(
        label="Amount to pay",
        max_length=40,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
    )

    def wallet_balances(self) -> dict[str, tuple | None]:
        """Each wallet's (available, held) USDC: the live balance less what confirmed sells
        hold, and that hold (``None``: the custodian did not answer)."""
        provider = custody()
        held = wallet_held_balances(self.wallets)
        balances: dict[str, tuple | None] = {}
        for wallet in self.wallets:
            try:
                live = provider.balance(wallet)
            except ProviderUnavailable:
                balances[str(wallet.pk)] = None
            else:
                available = available_after_holds(live, held[wallet.pk])
                balances[str(wallet.pk)] = (available, held[wallet.pk])
        return balances

    @staticmethod
    def _wallet_balance_text(balance: tuple | None) -> str:
        if balance is None:
            return "balance unavailable"
        available, held = balance
        text = f"{numbers.format_money(available, money.USDC)} available"
        if held:
            text += f" ({numbers.format_money(held, money.USDC)} held by sells)"
        return text

    def __init__(self, *args, customer: Customer, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.customer = customer
        self.pair = services.pair_get(services.DEFAULT_PAIR)  # read once per form
        self.accounts = list(eligible_fiat_accounts(customer))
        self.wallets = list(eligible_wallets(customer))
        self.fields["fiat_account"].choices = [
            (
                str(a.pk),
                f"{a.label}{' (master)' if a.is_master else ''} · "
                f"{numbers.format_money(a.balance, a.currency)}",
            )
            for a in self.accounts
        ]
        balances = self.wallet_balances()
        self.fields["wallet"].choices = [
            (
                str(w.pk),
                f"{w.label} · {w.get_network_display()} · "
                + self._wallet_balance_text(balances[str(w.pk)]),
            )
            for w in self.wallets
        ]
        source = self.data if self.is_bound else self.initial
        side, fixed = _mode(source.get("side"), source.get("fixed_side"))
        self.fields["fixed_side"].choices = [
            (value, FIXED_SIDE_LABELS[side, value]) for value in FixedSide.values
        ]
        currency = amount_currency(side, fixed)
        self.fields["amount"].label = amount_label(side, fixed)
        self.fields["amount"].help_text = self.amount_help(side, fixed)
        # What the server reads, shown under the field as the user types (htmx).
        self.fields["amount"].widget.attrs.update(
            {
                "placeholder": numbers.example_amount(currency),
                "aria-describedby": "id_amount_helptext amount-preview",
                "hx-get": reverse("portal:amount_preview"),
                "hx-trigger": "input changed delay:250ms, side-changed",
                "hx-include": "#quote-form [name=side], #quote-form [name=fixed_side], "
                "#quote-form [name=amount]",
                "hx-target": "#amount-preview",
                "hx-swap": "innerHTML",
                "hx-sync": "this:replace",
            }
        )

    def limits_text(self, currency: str) -> str:
        low, high = _limits(self.customer, currency, self.pair)
        return (
            f"In {currency}, up to {money.PRECISION[currency]} decimals, between "
            f"{numbers.format_amount(low, currency)} and {numbers.format_amount(high, currency)}."
            f" {numbers.how_to_write(currency)}"
        )

    def amount_help(self, side: str, fixed_side: str) -> str:
        if fixed_side == FixedSide.SOURCE:
            return self.limits_text(source_currency(side))
        currency = destination_currency(side)
        paid = source_currency(side)
        low, high = _limits(self.customer, paid, self.pair)
        return (
            f"In {currency}, up to {money.PRECISION[currency]} decimals: exactly what arrives. "
            f"The quote works out what you {'pay' if side == Side.BUY else 'sell'} with the fees "
            f"on top (between {numbers.format_money(low, paid)} and "
            f"{numbers.format_money(high, paid)}). {numbers.how_to_write(currency)}"
        )

    def limits(self) -> dict[str, dict[str, str]]:
        """Per side and fixed side (``"buy-destination"``), what the browser script shows when
        the choice changes: the amount's currency, label, hint and placeholder, and the
        radios' labels."""
        result = {}
        for side in Side.values:
            for fixed in FixedSide.values:
                currency = amount_currency(side, fixed)
                result[f"{side}-{fixed}"] = {
                    "currency": currency,
                    "decimals": str(money.PRECISION[currency]),
                    "label": amount_label(side, fixed),
                    "help": self.amount_help(side, fixed),
                    "placeholder": numbers.example_amount(currency),
                    "fixedLabel": FIXED_SIDE_LABELS[side, fixed],
                }
        return result

    def clean(self):
        data = super().clean()
        data["fixed_side"] = data.get("fixed_side") or FixedSide.SOURCE
        side, raw, fixed = data.get("side"), data.get("amount"), data["fixed_side"]
        if side and raw:
            currency = amount_currency(side, fixed)
            try:
                # The way the user's locale writes numbers (Accept-Language); strict.
                amount = numbers.parse_amount(raw, currency)
            except money.AmountError as exc:
                self.add_error("amount", str(exc))
                return data
            if fixed == FixedSide.SOURCE:
                # A fixed destination's source is known only once priced: the service checks
                # it against the same limits (AMOUNT_OUT_OF_RANGE).
                low, high = _limits(self.customer, currency, self.pair)
                if not low <= amount <= high:
                    self.add_error(
                        "amount",
                        f"Enter an amount between {numbers.format_amount(low, currency)} and "
                        f"{numbers.format_money(high, currency)}.",
                    )
                    return data
            data["amount_value"] = amount
            data["currency"] = currency
        return data


class OrderFilterForm(forms.Form):
    """``show``: orders (confirmed and later, the default) or quotes (never confirmed)."""

    show = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[("orders", "Orders"), ("quotes", "Quotes")],
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *Status.choices]
    )

    def wanted(self) -> dict:
        """The valid values (an unknown one is dropped, the others kept)."""
        self.is_valid()
        return self.cleaned_data

    def statuses(self) -> tuple[str, ...]:
        """The statuses to list: one status if asked for, else those of the chosen tab."""
        wanted = self.wanted()
        if wanted.get("status"):
            return (wanted["status"],)
        return QUOTE_STATUSES if wanted.get("show") == "quotes" else ORDER_STATUSES

    def showing(self) -> str:
        wanted = self.wanted()
        if wanted.get("status"):
            return "quotes" if wanted["status"] in QUOTE_STATUSES else "orders"
        return wanted.get("show") or "orders"

    side = forms.ChoiceField(
        label="Side", required=False, choices=[("", "Buy and sell"), *Side.choices]
    )


SCOPE_LABELS = {
    SCOPE_READ: "Read quotes, orders, accounts and wallets",
    SCOPE_WRITE: "Request quotes, confirm and cancel orders",
    SCOPE_WEBHOOKS_READ: "Read webhook endpoints and deliveries",
    SCOPE_WEBHOOKS_WRITE: "Manage webhook endpoints",
    SCOPE_EXCHANGES_READ: "Read market exchanges (/exchanges)",
    SCOPE_EXCHANGES_WRITE: "Create and accept market exchanges, executed at once",
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
