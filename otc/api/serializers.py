"""Input parsing and output shapes of the customer API. Inputs only validate; outputs only
render. Business rules live in ``otc.services``."""

from datetime import datetime

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts import money
from otc.models import Order, Side, Status


def iso_ms(value: datetime | None) -> str | None:
    """``2026-05-30T00:01:00.000Z``: UTC, milliseconds, ``Z``."""
    if value is None:
        return None
    from datetime import UTC

    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


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


class QuoteInput(serializers.Serializer):
    side = serializers.ChoiceField(choices=Side.values, default=Side.BUY)
    sourceFrAccountId = UUIDStringField(required=False, help_text="Buy: the EUR account.")
    destinationUtilaWalletId = UUIDStringField(
        required=False, help_text="Buy: the receiving wallet."
    )
    sourceAmountEur = MoneyField(money.EUR, required=False, help_text='Buy: e.g. "100.00".')
    sourceUtilaWalletId = UUIDStringField(required=False, help_text="Sell: the wallet.")
    destinationFrAccountId = UUIDStringField(
        required=False, help_text="Sell: the receiving EUR account."
    )
    sourceAmountUsdc = MoneyField(money.USDC, required=False, help_text='Sell: e.g. "100.000000".')

    REQUIRED = {
        Side.BUY: ("sourceFrAccountId", "destinationUtilaWalletId", "sourceAmountEur"),
        Side.SELL: ("sourceUtilaWalletId", "destinationFrAccountId", "sourceAmountUsdc"),
    }

    def validate(self, attrs):
        missing = {
            name: ["This field is required."]
            for name in self.REQUIRED[attrs["side"]]
            if name not in attrs
        }
        if missing:
            raise serializers.ValidationError(missing)
        return attrs


class ConfirmInput(serializers.Serializer):
    side = serializers.ChoiceField(choices=Side.values, default=Side.BUY)
    quoteId = UUIDStringField()


class OrderListQuery(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=50)
    status = serializers.ChoiceField(choices=Status.values, required=False)
    side = serializers.ChoiceField(choices=Side.values, required=False)

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


class TokenInput(serializers.Serializer):
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
    usdcBalance = serializers.CharField(help_text="6 decimals.")


def quote_representation(order: Order) -> dict:
    source_key = "sourceAmountEur" if order.side == Side.BUY else "sourceAmountUsdc"
    return {
        "quoteId": str(order.pk),
        "side": order.side,
        "status": order.status,
        "rate": money.format_rate(order.indicative_rate),
        "destinationAmount": money.format_amount(
            order.indicative_destination_amount, order.destination_currency
        ),
        source_key: money.format_amount(order.source_amount, order.source_currency),
        "sourceCurrency": order.source_currency,
        "destinationCurrency": order.destination_currency,
        "ttlExpiresAt": iso_ms(order.ttl_expires_at),
        "ttlSeconds": settings.OTC_QUOTE_TTL_SECONDS,
        "indicative": True,
    }


class QuoteOutput(serializers.Serializer):
    """Documentation shape of a quote (buy shows ``sourceAmountEur``, sell
    ``sourceAmountUsdc``)."""

    quoteId = serializers.UUIDField(help_text="The order id: pass it to confirm.")
    side = serializers.ChoiceField(choices=Side.values, help_text="extension")
    status = serializers.CharField(help_text="(extension) quoted or requoted")
    rate = serializers.CharField(help_text="Indicative: destination units per source unit.")
    destinationAmount = serializers.CharField()
    sourceAmountEur = serializers.CharField(required=False, help_text="Buy only.")
    sourceAmountUsdc = serializers.CharField(required=False, help_text="Sell only.")
    sourceCurrency = serializers.CharField()
    destinationCurrency = serializers.CharField()
    ttlExpiresAt = serializers.DateTimeField()
    ttlSeconds = serializers.IntegerField()
    indicative = serializers.BooleanField()


def order_representation(order: Order) -> dict:
    resources = (
        {
            "sourceFrAccountId": str(order.fiat_account_id),
            "destinationUtilaWalletId": str(order.wallet_id),
        }
        if order.side == Side.BUY
        else {
            "sourceUtilaWalletId": str(order.wallet_id),
            "destinationFrAccountId": str(order.fiat_account_id),
        }
    )
    return {
        "id": str(order.pk),
        "status": order.status,
        "side": order.side,
        "sourceCurrency": order.source_currency,
        "sourceAmount": money.format_amount(order.source_amount, order.source_currency),
        "destinationCurrency": order.destination_currency,
        "destinationAmount": money.format_amount(
            order.destination_amount, order.destination_currency
        ),
        "rate": money.format_rate(order.rate),
        "indicativeRate": money.format_rate(order.indicative_rate),
        "indicativeDestinationAmount": money.format_amount(
            order.indicative_destination_amount, order.destination_currency
        ),
        "rateFinal": order.final_rate is not None,
        **resources,
        "ttlExpiresAt": iso_ms(order.ttl_expires_at),
        "createdAt": iso_ms(order.created_at),
        "updatedAt": iso_ms(order.updated_at),
        "confirmedAt": iso_ms(order.confirmed_at),
        "approvedAt": iso_ms(order.approved_at),
        "completedAt": iso_ms(order.completed_at),
        "rejectionReason": order.rejection_reason or None,
        "failureReason": order.failure_reason or None,
    }


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
    failureReason = serializers.CharField(allow_null=True)


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
