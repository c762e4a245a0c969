"""Operators' view of webhooks: failing endpoints across customers first, every delivery with
its attempts, and actions that go through the services (redeliver, re-enable)."""

from django.contrib import admin, messages
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html

from accounts.errors import DomainError

from . import services
from .models import Delivery, DeliveryAttempt, Event, WebhookEndpoint


class FailingFilter(admin.SimpleListFilter):
    title = "health"
    parameter_name = "health"

    def lookups(self, request, model_admin):
        return [
            ("failing", "Failing or disabled by failures"),
            ("disabled", "Disabled"),
            ("healthy", "Healthy"),
        ]

    def queryset(self, request, queryset):
        if self.value() == "failing":
            return queryset.filter(
                Q(consecutive_failures__gt=0)
                | Q(deliveries__status=Delivery.Status.PENDING, deliveries__attempt_count__gte=2)
            ).distinct()
        if self.value() == "disabled":
            return queryset.filter(enabled=False)
        if self.value() == "healthy":
            return queryset.filter(enabled=True, consecutive_failures=0)
        return queryset


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = (
        "url",
        "customer",
        "enabled",
        "consecutive_failures",
        "failing_since",
        "disabled_reason",
        "delivery_log",
        "created_at",
    )
    list_filter = (FailingFilter, "enabled", "customer")
    search_fields = ("url", "description", "customer__slug", "customer__name")
    list_select_related = ("customer",)
    ordering = ("enabled", "-consecutive_failures", "-created_at")
    exclude = ("secret", "previous_secret")
    readonly_fields = (
        "customer",
        "url",
        "events",
        "description",
        "enabled",
        "disabled_reason",
        "disabled_at",
        "consecutive_failures",
        "failing_since",
        "previous_secret_expires_at",
        "created_at",
        "updated_at",
    )
    actions = ["enable_endpoints"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="deliveries")
    def delivery_log(self, endpoint: WebhookEndpoint) -> str:
        url = reverse("admin:webhooks_delivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">log</a>', url, endpoint.pk)

    @admin.action(
        description="Re-enable the selected endpoints (resets the failure count)",
        permissions=["change"],
    )
    def enable_endpoints(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_update(endpoint=endpoint, enabled=True)
        messages.success(request, f"{queryset.count()} endpoint(s) enabled.")


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = (
        "number",
        "started_at",
        "status_code",
        "duration_ms",
        "succeeded",
        "error",
        "response_excerpt",
    )
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = (
        "event_type",
        "endpoint",
        "status",
        "attempt_count",
        "last_status_code",
        "last_error",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "endpoint__customer")
    search_fields = ("event__id", "endpoint__url", "endpoint__customer__slug")
    list_select_related = ("event", "endpoint")
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def lookup_allowed(self, lookup, value, request=None) -> bool:
        # One endpoint's log, linked from the endpoint list and the ops console:
        # /admin/webhooks/delivery/?endpoint__id__exact=<id>
        if lookup in ("endpoint__id__exact", "event__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)

    @admin.display(description="event")
    def event_type(self, delivery: Delivery) -> str:
        return delivery.event.type

    @admin.action(description="Redeliver the selected deliveries", permissions=["change"])
    def redeliver(self, request, queryset):
        done = 0
        for delivery in queryset.select_related("event", "endpoint"):
            try:
                services.delivery_redeliver(endpoint=delivery.endpoint, event=delivery.event)
                done += 1
            except DomainError as exc:
                messages.error(request, f"{delivery.endpoint.url}: {exc.message}")
        if done:
            messages.success(request, f"{done} redelivery(ies) queued.")


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("type", "customer", "order_id", "created_at")
    list_filter = ("type", "customer")
    search_fields = ("id", "order_id")
    date_hierarchy = "created_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
