"""Input parsing and output shapes of the customer API. Inputs only validate; outputs only
render. Business rules live in ``otc.services``."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import money
from otc.models import Side, Status
from otc.representations import (
    iso_ms,
    order_representation,
    quote_representation,
    review_representation,
)

from .inputs import PageQuery, StrictInput

__all__ = ["iso_ms", "order_representation", "quote_representation", "review_representation"]


@extend_schema_field({"type": "string", "pattern": r"^\d+(\.\d+)?$", "example": "100.00"})
class MoneyField(serializers.Field):
    """A decimal string with at most the currency's decimals. JSON numbers are refused so that
    no float ever touches an amount."""

    def __init__(self, currency: str, **kwargs) -> None:
        self.currency = currency
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        try:
            return money.parse_amount(data, self.currency)
        except money.AmountError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def to_representation(self, value):
        return money.format_amount(value, self.currency)


class UUIDStringField(serializers.UUIDField):
    """A UUID sent as a JSON string. DRF's own field also turns a JSON number into a UUID
    (``12`` -> ``00000000-...-00000000000c``); an id that is not a UUID string is a 400."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


class ChoiceField(serializers.ChoiceField):
    """A choice whose error lists the valid values (``details.<field>.validValues``)."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            values = [str(value) for value in self.choices]
            raise serializers.ValidationError(
                {"message": f"Not one of {', '.join(values)}.", "validValues": values}
            ) from None


@extend_schema_field({"type": "string", "pattern": r"^\d+(\.\d+)?$", "example": "100.00"})
class AnyAmountField(serializers.Field):
    """A positive decimal string whose currency is known only once the pair and side are (the
    serializer's ``validate`` checks its decimals)."""

    def to_internal_value(self, data):
        try:
            return money.parse_amount(data, money.USDC)  # the widest precision any asset has
        except money.AmountError as exc:
            raise serializers.ValidationError(str(exc)) from None


# Per side: the resource fields the quote needs, and its seed-named amounts (fixed source,
# fixed destination). ``sourceAmount``/``destinationAmount`` (extension) work for every pair.
QUOTE_SIDES = {
    Side.BUY: {
        "resources": ("sourceFrAccountId", "destinationUtilaWalletId"),
        "source": "sourceAmountEur",
        "destination": "destinationAmountUsdc",
    },
    Side.SELL: {
        "resources": ("sourceUtilaWalletId", "destinationFrAccountId"),
        "source": "sourceAmountUsdc",
        "destination": "destinationAmountEur",
    },
}


class QuoteInput(StrictInput):
    side = ChoiceField(choices=Side.values, default=Side.BUY)
    pair = serializers.CharField(
        required=False, default="EUR/USDC", max_length=20, help_text='(extension) "EUR/USDC".'
    )
    sourceFrAccountId = UUIDStringField(required=False, help_text="Buy: the EUR account.")
    destinationUtilaWalletId = UUIDStringField(
        required=False, help_text="Buy: the receiving wallet."
    )
    sourceAmountEur = MoneyField(money.EUR, required=False, help_text='Buy: e.g. "100.00".')
    destinationAmountUsdc = MoneyField(
        money.USDC,
        required=False,
        help_text="Buy, instead of sourceAmountEur: the exact USDC to receive.",
    )
    sourceUtilaWalletId = UUIDStringField(required=False, help_text="Sell: the wallet.")
    destinationFrAccountId = UUIDStringField(
        required=False, help_text="Sell: the receiving EUR account."
    )
    sourceAmountUsdc = MoneyField(money.USDC, required=False, help_text='Sell: e.g. "100.000000".')
    destinationAmountEur = MoneyField(
        money.EUR,
        required=False,
        help_text="Sell, instead of sourceAmountUsdc: the exact EUR to receive.",
    )
    sourceAmount = AnyAmountField(
        required=False, help_text="(extension) the source amount, for any pair."
    )
    destinationAmount = AnyAmountField(
        required=False, help_text="(extension) the exact destination amount, for any pair."
    )

    def validate(self, attrs):
        spec = QUOTE_SIDES[attrs["side"]]
        errors = {
            name: ["This field is required."] for name in spec["resources"] if name not in attrs
        }
        given = {
            fixed: [name for name in (spec[fixed], f"{fixed}Amount") if name in attrs]
            for fixed in ("source", "destination")
        }
        named = given["source"] + given["destination"]
        if len(named) != 1:
            message = (
                f"Send exactly one amount: {spec['source']} or {spec['destination']}."
                if named
                else f"Send {spec['source']} (or {spec['destination']} to fix what you receive)."
            )
            for name in named or [spec["source"]]:
                errors[name] = [message]
        if errors:
            raise serializers.ValidationError(errors)
        fixed_side = "source" if given["source"] else "destination"
        name = named[0]
        amount = attrs[name]
        currency = _pair_currency(attrs["pair"], attrs["side"], fixed_side)
        if currency is not None and name in ("sourceAmount", "destinationAmount"):
            try:
                money.parse_amount(f"{amount:f}".rstrip("0").rstrip("."), currency)
            except money.AmountError as exc:
                raise serializers.ValidationError({name: [str(exc)]}) from None
            except KeyError:
                pass  # an unknown asset: the service refuses the pair (CURRENCY_PAIR_NOT_ENABLED)
        attrs["fixed_side"], attrs["amount"] = fixed_side, amount
        return attrs


def _pair_currency(pair_code: str, side: str, fixed_side: str) -> str | None:
    """The currency of the fixed amount, read off the pair's code (``BASE/QUOTE``)."""
    base, _, quote = pair_code.upper().partition("/")
    if not quote:
        return None
    source, destination = (base, quote) if side == Side.BUY else (quote, base)
    return source if fixed_side == "source" else destination


class ConfirmInput(StrictInput):
    side = ChoiceField(choices=Side.values, default=Side.BUY)
    maxSlippageBps = serializers.IntegerField(
        min_value=0,
        max_value=1000,
        default=100,
        help_text="(extension) How much worse than quoted, in bps, you accept at approval; "
        "beyond it the order waits for your consent (price_review).",
    )
    quoteId = UUIDStringField()


@extend_schema_field({"type": "string", "pattern": r"^\d+(\.\d+)?$", "example": "1.074600"})
class RateField(serializers.Field):
    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError('Send the rate as a decimal string, e.g. "1.074600".')
        try:
            value = Decimal(data)
        except ArithmeticError:
            raise serializers.ValidationError("Not a decimal number.") from None
        if not value.is_finite() or value <= 0:
            raise serializers.ValidationError("Must be a positive decimal.")
        return value


class AcceptPriceInput(StrictInput):
    rate = RateField(help_text="The review's rate, copied as is.")
    destinationAmount = AnyAmountField(help_text="The review's destinationAmount, copied as is.")


class OrderListQuery(PageQuery):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)
    status = ChoiceField(choices=Status.values, required=False)
    side = ChoiceField(choices=Side.values, required=False)

    def validate(self, attrs):
        # A parameter sent empty (``?page=``) is not a positive integer or a known value; DRF
        # would quietly fall back to the default.
        blank = {
            name: ["This field may not be blank."]
            for name in self.fields
            if name in self.initial_data and not str(self.initial_data.get(name, "")).strip()
        }
        if blank:
            raise serializers.ValidationError(blank)
        return attrs


class TokenInput(StrictInput):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=256, trim_whitespace=False)


# --- outputs ----------------------------------------------------------------------------------


class AccountOutput(serializers.Serializer):
    id = serializers.UUIDField()
    currency = serializers.CharField()
    isMaster = serializers.BooleanField(source="is_master")
    label = serializers.CharField()
    balance = serializers.SerializerMethodField()

    def get_balance(self, account) -> str:
        return money.format_amount(account.ledger_account.balance, account.currency)


class WalletOutput(serializers.Serializer):
    id = serializers.UUIDField()
    label = serializers.CharField()
    network = serializers.CharField()
    usdcAddress = serializers.CharField(source="usdc_address")


class WalletBalanceOutput(serializers.Serializer):
    walletId = serializers.UUIDField()
    network = serializers.CharField()
    usdcBalance = serializers.CharField(
        help_text="The custodian's live balance: all the wallet holds on chain (6 decimals)."
    )
    available = serializers.CharField(
        help_text="(extension) What a new sell can use: usdcBalance less held (6 decimals)."
    )
    held = serializers.CharField(
        help_text="(extension) Reserved by confirmed sells until they settle or end (6 decimals)."
    )


class FeeLineOutput(serializers.Serializer):
    type = serializers.ChoiceField(
        choices=[
            "platform_fixed",
            "platform_percentage",
            "client_fixed",
            "client_percentage",
            "network",
            "fx_markup",
            "client_fx_markup",
            "off_hours",
        ]
    )
    description = serializers.CharField()
    amount = serializers.CharField(
        required=False, help_text="Fixed, percentage and network fees: in fees.currency."
    )
    bps = serializers.IntegerField(
        required=False, help_text="Percentage fees and FX markups: basis points."
    )


class FeesOutput(serializers.Serializer):
    currency = serializers.CharField(help_text="The source currency: fees come off the source.")
    total = serializers.CharField(help_text="Sum of the amount lines.")
    lines = FeeLineOutput(many=True)


class LimitsOutput(serializers.Serializer):
    dailyMax = serializers.CharField(help_text="EUR equivalent per day (desk time zone).")
    dailyUsed = serializers.CharField()
    dailyRemaining = serializers.CharField()


class RejectionOutput(serializers.Serializer):
    code = serializers.ChoiceField(
        choices=[
            "KYC_REQUIRED",
            "LIMIT_EXCEEDED",
            "PRICE_UNAVAILABLE",
            "COMPLIANCE_REVIEW",
            "DUPLICATE",
            "OTHER",
        ]
    )
    message = serializers.CharField()
    remediation = serializers.CharField(help_text="What you can do about it.")


class ReviewOutput(serializers.Serializer):
    orderId = serializers.UUIDField()
    previousRate = serializers.CharField()
    previousDestinationAmount = serializers.CharField()
    referenceRate = serializers.CharField()
    rate = serializers.CharField(help_text="Firm until expiresAt.")
    sourceAmount = serializers.CharField()
    sourceCurrency = serializers.CharField()
    destinationAmount = serializers.CharField()
    destinationCurrency = serializers.CharField()
    fees = FeesOutput()
    maxSlippageBps = serializers.IntegerField()
    expiresAt = serializers.DateTimeField()


class QuoteOutput(serializers.Serializer):
    """Documentation shape of a quote (buy shows ``sourceAmountEur``, sell
    ``sourceAmountUsdc``)."""

    quoteId = serializers.UUIDField(help_text="The order id: pass it to confirm.")
    side = serializers.ChoiceField(choices=Side.values, help_text="extension")
    pair = serializers.CharField(help_text='(extension) e.g. "EUR/USDC".')
    status = serializers.CharField(help_text="(extension) quoted or requoted")
    fixedSide = serializers.ChoiceField(
        choices=["source", "destination"], help_text="Which amount the customer fixed."
    )
    referenceRate = serializers.CharField(help_text="The market mid, destination per source.")
    rate = serializers.CharField(
        help_text="Indicative: destination units per source unit, after FX markups."
    )
    sourceAmount = serializers.CharField(help_text="Rounded up when computed.")
    destinationAmount = serializers.CharField(help_text="Rounded down when computed.")
    sourceAmountEur = serializers.CharField(required=False, help_text="Buy only.")
    sourceAmountUsdc = serializers.CharField(required=False, help_text="Sell only.")
    destinationAmountUsdc = serializers.CharField(
        required=False, help_text="Buy with a fixed destination."
    )
    destinationAmountEur = serializers.CharField(
        required=False, help_text="Sell with a fixed destination."
    )
    fees = FeesOutput()
    sourceCurrency = serializers.CharField()
    destinationCurrency = serializers.CharField()
    ttlExpiresAt = serializers.DateTimeField()
    ttlSeconds = serializers.IntegerField()
    indicative = serializers.BooleanField()


class OrderOutput(serializers.Serializer):
    """Documentation shape of an order."""

    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Status.values)
    side = serializers.ChoiceField(choices=Side.values)
    sourceCurrency = serializers.CharField()
    sourceAmount = serializers.CharField()
    destinationCurrency = serializers.CharField()
    destinationAmount = serializers.CharField(help_text="Final once approved, else indicative.")
    rate = serializers.CharField(help_text="Final once approved, else indicative.")
    pair = serializers.CharField()
    fixedSide = serializers.ChoiceField(choices=["source", "destination"])
    referenceRate = serializers.CharField(help_text="The mid the rate came from.")
    fees = FeesOutput()
    indicativeRate = serializers.CharField()
    indicativeDestinationAmount = serializers.CharField()
    rateFinal = serializers.BooleanField(help_text="True once the operator fixed the rate.")
    sourceFrAccountId = serializers.UUIDField(required=False, help_text="Buy only.")
    destinationUtilaWalletId = serializers.UUIDField(required=False, help_text="Buy only.")
    sourceUtilaWalletId = serializers.UUIDField(required=False, help_text="Sell only.")
    destinationFrAccountId = serializers.UUIDField(required=False, help_text="Sell only.")
    ttlExpiresAt = serializers.DateTimeField()
    createdAt = serializers.DateTimeField()
    updatedAt = serializers.DateTimeField()
    confirmedAt = serializers.DateTimeField(allow_null=True)
    approvedAt = serializers.DateTimeField(allow_null=True)
    completedAt = serializers.DateTimeField(allow_null=True)
    rejectionReason = serializers.CharField(allow_null=True)
    rejection = RejectionOutput(allow_null=True)
    cancellationCode = serializers.CharField(
        allow_null=True, help_text="APPROVAL_DEADLINE_PASSED, REVIEW_EXPIRED, ..."
    )
    failureReason = serializers.CharField(allow_null=True)
    maxSlippageBps = serializers.IntegerField()
    approvalDeadlineAt = serializers.DateTimeField(allow_null=True)
    reviewExpiresAt = serializers.DateTimeField(allow_null=True)
    limits = LimitsOutput(required=False)
    sourceTransactionId = serializers.UUIDField(
        allow_null=True,
        help_text="The ledger entry that took the source from the customer (a buy's debit at "
        "confirm, a sell's collect at settlement); null until it exists.",
    )
    destinationTransactionId = serializers.UUIDField(
        allow_null=True,
        help_text="The ledger entry that delivered the destination; null until delivery.",
    )


class PairSideOutput(serializers.Serializer):
    sourceCurrency = serializers.CharField()
    destinationCurrency = serializers.CharField()
    minAmount = serializers.CharField(help_text="In the side's source currency.")
    maxAmount = serializers.CharField()


class PairSidesOutput(serializers.Serializer):
    buy = PairSideOutput()
    sell = PairSideOutput()


class PairNetworkOutput(serializers.Serializer):
    network = serializers.CharField()
    networkFee = serializers.CharField(help_text="In the pair's base currency.")


class PairFeesOutput(serializers.Serializer):
    currency = serializers.CharField(help_text="Fixed fees are stated in this (base) currency.")
    platformFixedFee = serializers.CharField()
    platformPercentageBps = serializers.IntegerField()
    platformFxMarkupBps = serializers.IntegerField()
    clientFixedFee = serializers.CharField()
    clientPercentageBps = serializers.IntegerField()
    clientFxMarkupBps = serializers.IntegerField()


class HolidayOutput(serializers.Serializer):
    date = serializers.DateField()
    name = serializers.CharField()


class OffHoursOutput(serializers.Serializer):
    timezone = serializers.CharField()
    windows = serializers.ListField(
        child=serializers.CharField(), help_text='"fri 20:00-mon 08:00"'
    )
    holidayCalendar = serializers.CharField(allow_null=True, help_text="XECB: TARGET2.")
    holidays = HolidayOutput(many=True, help_text="The next 90 days' closing days.")
    penaltyBps = serializers.IntegerField(help_text="FX markup added off-hours.")


class PairOutput(serializers.Serializer):
    pair = serializers.CharField()
    baseCurrency = serializers.CharField()
    quoteCurrency = serializers.CharField()
    enabled = serializers.BooleanField()
    sides = PairSidesOutput()
    networks = PairNetworkOutput(many=True)
    fees = PairFeesOutput()
    offHours = OffHoursOutput()


class OrderStatusOutput(serializers.Serializer):
    orderId = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Status.values)


class TokenOutput(serializers.Serializer):
    accessToken = serializers.CharField()
    tokenType = serializers.CharField()
    expiresAt = serializers.DateTimeField()


class PaginationMeta(serializers.Serializer):
    page = serializers.IntegerField()
    limit = serializers.IntegerField()
    total = serializers.IntegerField()


class ErrorBody(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(required=False)


class ErrorOutput(serializers.Serializer):
    error = ErrorBody()
