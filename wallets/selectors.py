from collections.abc import Iterable
from decimal import Decimal

from django.db.models import QuerySet

from accounts.models import Customer, LedgerAccount

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


def wallet_held_balances(wallets: Iterable[Wallet]) -> dict[object, Decimal]:
    """What confirmed sells hold of each wallet's USDC (wallet id -> amount; 0 when none), in
    one query. The wallet's live balance less this is what a new sell can use."""
    by_account = {wallet.ledger_account_id: wallet.pk for wallet in wallets}
    held = dict.fromkeys(by_account.values(), Decimal(0))
    for account_id, balance in LedgerAccount.objects.filter(
        held_for_id__in=list(by_account)
    ).values_list("held_for_id", "balance"):
        held[by_account[account_id]] = balance
    return held


def available_after_holds(live_balance: Decimal, held: Decimal) -> Decimal:
    """What a new sell can use of a wallet: its live balance less what sells hold of it."""
    return max(Decimal(0), live_balance - held)
