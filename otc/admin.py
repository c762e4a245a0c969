"""Admin for orders and their records. Orders are read-only: their two operator decisions are
offered as django-fsm's admin transition buttons and as list actions, and both run the same
services as the operator console (row lock, ledger, log, four-eyes) instead of django-fsm's
default transition-and-save."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django_fsm.admin import FSMAdminMixin

from accounts import money
from accounts.errors import DomainError

from . import services
from .models import (
    AuditEntry,
    Channel,
    CustomerFeeSchedule,
    IdempotencyRecord,
    Kind,
    MarketExchange,
    Order,
    OrderApproval,
    OrderFee,
    OrderTransition,
    Pair,
    ProviderTransfer,
    Status,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """An order's records beside it: shown, never added, changed or deleted here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderTransitionInline(ReadOnlyInline):
    model = OrderTransition
    fields = readonly_fields = (
        "created_at",
        "from_status",
        "to_status",
        "actor",
        "channel",
        "reason",
    )


class OrderApprovalInline(ReadOnlyInline):
    model = OrderApproval
    fields = readonly_fields = ("created_at", "actor", "channel", "rate")


class OrderFeeInline(ReadOnlyInline):
    model = OrderFee
    fields = readonly_fields = ("position", "type", "description", "amount", "bps")


class RejectForm(forms.Form):
    code = forms.ChoiceField(
        choices=[("", "Choose a reason code"), *[(c, c) for c in services.REJECTION_CODES]],
        help_text="The customer sees the code with what they can do about it.",
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        max_length=1000,
        help_text="Shown to the customer on the order.",
    )


@admin.register(Order)
class OrderAdmin(FSMAdminMixin, ReadOnlyAdmin):
    """Orders are read-only. Operators with ``otc.approve_order`` see django-fsm's transition
    buttons (approve, reject) on an order's page and the same two actions on the list; both
    run the services, never a bare transition-and-save."""

    fsm_fields = ["status"]
    fsm_forms = {"reject": "otc.admin.RejectForm"}
    ADMIN_TRANSITIONS = frozenset({"approve", "reject"})
    list_display = (
        "id",
        "customer",
        "side",
        "status",
        "source",
        "destination",
        "rate_display",
        "created_at",
    )
    list_filter = ("status", "side", "customer", "created_at")
    search_fields = ("=id", "customer__name", "customer__slug")
    list_select_related = ("customer",)
    date_hierarchy = "created_at"
    inlines = [OrderApprovalInline, OrderFeeInline, OrderTransitionInline]
    actions = ["approve_orders", "reject_orders"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_queryset(self, request):
        # Market exchanges have their own page (``MarketExchangeAdmin``): no operator decides.
        return super().get_queryset(request).filter(kind=Kind.OTC)

    # --- django-fsm's admin integration, executed by the services ---------------------------

    def has_change_permission(self, request, obj=None) -> bool:
        # Only so the transition buttons can post; every field stays read-only.
        return request.user.has_perm("otc.approve_order")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "POST":
            # Nothing on the page is editable: a POST is a transition button, handed straight
            # to django-fsm's handler (which calls _apply_fsm_transition below).
            order = self.get_object(request, object_id)
            if (
                self.fsm_post_param not in request.POST
                or order is None
                or not self.has_change_permission(request, order)
            ):
                raise PermissionDenied("Orders are read-only; use an approve or reject button.")
            return self.response_change(request, order)
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "show_delete": False,
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change) -> None:
        """Nothing on an order is edited here; a decision is taken in ``_apply_fsm_transition``."""

    def save_related(self, request, form, formsets, change) -> None:
        pass

    def is_fsm_transition_visible(self, transition) -> bool:
        return transition.name in self.ADMIN_TRANSITIONS

    def _apply_fsm_transition(self, *, obj, transition_name, request, kwargs=None) -> bool:
        actor = self._actor(request)
        try:
            if transition_name == "approve":
                order = services.order_approve(order_id=obj.pk, actor=actor)
            elif transition_name == "reject":
                order = services.order_reject(
                    order_id=obj.pk,
                    actor=actor,
                    reason=(kwargs or {}).get("reason", ""),
                    code=(kwargs or {}).get("code") or "",
                )
            else:
                raise PermissionDenied(f"{transition_name} is not an operator decision.")
        except DomainError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return False
        if order.status == Status.PENDING_APPROVAL:
            message = "First approval recorded; a second operator must approve."
        elif order.status == Status.REJECTED:
            message = "Rejected; the customer sees the reason."
        elif order.status == Status.PRICE_REVIEW:
            message = "Beyond the customer's slippage limit: sent to price review, nothing moved."
        else:
            message = f"Approved at {money.format_rate(order.final_rate)}."
        self.message_user(request, message, messages.SUCCESS)
        return True

    @admin.display(description="source")
    def source(self, order: Order) -> str:
        amount = money.format_amount(order.source_amount, order.source_currency)
        return f"{amount} {order.source_currency}"

    @admin.display(description="destination")
    def destination(self, order: Order) -> str:
        amount = money.format_amount(order.destination_amount, order.destination_currency)
        return f"{amount} {order.destination_currency}"

    @admin.display(description="rate")
    def rate_display(self, order: Order) -> str:
        return money.format_rate(order.rate)

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm("otc.approve_order")

    def _actor(self, request) -> services.Actor:
        return services.Actor.for_user(request.user, Channel.ADMIN)

    @admin.action(description="Approve selected orders at the live rate", permissions=["decide"])
    def approve_orders(self, request, queryset) -> None:
        for order_id in queryset.values_list("pk", flat=True):
            try:
                order = services.order_approve(order_id=order_id, actor=self._actor(request))
            except DomainError as exc:
                self.message_user(request, f"{order_id}: {exc.message}", messages.ERROR)
                continue
            if order.status == Status.PENDING_APPROVAL:
                self.message_user(
                    request,
                    f"{order_id}: first approval recorded; a second operator must approve.",
                    messages.INFO,
                )
            elif order.status == Status.PRICE_REVIEW:
                self.message_user(
                    request,
                    f"{order_id}: beyond the customer's slippage limit; sent to price review.",
                    messages.WARNING,
                )
            else:
                self.message_user(
                    request,
                    f"{order_id}: approved at {money.format_rate(order.final_rate)}.",
                    messages.SUCCESS,
                )

    @admin.action(description="Reject selected orders (with a reason)", permissions=["decide"])
    def reject_orders(self, request, queryset):
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            for order_id in queryset.values_list("pk", flat=True):
                try:
                    services.order_reject(
                        order_id=order_id,
                        actor=self._actor(request),
                        reason=form.cleaned_data["reason"],
                        code=form.cleaned_data["code"],
                    )
                except DomainError as exc:
                    self.message_user(request, f"{order_id}: {exc.message}", messages.ERROR)
                else:
                    self.message_user(request, f"{order_id}: rejected.", messages.SUCCESS)
            return None
        return TemplateResponse(
            request,
            "ops/admin_reject.html",
            {
                **self.admin_site.each_context(request),
                "title": "Reject orders",
                "opts": self.model._meta,
                "orders": queryset.select_related("customer"),
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )


@admin.register(OrderTransition)
class OrderTransitionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order", "from_status", "to_status", "actor", "channel")
    list_filter = ("channel", "to_status")
    list_select_related = ("order",)
    search_fields = ("=order__id", "actor", "reason")


@admin.register(OrderApproval)
class OrderApprovalAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "order", "actor", "channel", "rate")
    list_filter = ("channel",)
    search_fields = ("=order__id", "actor")


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("customer", "key", "status_code", "created_at")
    list_filter = ("status_code",)
    search_fields = ("=key", "customer__slug")
    fields = readonly_fields = ("customer", "key", "fingerprint", "status_code", "created_at")


@admin.register(Pair)
class PairAdmin(admin.ModelAdmin):
    """The desk's pairs and platform fee schedule. Supervisors change them; every change is on
    the admin's own log (History)."""

    list_display = (
        "code",
        "enabled",
        "feed_symbol",
        "platform_fixed_fee",
        "platform_percentage_bps",
        "platform_fx_markup_bps",
        "off_hours_penalty_bps",
    )
    fieldsets = (
        (None, {"fields": ("code", "base_asset", "quote_asset", "enabled", "feed_symbol")}),
        (
            "Limits per order (source currency)",
            {"fields": (("buy_min", "buy_max"), ("sell_min", "sell_max"))},
        ),
        (
            "Platform fees (fixed and network fees in the base asset)",
            {
                "fields": (
                    "platform_fixed_fee",
                    "platform_percentage_bps",
                    "platform_fx_markup_bps",
                    "off_hours_penalty_bps",
                    "network_fees",
                )
            },
        ),
    )

    def get_readonly_fields(self, request, obj=None):
        # A pair's identity is fixed once orders may point at it.
        return ("code", "base_asset", "quote_asset") if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CustomerFeeSchedule)
class CustomerFeeScheduleAdmin(admin.ModelAdmin):
    """A customer's own markup on a pair (on top of the platform's), edited by supervisors;
    the admin's log (History) is its audit trail."""

    list_display = (
        "customer",
        "pair",
        "fixed_fee",
        "percentage_bps",
        "fx_markup_bps",
        "updated_at",
    )
    list_filter = ("pair",)
    list_select_related = ("customer", "pair")
    search_fields = ("customer__name", "customer__slug")
    autocomplete_fields = ("customer",)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a schedule is set back to zero, never deleted: the history stays


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "subject", "actor", "channel")
    list_filter = ("action", "channel")
    search_fields = ("subject", "actor")
    fields = readonly_fields = ("created_at", "action", "subject", "details", "actor", "channel")


class ProviderTransferInline(ReadOnlyInline):
    model = ProviderTransfer
    fields = readonly_fields = (
        "step",
        "provider",
        "asset",
        "amount",
        "state",
        "journal_entry",
        "provider_reference",
        "settled_at",
    )


@admin.register(MarketExchange)
class MarketExchangeAdmin(ReadOnlyAdmin):
    """Market exchanges (``/exchanges``): read-only. They execute at once when the customer
    accepts, so there is nothing to decide; the page shows the price lines, the provider
    steps that followed the ledger entries, and the timeline (a failure with its reason)."""

    list_display = (
        "id",
        "customer",
        "side",
        "fixed_side",
        "status",
        "failure_code",
        "source_amount",
        "source_currency",
        "destination_currency",
        "created_at",
    )
    list_filter = ("status", "side", "fixed_side", "failure_code", "created_at")
    search_fields = ("=id", "customer__name", "customer__slug")
    list_select_related = ("customer",)
    date_hierarchy = "created_at"
    inlines = [OrderFeeInline, ProviderTransferInline, OrderTransitionInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]
