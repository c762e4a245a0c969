from django.db.models import QuerySet

from . import money
from .models import Customer, FiatAccount


def eligible_fiat_accounts(customer: Customer) -> QuerySet[FiatAccount]:
    """The customer's active EUR accounts: a buy's source, a sell's destination."""
    return FiatAccount.objects.filter(
        customer=customer, currency=money.EUR, is_active=True, is_treasury=False
    ).select_related("ledger_account")


def treasury_fiat_account(currency: str = money.EUR) -> FiatAccount:
    return FiatAccount.objects.select_related("ledger_account").get(
        is_treasury=True, currency=currency
    )
