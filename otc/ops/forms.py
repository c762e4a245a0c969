import uuid
from decimal import Decimal

import django_filters
from django import forms
from django.db.models import Q

from accounts.models import Customer
from otc.models import Kind, Order, Side, Status


def _customers():
    return Customer.objects.filter(is_desk=False).order_by("name")


class QueueFilterForm(forms.Form):
    side = forms.ChoiceField(choices=[("", "Any side"), *Side.choices], required=False)
    customer = forms.ModelChoiceField(
        queryset=Customer.objects.none(), required=False, empty_label="Any customer"
    )
    mine = forms.BooleanField(required=False, label="Awaiting my approval only")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["customer"].queryset = _customers()


class ApproveForm(forms.Form):
    """What the operator was shown; the server prices again and compares."""

    shown_rate = forms.DecimalField(max_digits=20, decimal_places=6, min_value=Decimal("0.000001"))


def rejection_code_choices() -> list[tuple[str, str]]:
    from otc.services import REJECTION_CODES

    return [
        ("", "Choose a reason code"),
        *[(code, code.replace("_", " ").title()) for code in REJECTION_CODES],
    ]


class RejectForm(forms.Form):
    code = forms.ChoiceField(
        choices=rejection_code_choices,
        help_text="The customer sees the code with what they can do about it.",
        error_messages={"required": "Pick a reason code."},
    )
    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Shown to the customer on the order.",
        error_messages={"required": "A rejection needs a reason."},
    )

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("A rejection needs a reason.")
        return reason


class OrderFilter(django_filters.FilterSet):
    """The order search: id or customer, status, side, customer and creation date range."""

    q = django_filters.CharFilter(method="filter_q", label="Order id or customer")
    kind = django_filters.ChoiceFilter(
        choices=Kind.choices, empty_label="OTC orders and market exchanges", label="Kind"
    )
    status = django_filters.ChoiceFilter(choices=Status.choices, empty_label="Any status")
    side = django_filters.ChoiceFilter(choices=Side.choices, empty_label="Any side")
    customer = django_filters.ModelChoiceFilter(
        queryset=lambda request: _customers(), empty_label="Any customer"
    )
    created_from = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__gte", label="Created from"
    )
    created_to = django_filters.DateFilter(
        field_name="created_at", lookup_expr="date__lte", label="Created to"
    )

    class Meta:
        model = Order
        fields = ["q", "kind", "status", "side", "customer", "created_from", "created_to"]

    def filter_q(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        text = Q(customer__name__icontains=value) | Q(customer__slug__icontains=value)
        try:
            return queryset.filter(id=uuid.UUID(value))
        except ValueError:
            pass
        # A leading part of an order id (as shown in lists), or a customer's name.
        if all(c in "0123456789abcdef-" for c in value.lower()):
            return queryset.filter(text | Q(id__istartswith=value.lower()))
        return queryset.filter(text)
