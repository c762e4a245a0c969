from django.db.models import QuerySet

from accounts.models import Customer

from .models import Wallet


def eligible_wallets(customer: Customer) -> QuerySet[Wallet]:
    """The customer's non-treasury wallets with a USDC address: a buy's destination, a sell's
    source."""
    return Wallet.objects.filter(customer=customer, is_treasury=False).exclude(usdc_address="")


def treasury_wallet(network: str | None = None) -> Wallet:
    """The desk's treasury wallet, preferring one on ``network``."""
    wallets = Wallet.objects.filter(is_treasury=True).select_related("ledger_account")
    if network:
        same = wallets.filter(network=network).first()
        if same:
            return same
    return wallets.order_by("created_at").first() or wallets.get()
