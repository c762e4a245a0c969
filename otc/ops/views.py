"""The operator console. Views parse input, call a selector or a service, and render: the
business rules (live rate, tolerance, four-eyes, refunds) live in ``otc.services``."""

import csv
from functools import wraps
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts import money
from accounts.errors import DomainError
from otc import pricing, services
from otc.models import Channel, Pair, Side, Status
from otc.services import DEFAULT_PAIR, Actor
from otc.web import numbers

from . import selectors
from .forms import ApproveForm, OrderFilter, QueueFilterForm, RejectForm, rejection_code_choices

QUEUE_PAGE_SIZE = 25
SEARCH_PAGE_SIZE = 50
VIEW_PERMISSION = "otc.view_order"
DECIDE_PERMISSION = "otc.approve_order"


def operator_required(permission: str = VIEW_PERMISSION):
    """Anonymous visitors go to the sign-in page; signed-in users who are not staff with
    ``permission`` (customer users among them) get a 403 and never any data."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                if request.headers.get("HX-Request"):
                    # A poll after the session ended: send the whole page to sign in rather
                    # than swapping the sign-in form into the panel.
                    response = HttpResponse(status=401)
                    response["HX-Redirect"] = f"{settings.LOGIN_URL}?next={reverse('ops:queue')}"
                    return response
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if not (user.is_active and user.is_staff and user.has_perm(permission)):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def _page(request, items, size):
    return Paginator(items, size).get_page(request.GET.get("page"))


# --- the approval queue -----------------------------------------------------------------------


@require_GET
@operator_required()
def queue(request):
    form = QueueFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    orders = selectors.approval_queue(
        side=filters.get("side") or None,
        customer_id=filters["customer"].pk if filters.get("customer") else None,
        awaiting_user=request.user if filters.get("mine") else None,
    )
    page = _page(request, orders, QUEUE_PAGE_SIZE)
    price = selectors.live_price()
    rows = [selectors.price_order(order, price, request.user) for order in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    in_review = selectors.price_review_queue(
        side=filters.get("side") or None,
        customer_id=filters["customer"].pk if filters.get("customer") else None,
    )
    return render(
        request,
        "ops/queue.html",
        {
            "in_review": in_review,
            "reject_codes": rejection_code_choices(),
            "form": form,
            "page": page,
            "rows": rows,
            "price": price,
            **_panel_context(request, price),
            "filter_query": query.urlencode(),
            "can_decide": request.user.has_perm(DECIDE_PERMISSION),
            "tolerance_bps": settings.OTC_APPROVAL_TOLERANCE_BPS,
            "four_eyes_threshold": settings.OTC_FOUR_EYES_THRESHOLD_EUR,
        },
    )


def _panel(price: selectors.LivePrice) -> dict:
    """The live price panel's figures: the mid and the customer rates at the default pair's
    platform FX markup (a customer's own markup comes on top), and a pinned manual price."""
    pair = Pair.objects.filter(code=DEFAULT_PAIR).first()
    markup = pair.platform_fx_markup_bps if pair else 0
    panel = {"price": price, "spread_bps": markup, "buy_rate": None, "sell_rate": None}
    if price.available:
        panel["buy_rate"] = pricing.customer_rate(Side.BUY, price.mid, markup)
        panel["sell_rate"] = pricing.customer_rate(Side.SELL, price.mid, markup)
    panel["override"] = price.override
    return panel


def _panel_context(request, price: selectors.LivePrice) -> dict:
    return {
        "panel": _panel(price),
        "can_override": request.user.has_perm("otc.override_price"),
    }


@require_GET
@operator_required()
def price_panel(request):
    """The live price panel alone, polled by htmx."""
    return render(request, "ops/_price_panel.html", _panel_context(request, selectors.live_price()))


# --- one order --------------------------------------------------------------------------------


def _order_page(request, order_id, *, status=200, approve_form=None, reject_form=None, **extra):
    order = selectors.order_for_operator(order_id)
    if order is None:
        raise Http404("No such order.")
    price = selectors.live_price()
    row = selectors.price_order(order, price, request.user)
    context = {
        "order": order,
        "row": row,
        "price": price,
        **_panel_context(request, price),
        "transitions": list(order.transitions.all()),
        "entries": selectors.order_ledger_entries(order),
        "pending": order.status == Status.PENDING_APPROVAL,
        "can_decide": request.user.has_perm(DECIDE_PERMISSION),
        "approve_form": approve_form,
        "reject_form": reject_form or RejectForm(),
        "tolerance_bps": settings.OTC_APPROVAL_TOLERANCE_BPS,
        **extra,
    }
    return render(request, "ops/order_detail.html", context, status=status)


@require_GET
@operator_required()
def order_detail(request, order_id):
    return _order_page(request, order_id)


def _acting(request) -> Actor:
    return Actor.for_user(request.user, Channel.OPS)


def _back_to_queue(request) -> str | None:
    """The queue page (with its filters) a decision was made from, if it was: the form sends
    ``next``; anything that is not the console's queue is ignored."""
    target = request.POST.get("next") or ""
    if urlsplit(target).path != reverse("ops:queue"):
        return None
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return None
    return target


def _short(order_id) -> str:
    return str(order_id)[:8]


@require_POST
@operator_required(DECIDE_PERMISSION)
def order_approve(request, order_id):
    back = _back_to_queue(request)
    form = ApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The approval did not say which rate you were shown.")
        if back:
            return redirect(back)
        return _order_page(request, order_id, status=400)
    shown_rate = form.cleaned_data["shown_rate"]
    try:
        order = services.order_approve(
            order_id=order_id, actor=_acting(request), shown_rate=shown_rate
        )
    except DomainError as exc:
        if exc.code == "ORDER_NOT_FOUND":
            raise Http404(exc.message) from None
        if back:
            messages.error(request, _decision_refused(order_id, exc, shown_rate))
            return redirect(back)
        return _order_page(
            request, order_id, status=exc.status, decision_error=exc, shown_rate=shown_rate
        )
    if order.status == Status.PENDING_APPROVAL:
        messages.info(
            request,
            "Your approval is recorded (1 of 2). A different operator must give the second "
            f"approval, which executes at the live rate (order {_short(order.pk)}).",
        )
    elif order.status == Status.PRICE_REVIEW:
        messages.warning(request, _review_message(order))
    else:
        messages.success(
            request,
            f"Approved at {numbers.format_rate(order.final_rate)}: "
            f"{numbers.format_money(order.final_destination_amount, order.destination_currency)}"
            f" to {order.customer.name} (order {_short(order.pk)}).",
        )
    return redirect(back or reverse("ops:order", args=[order.pk]))


def _decision_refused(order_id, exc: DomainError, shown_rate=None) -> str:
    if exc.code == "RATE_MOVED":
        moved = exc.details.get("movedBps", "?")
        return (
            f"Nothing was approved for order {_short(order_id)}: the rate moved {moved} bps "
            f"since you saw {numbers.format_rate(shown_rate)} (tolerance "
            f"{settings.OTC_APPROVAL_TOLERANCE_BPS} bps). The queue now shows the live figures."
        )
    return f"Order {_short(order_id)}: {exc.message}"


def _review_message(order) -> str:
    destination = money.format_amount(order.review_destination_amount, order.destination_currency)
    return (
        f"Nothing executed: the live rate {money.format_rate(order.review_rate)} is beyond the "
        f"customer's {order.max_slippage_bps} bps slippage limit. They are asked to accept "
        f"{destination} {order.destination_currency} until "
        f"{order.review_expires_at:%H:%M:%S} UTC (price review)."
    )


@require_POST
@operator_required(DECIDE_PERMISSION)
def order_reject(request, order_id):
    back = _back_to_queue(request)
    form = RejectForm(request.POST)
    if not form.is_valid():
        if back:
            messages.error(
                request,
                f"Order {_short(order_id)} was not rejected: {next(iter(form.errors.values()))[0]}",
            )
            return redirect(back)
        return _order_page(request, order_id, status=400, reject_form=form)
    try:
        order = services.order_reject(
            order_id=order_id,
            actor=_acting(request),
            reason=form.cleaned_data["reason"],
            code=form.cleaned_data["code"],
        )
    except DomainError as exc:
        if exc.code == "ORDER_NOT_FOUND":
            raise Http404(exc.message) from None
        if back:
            messages.error(request, _decision_refused(order_id, exc))
            return redirect(back)
        return _order_page(request, order_id, status=exc.status, decision_error=exc)
    refund = (
        f" {numbers.format_money(order.source_amount, order.source_currency)} refunded."
        if order.is_buy
        else ""
    )
    messages.success(request, f"Rejected order {_short(order.pk)}.{refund}")
    return redirect(back or reverse("ops:order", args=[order.pk]))


# --- treasury ---------------------------------------------------------------------------------


@require_GET
@operator_required()
def treasury(request):
    return render(
        request,
        "ops/treasury.html",
        {"position": selectors.treasury_position(), "price": selectors.live_price()},
    )


# --- customers' failing webhook endpoints -----------------------------------------------------


@require_GET
@operator_required("webhooks.view_webhookendpoint")
def failing_webhooks(request):
    from otc.webhooks.selectors import failing_endpoints

    return render(
        request,
        "ops/webhooks.html",
        {"endpoints": _page(request, failing_endpoints(), SEARCH_PAGE_SIZE)},
    )


# --- search and export ------------------------------------------------------------------------


@require_GET
@operator_required()
def order_search(request):
    search = OrderFilter(request.GET or None, queryset=selectors.order_search())
    page = _page(request, search.qs, SEARCH_PAGE_SIZE)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "ops/orders.html",
        {
            "filter": search,
            "page": page,
            "filter_query": query.urlencode(),
            "export_url": f"{reverse('ops:orders_csv')}?{query.urlencode()}",
        },
    )


CSV_COLUMNS = [
    "id",
    "created_at",
    "customer",
    "side",
    "status",
    "source_currency",
    "source_amount",
    "destination_currency",
    "destination_amount",
    "indicative_rate",
    "final_rate",
    "approved_by",
    "approved_at",
    "completed_at",
    "rejection_reason",
    "kind",
    "failure_code",
    "failure_reason",
]


class _Echo:
    def write(self, value):
        return value


def _cell(value) -> str:
    """Text for a CSV cell; free text that a spreadsheet would run as a formula is defused."""
    text = "" if value is None else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_row(order) -> list[str]:
    final_amount = order.final_destination_amount
    destination = final_amount if final_amount is not None else order.indicative_destination_amount
    return [
        str(order.pk),
        order.created_at.isoformat(),
        _cell(order.customer.slug),
        order.side,
        order.status,
        order.source_currency,
        money.format_amount(order.source_amount, order.source_currency),
        order.destination_currency,
        money.format_amount(destination, order.destination_currency),
        money.format_rate(order.indicative_rate),
        money.format_rate(order.final_rate) if order.final_rate is not None else "",
        _cell(order.approved_by.get_username() if order.approved_by else ""),
        order.approved_at.isoformat() if order.approved_at else "",
        order.completed_at.isoformat() if order.completed_at else "",
        _cell(order.rejection_reason),
        order.kind,
        order.failure_code,
        _cell(order.failure_reason),
    ]


@require_GET
@operator_required()
def order_export(request):
    search = OrderFilter(request.GET or None, queryset=selectors.order_search())
    writer = csv.writer(_Echo())
    orders = search.qs if search.is_valid() else search.queryset.none()

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for order in orders.iterator(chunk_size=500):
            yield writer.writerow(_csv_row(order))

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="orders.csv"'
    return response
