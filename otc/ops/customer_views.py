"""The console's customer pages: who the desk trades with, their KYC status (only verified
customers may quote or confirm) and what is left of their daily limit. Supervisors change the
KYC status here with a note; the change is on the audit trail (``otc.customers``)."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.errors import DomainError
from accounts.models import Customer, KycStatus
from otc import services
from otc.customers import customer_kyc_history, customer_kyc_set
from otc.models import Channel, Order
from otc.services import Actor

from .views import operator_required

VIEW_CUSTOMER = "accounts.view_customer"
SET_KYC = "accounts.change_customer"  # the supervisors' permission
PAGE_SIZE = 50
RECENT_ORDERS = 20


class KycForm(forms.Form):
    status = forms.ChoiceField(choices=KycStatus.choices, label="KYC status")
    note = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Note (why; kept on the audit trail)",
        error_messages={"required": "A KYC change needs a note saying why."},
    )


class CustomerListFilter(forms.Form):
    kyc = forms.ChoiceField(
        choices=[("", "Any KYC status"), *KycStatus.choices], required=False, label="KYC"
    )


def _customers():
    return Customer.objects.filter(is_desk=False).order_by("name", "slug")


@require_GET
@operator_required(VIEW_CUSTOMER)
def customer_list(request):
    form = CustomerListFilter(request.GET or None)
    customers = _customers()
    if form.is_valid() and form.cleaned_data["kyc"]:
        customers = customers.filter(kyc_status=form.cleaned_data["kyc"])
    page = Paginator(customers, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "ops/customers.html",
        {"form": form, "page": page, "filter_query": query.urlencode()},
    )


def _customer_page(request, customer_id, *, form=None, status=200):
    customer = _customers().filter(pk=customer_id).first()
    if customer is None:
        raise Http404("No such customer.")
    orders = (
        Order.objects.filter(customer=customer)
        .select_related("pair")
        .order_by("-created_at", "-id")[:RECENT_ORDERS]
    )
    return render(
        request,
        "ops/customer_detail.html",
        {
            "customer": customer,
            "limits": services.daily_limits(customer),
            "orders": orders,
            "kyc_history": customer_kyc_history(customer),
            "can_set_kyc": request.user.has_perm(SET_KYC),
            "kyc_form": form or KycForm(initial={"status": customer.kyc_status}),
        },
        status=status,
    )


@require_GET
@operator_required(VIEW_CUSTOMER)
def customer_detail(request, customer_id):
    return _customer_page(request, customer_id)


@require_POST
@operator_required(SET_KYC)
def customer_kyc(request, customer_id):
    form = KycForm(request.POST)
    if not form.is_valid():
        return _customer_page(request, customer_id, form=form, status=400)
    try:
        customer = customer_kyc_set(
            customer_id=customer_id,
            status=form.cleaned_data["status"],
            note=form.cleaned_data["note"],
            actor=Actor.for_user(request.user, Channel.OPS),
        )
    except DomainError as exc:
        if exc.code == "CUSTOMER_NOT_FOUND":
            raise Http404(exc.message) from None
        form.add_error(None, exc.message)
        return _customer_page(request, customer_id, form=form, status=exc.status)
    messages.success(
        request, f"{customer.name}: KYC is now {customer.get_kyc_status_display().lower()}."
    )
    return redirect("ops:customer", customer_id=customer.pk)
