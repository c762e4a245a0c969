import uuid

from django.db import transaction

from accounts import money
from accounts.models import Customer, LedgerAccount
from accounts.services import ledger_account_create

from .models import Wallet, WalletHolding


def wallet_create(
    *,
    customer: Customer,
    label: str,
    network: str,
    usdc_address: str = "",
    is_treasury: bool = False,
    provider_reference: str = "",
) -> Wallet:
    """Open a custodial wallet; its USDC address is validated for its network."""
    with transaction.atomic():
        wallet_id = uuid.uuid4()
        ledger_account = ledger_account_create(
            code=f"wallet:{wallet_id}",
            currency=money.USDC,
            kind=LedgerAccount.Kind.TREASURY if is_treasury else LedgerAccount.Kind.CUSTOMER,
        )
        wallet = Wallet(
            id=wallet_id,
            customer=customer,
            label=label,
            network=network,
            usdc_address=usdc_address,
            is_treasury=is_treasury,
            ledger_account=ledger_account,
            provider_reference=provider_reference or f"simchain_w_{wallet_id.hex[:12]}",
        )
        wallet.full_clean()
        wallet.save()
    return wallet


def wallet_holding_account(wallet: Wallet, asset_code: str) -> LedgerAccount:
    """The ledger account of what ``wallet`` holds of ``asset_code``. USDC is the wallet's own
    account; another token of the network gets its holding (and ledger account) on first use."""
    if asset_code == money.USDC:
        return wallet.ledger_account
    holding = (
        WalletHolding.objects.select_related("ledger_account__hold_account")
        .filter(wallet=wallet, asset_id=asset_code)
        .first()
    )
    if holding is not None:
        return holding.ledger_account
    with transaction.atomic():
        ledger_account = ledger_account_create(
            code=f"wallet:{wallet.pk}:{asset_code}",
            currency=asset_code,
            kind=wallet.ledger_account.kind,
        )
        WalletHolding.objects.create(
            wallet=wallet, asset_id=asset_code, ledger_account=ledger_account
        )
    return ledger_account
