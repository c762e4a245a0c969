"""The portal's webhooks page: a customer's endpoints and their delivery log. Every action
goes through ``services``; a ``DomainError`` becomes a message on the page."""

import uuid
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from accounts.errors import DomainError

from . import selectors, services
from .forms import EndpointForm

DELIVERIES_PER_PAGE = 25
NEW_SECRET_KEY = "webhooks:new-secret"


def _base_template() -> str:
    # The portal's layout when the portal app provides one, else the site's.
    return select_template(["portal/base.html", "base.html"]).template.name


def customer_user_required(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        membership = getattr(user, "membership", None)
        if membership is None:
            raise Http404("Webhooks belong to customer users.")
        request.customer = membership.customer
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def _endpoint_or_404(request, endpoint_id: uuid.UUID):
    try:
        return selectors.endpoint_get(customer=request.customer, endpoint_id=endpoint_id)
    except DomainError:
        raise Http404("No such endpoint.") from None


def _render(request, template: str, context: dict, status: int = 200):
    context = {"base_template": _base_template(), "section": "webhooks", **context}
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
@customer_user_required
def endpoint_list(request):
    form = EndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            endpoint = services.endpoint_create(
                customer=request.customer,
                url=form.cleaned_data["url"],
                events=form.cleaned_data["events"] or None,
                description=form.cleaned_data["description"],
            )
        except DomainError as exc:
            form.add_error("url", exc.message)
        else:
            request.session[NEW_SECRET_KEY] = {"id": str(endpoint.pk), "secret": endpoint.secret}
            messages.success(request, "Endpoint added.")
            return redirect("webhooks:detail", endpoint_id=endpoint.pk)
    endpoints, _ = selectors.endpoint_page(customer=request.customer, page=1, limit=100)
    status = 422 if request.method == "POST" else 200
    return _render(
        request, "webhooks/endpoint_list.html", {"form": form, "endpoints": endpoints}, status
    )


@require_http_methods(["GET"])
@customer_user_required
def endpoint_detail(request, endpoint_id: uuid.UUID):
    endpoint = _endpoint_or_404(request, endpoint_id)
    shown = request.session.pop(NEW_SECRET_KEY, None)
    secret = shown["secret"] if shown and shown.get("id") == str(endpoint.pk) else None
    try:
        page = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        page = 1
    deliveries, total = selectors.delivery_page(
        endpoint=endpoint, page=page, limit=DELIVERIES_PER_PAGE
    )
    return _render(
        request,
        "webhooks/endpoint_detail.html",
        {
            "endpoint": endpoint,
            "secret": secret,
            "deliveries": deliveries,
            "page": page,
            "has_next": page * DELIVERIES_PER_PAGE < total,
            "total": total,
        },
    )


def _act(request, endpoint_id, action, success: str, *, keep_secret: bool = False):
    endpoint = _endpoint_or_404(request, endpoint_id)
    try:
        result = action(endpoint)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        if keep_secret:
            request.session[NEW_SECRET_KEY] = {"id": str(result.pk), "secret": result.secret}
        messages.success(request, success)
    return redirect("webhooks:detail", endpoint_id=endpoint.pk)


@require_POST
@customer_user_required
def endpoint_rotate(request, endpoint_id: uuid.UUID):
    return _act(
        request,
        endpoint_id,
        lambda e: services.endpoint_rotate_secret(endpoint=e),
        "New secret issued; the old one keeps signing alongside it for 24 hours.",
        keep_secret=True,
    )


@require_POST
@customer_user_required
def endpoint_test(request, endpoint_id: uuid.UUID):
    return _act(
        request,
        endpoint_id,
        lambda e: services.endpoint_send_test(endpoint=e),
        "Test event sent; its delivery appears below.",
    )


@require_POST
@customer_user_required
def endpoint_toggle(request, endpoint_id: uuid.UUID):
    enable = request.POST.get("enabled") == "true"
    return _act(
        request,
        endpoint_id,
        lambda e: services.endpoint_update(endpoint=e, enabled=enable),
        "Endpoint enabled." if enable else "Endpoint disabled.",
    )


@require_POST
@customer_user_required
def endpoint_delete(request, endpoint_id: uuid.UUID):
    endpoint = _endpoint_or_404(request, endpoint_id)
    services.endpoint_delete(endpoint=endpoint)
    messages.success(request, "Endpoint deleted.")
    return redirect("webhooks:list")


@require_POST
@customer_user_required
def delivery_redeliver(request, endpoint_id: uuid.UUID):
    def redeliver(endpoint):
        event = selectors.event_get(customer=request.customer, event_id=request.POST.get("event"))
        return services.delivery_redeliver(endpoint=endpoint, event=event)

    return _act(request, endpoint_id, redeliver, "Redelivery queued.")
