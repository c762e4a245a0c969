from django.contrib import admin

from .models import IdempotencyRecord, Order, OrderTransition


class OrderTransitionInline(admin.TabularInline):
    model = OrderTransition
    extra = 0
    can_delete = False
    readonly_fields = ("created_at", "from_status", "to_status", "actor", "channel", "reason")
    fields = readonly_fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "customer",
        "side",
        "status",
        "source_amount",
        "source_currency",
        "created_at",
    )
    list_filter = ("status", "side", "customer")
    search_fields = ("id", "customer__name", "customer__slug")
    list_select_related = ("customer",)
    inlines = [OrderTransitionInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(admin.ModelAdmin):
    list_display = ("customer", "key", "status_code", "created_at")
    readonly_fields = ("customer", "key", "fingerprint", "status_code", "created_at")
    exclude = ("response_body",)
