from django.db.models import QuerySet

from . import money
from .compiled import CompiledQuery
from .models import Customer, FiatAccount


def eligible_fiat_accounts(customer: Customer) -> QuerySet[FiatAccount]:
    """The customer's active EUR accounts: a buy's source, a sell's destination."""
    return FiatAccount.objects.filter(
        customer=customer, currency=money.EUR, is_active=True, is_treasury=False
    ).select_related("ledger_account")


# The treasury account of a currency with its ledger account (settlement reads it for every
# debit), compiled once.
_TREASURY_FIAT_ACCOUNT = CompiledQuery(
    lambda currency: FiatAccount.objects.select_related("ledger_account").filter(
        is_treasury=True, currency=currency
    ),
    currency="placeholder-currency",
)


def treasury_fiat_account(currency: str = money.EUR) -> FiatAccount:
    found = _TREASURY_FIAT_ACCOUNT.all(currency=currency)
    if len(found) != 1:
        # As ``get`` would: none, or several (a misconfigured desk), is an error.
        return FiatAccount.objects.select_related("ledger_account").get(
            is_treasury=True, currency=currency
        )
    return found[0]
