"""Admin for customers, their users and keys, fiat accounts and the ledger.

Money records are read-only here: balances move only through the ledger's services, and
journal entries and postings are immutable. Supervisors edit customers' limits here and their
fee schedules in otc.admin.
"""

from django.contrib import admin, messages

from .models import (
    ApiKey,
    Customer,
    CustomerMembership,
    FiatAccount,
    JournalEntry,
    LedgerAccount,
    Posting,
)
from .services import api_key_revoke


class ReadOnlyAdmin(admin.ModelAdmin):
    """Viewable by anyone with the view permission; nobody adds, changes or deletes."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = CustomerMembership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(Customer)
class CustomerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "slug",
        "kyc_status",
        "daily_limit_eur",
        "min_order_eur",
        "max_order_eur",
        "min_order_usdc",
        "max_order_usdc",
        "is_desk",
    )
    list_filter = ("kyc_status", "is_desk")
    search_fields = ("name", "slug", "id")
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_desk", "created_at")}),
        # Changes here are on the admin's own history of the customer (LogEntry).
        ("KYC", {"fields": ("kyc_status",)}),
        (
            "Pricing and limits",
            {
                "fields": (
                    ("min_order_eur", "max_order_eur"),
                    ("min_order_usdc", "max_order_usdc"),
                    "daily_limit_eur",
                )
            },
        ),
    )
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # The desk flag and a customer's slug (used in URLs and keys) are set once.
        return ("created_at", "is_desk", "slug") if obj else ("created_at", "is_desk")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomerMembership)
class CustomerMembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "customer")
    list_select_related = ("user", "customer")
    search_fields = ("user__username", "customer__name", "customer__slug")
    raw_id_fields = ("user",)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Keys by prefix only: the secret was shown once at creation and only its hash is kept
    (not shown either). Keys are minted by the ``create_api_key`` command or the portal."""

    list_display = (
        "masked",
        "customer",
        "name",
        "scope_list",
        "is_live",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("is_live", ("revoked_at", admin.EmptyFieldListFilter), "customer")
    list_select_related = ("customer",)
    search_fields = ("prefix", "name", "customer__name", "customer__slug")
    fields = (
        "masked",
        "customer",
        "name",
        "scope_list",
        "is_live",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    readonly_fields = (
        "masked",
        "customer",
        "scope_list",
        "is_live",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke_keys"]

    @admin.display(description="key", ordering="prefix")
    def masked(self, key: ApiKey) -> str:
        return f"{key.prefix}…"

    @admin.display(description="scopes")
    def scope_list(self, key: ApiKey) -> str:
        return ", ".join(key.scopes)

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request, queryset) -> None:
        for key in queryset:
            api_key_revoke(key=key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FiatAccount)
class FiatAccountAdmin(admin.ModelAdmin):
    """Accounts are opened through ``fiat_account_create`` (which gives each its ledger
    account); here only the label and whether it is active can change."""

    list_display = (
        "label",
        "customer",
        "currency",
        "balance",
        "is_master",
        "is_active",
        "is_treasury",
    )
    list_filter = ("currency", "is_active", "is_treasury", "customer")
    list_select_related = ("customer", "ledger_account")
    search_fields = ("label", "id", "customer__name", "customer__slug")
    fields = (
        "id",
        "customer",
        "label",
        "currency",
        "balance",
        "is_master",
        "is_active",
        "is_treasury",
        "ledger_account",
        "created_at",
    )
    readonly_fields = (
        "id",
        "customer",
        "currency",
        "balance",
        "is_master",
        "is_treasury",
        "ledger_account",
        "created_at",
    )

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("code", "currency", "kind", "balance", "allow_negative")
    list_filter = ("currency", "kind")
    search_fields = ("code", "id")


class PostingInline(admin.TabularInline):
    model = Posting
    extra = 0
    fields = readonly_fields = ("ledger_account", "currency", "amount")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "kind", "description", "reference_id")
    list_filter = ("kind",)
    search_fields = ("description", "=reference_id", "=id")
    date_hierarchy = "created_at"
    inlines = [PostingInline]


@admin.register(Posting)
class PostingAdmin(ReadOnlyAdmin):
    list_display = ("entry", "ledger_account", "currency", "amount")
    list_filter = ("currency",)
    list_select_related = ("entry", "ledger_account")
    search_fields = ("ledger_account__code", "=entry__reference_id")
