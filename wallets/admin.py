from django.contrib import admin

from accounts.ledger import held_balance

from .models import Wallet


@admin.register(Wallet)
class WalletAdmin(admin.ModelAdmin):
    """Wallets are opened through ``wallet_create`` (with their ledger account); here only the
    label can change. The balance shown is the desk's book, not a custody call."""

    list_display = (
        "label",
        "customer",
        "network",
        "usdc_address",
        "balance",
        "held",
        "is_treasury",
    )
    list_filter = ("network", "is_treasury", "customer")
    list_select_related = ("customer", "ledger_account__hold_account")
    search_fields = ("label", "usdc_address", "id", "customer__name", "customer__slug")
    fields = (
        "id",
        "customer",
        "label",
        "network",
        "usdc_address",
        "balance",
        "held",
        "is_treasury",
        "ledger_account",
        "created_at",
    )
    readonly_fields = (
        "id",
        "customer",
        "network",
        "usdc_address",
        "balance",
        "held",
        "is_treasury",
        "ledger_account",
        "created_at",
    )

    @admin.display(description="available (USDC)")
    def balance(self, wallet: Wallet):
        return wallet.ledger_account.balance

    @admin.display(description="held by sells (USDC)")
    def held(self, wallet: Wallet):
        return held_balance(wallet.ledger_account)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
