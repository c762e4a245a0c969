"""The customer portal: the API's features for a customer's users, in the browser.

Every page acts for the signed-in user's own customer only, through the same services and
selectors as the API; views parse the form, call one service, and render or redirect. A
``DomainError`` becomes a sentence in the form (``otc.portal.errors``), never a stack trace.
"""

import json
import uuid
from dataclasses import dataclass
from functools import wraps

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_fsm import can_proceed

from accounts import money
from accounts.errors import DomainError, ProviderUnavailable, error
from accounts.models import ApiKey
from accounts.selectors import eligible_fiat_accounts
from accounts.services import api_key_create, api_key_revoke
from otc import idempotency, receipts, selectors, services
from otc.models import OPEN_QUOTE, TERMINAL, Channel, FixedSide, Order, Side, Status
from otc.representations import review_representation
from otc.services import Actor
from otc.web import numbers
from wallets.providers import custody
from wallets.selectors import available_after_holds, eligible_wallets, wallet_held_balances

from . import presentation
from .errors import describe, describe_exception
from .forms import ApiKeyCreateForm, OrderFilterForm, QuoteForm, amount_currency
from .status_text import ORDER_STATUSES, QUOTE_STATUSES, status_text

ORDERS_PER_PAGE = 20
POLL_SECONDS = 3


# --- access ---------------------------------------------------------------------------------


def customer_required(view):
    """Signed-in customer users only. Anonymous visitors go to the sign-in page, staff to the
    operator console; ``request.customer`` is the user's one customer."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request.user
        if not user.is_authenticated:
            if request.headers.get("HX-Request"):
                # A polling fragment after the session ended: send the whole page to sign-in.
                response = HttpResponse(status=204)
                response["HX-Redirect"] = f"{reverse('login')}?next={request.path}"
                return response
            return redirect_to_login(request.get_full_path())
        if user.is_staff:
            return redirect("ops:queue")
        membership = getattr(user, "membership", None)
        if membership is None:
            return render(request, "web/no_role.html", {"staff": False}, status=403)
        request.customer = membership.customer
        return view(request, *args, **kwargs)

    return wrapper


def _actor(request) -> Actor:
    return Actor.for_user(request.user, Channel.PORTAL)


def _order_or_404(request, order_id: uuid.UUID) -> Order:
    try:
        return selectors.order_get(customer=request.customer, order_id=order_id, kind=None)
    except DomainError:
        raise Http404("No such order.") from None


# --- presentation ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderFigures:
    """An order's amounts and rates as the portal shows them (fixed decimals, strings)."""

    source: str
    indicative_destination: str
    indicative_rate: str
    final_destination: str | None
    final_rate: str | None
    destination: str
    rate: str


def figures(order: Order) -> OrderFigures:
    """In the reader's locale (``otc.web.numbers``): grouped, the currency's decimals."""
    dest = order.destination_currency
    final_rate = order.final_rate
    final_dest = order.final_destination_amount
    return OrderFigures(
        source=numbers.format_amount(order.source_amount, order.source_currency),
        indicative_destination=numbers.format_amount(order.indicative_destination_amount, dest),
        indicative_rate=numbers.format_rate(order.indicative_rate),
        final_destination=numbers.format_amount(final_dest, dest)
        if final_dest is not None
        else None,
        final_rate=numbers.format_rate(final_rate) if final_rate is not None else None,
        destination=numbers.format_amount(order.destination_amount, dest),
        rate=numbers.format_rate(order.rate),
    )


def _rows(orders) -> list[dict]:
    return [
        {"order": o, "figures": figures(o), "status": status_text(o.status, o.side, o.kind)}
        for o in orders
    ]


def _seconds_left(order: Order) -> int:
    return max(0, int((order.ttl_expires_at - timezone.now()).total_seconds()))


def _quote_is_live(order: Order) -> bool:
    return order.status in OPEN_QUOTE and order.ttl_expires_at > timezone.now()


def _can_requote(order: Order) -> bool:
    return can_proceed(order.requote)


# --- dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class WalletRow:
    wallet: object
    balance: str | None  # the live balance; None: the custodian did not answer
    held: str  # reserved by confirmed sells until they settle (from the desk's ledger)
    available: str | None  # balance less held: what a new sell can use


@require_GET
@customer_required
def dashboard(request):
    customer = request.customer
    accounts = [
        {"account": a, "balance": numbers.format_amount(a.balance, a.currency)}
        for a in eligible_fiat_accounts(customer)
    ]
    provider = custody()
    wallets = []
    own_wallets = list(eligible_wallets(customer))
    held_by_wallet = wallet_held_balances(own_wallets)
    for wallet in own_wallets:
        held = held_by_wallet[wallet.pk]
        try:
            live = provider.balance(wallet)
        except ProviderUnavailable:
            balance = available = None
        else:
            balance = numbers.format_amount(live, money.USDC)
            available = numbers.format_amount(available_after_holds(live, held), money.USDC)
        wallets.append(
            WalletRow(
                wallet=wallet,
                balance=balance,
                held=numbers.format_amount(held, money.USDC),
                available=available,
            )
        )
    # Orders by default; quotes (never confirmed) only when asked for, so they cannot push
    # the real orders off the page.
    show = "quotes" if request.GET.get("show") == "quotes" else "orders"
    statuses = QUOTE_STATUSES if show == "quotes" else ORDER_STATUSES
    recent_orders = selectors.customer_orders(customer).filter(status__in=statuses)
    recent = list(recent_orders[:5])
    return render(
        request,
        "portal/dashboard.html",
        {
            "section": "dashboard",
            "customer": customer,
            "accounts": accounts,
            "wallets": wallets,
            "balances_unavailable": any(row.balance is None for row in wallets),
            "recent": _rows(recent),
            "show": show,
            "open_quotes": selectors.customer_orders(customer)
            .filter(status__in=OPEN_QUOTE, ttl_expires_at__gt=timezone.now())
            .count(),
            # Orders waiting for the customer's answer to a new price: said first, with a link.
            "awaiting_answer": list(
                Order.objects.filter(customer=customer, status=Status.PRICE_REVIEW)
                .only("id", "side", "review_expires_at")
                .order_by("review_expires_at")
            ),
        },
    )


# --- new exchange: quote, confirm, refresh --------------------------------------------------


def _exchange_page(request, form: QuoteForm, *, order: Order | None = None, status=200, **extra):
    context = {
        "section": "exchange",
        "form": form,
        "limits": form.limits(),
        "order": order,
        **extra,
    }
    if order is not None:
        context |= {
            "figures": figures(order),
            "quote_live": _quote_is_live(order),
            "can_requote": _can_requote(order),
            "seconds_left": _seconds_left(order),
            # Ties this confirm to this rendering of the quote: a double click or a resubmit
            # of this page sends the same key and is replayed, never confirmed twice.
            "idempotency_key": uuid.uuid4(),
            "shortfall": _shortfall(order),
            "status": status_text(order.status, order.side, order.kind),
            "breakdown": presentation.price_breakdown(order),
        }
    response = render(request, "portal/exchange.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@dataclass(frozen=True)
class Shortfall:
    """A buy quote larger than its EUR account holds: said on the quote, before confirm."""

    account: str
    balance: str
    needed: str


def _shortfall(order: Order) -> Shortfall | None:
    # A buy's EUR leaves the account at confirm; a sell's wallet is checked at quote time.
    if not order.is_buy or order.status not in OPEN_QUOTE:
        return None
    balance = order.source_ledger_account.balance
    if balance >= order.source_amount:
        return None
    return Shortfall(
        account=order.fiat_account.label,
        balance=numbers.format_money(balance, order.source_currency),
        needed=numbers.format_money(order.source_amount, order.source_currency),
    )


@require_GET
@customer_required
def amount_preview(request):
    """What the server reads in the amount being typed (the same parse as the quote form),
    shown under the field: "We read this as 1,234.56 EUR"."""
    side = request.GET.get("side")
    fixed = request.GET.get("fixed_side")
    currency = amount_currency(
        side if side in Side.values else Side.BUY,
        fixed if fixed in FixedSide.values else FixedSide.SOURCE,
    )
    raw = request.GET.get("amount", "")
    context: dict = {"raw": raw.strip(), "currency": currency}
    if raw.strip():
        try:
            context["amount"] = numbers.parse_amount(raw, currency)
        except money.AmountError as exc:
            context["problem"] = str(exc)
    response = render(request, "portal/_amount_preview.html", context)
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@customer_required
def exchange(request):
    customer = request.customer
    if request.method == "GET":
        side = request.GET.get("side")
        initial = {"side": side if side in Side.values else Side.BUY}
        return _exchange_page(request, QuoteForm(initial=initial, customer=customer))
    form = QuoteForm(request.POST, customer=customer)
    if not form.is_valid():
        return _exchange_page(request, form, status=400)
    data = form.cleaned_data
    try:
        order = services.quote_create(
            customer=customer,
            side=data["side"],
            fiat_account_id=uuid.UUID(data["fiat_account"]),
            wallet_id=uuid.UUID(data["wallet"]),
            amount=data["amount_value"],
            fixed_side=data["fixed_side"],
            actor=_actor(request),
        )
    except DomainError as exc:
        problem = describe_exception(exc)
        form.add_error(problem.field, problem.message)
        return _exchange_page(request, form, status=exc.status)
    return redirect("portal:quote", order_id=order.pk)


def _form_for(order: Order, customer) -> QuoteForm:
    if order.fixed_side == FixedSide.DESTINATION:
        amount = numbers.format_amount(
            order.indicative_destination_amount, order.destination_currency
        )
    else:
        amount = numbers.format_amount(order.source_amount, order.source_currency)
    return QuoteForm(
        initial={
            "side": order.side,
            "fiat_account": str(order.fiat_account_id),
            "wallet": str(order.wallet_id),
            "fixed_side": order.fixed_side,
            "amount": amount,
        },
        customer=customer,
    )


@require_GET
@customer_required
def quote(request, order_id: uuid.UUID):
    """The quote just given: rate, amount to receive, countdown, Confirm / Refresh / Cancel.
    Once the quote is an order, its page is the order page."""
    order = _order_or_404(request, order_id)
    if _can_requote(order):
        return _exchange_page(request, _form_for(order, request.customer), order=order)
    return redirect("portal:order", order_id=order.pk)


@require_POST
@customer_required
def quote_confirm(request, order_id: uuid.UUID):
    """Confirm through ``idempotency.run_once`` exactly as ``POST /otc-exchanges`` does: the
    key claimed, the confirm run and its outcome stored in one transaction."""
    customer = request.customer
    actor = _actor(request)
    side = request.POST.get("side", "")
    try:
        key = idempotency.parse_key(request.POST.get("idempotency_key"))
        if side not in Side.values:
            raise error("VALIDATION_ERROR", 400, "Unknown side.", side=["Choose buy or sell."])
        stored = idempotency.order_confirm_once(
            customer=customer, key=key, order_id=order_id, side=side, actor=actor
        )
    except DomainError as exc:
        return _confirm_failed(request, order_id, describe_exception(exc), exc.status)
    body = json.loads(stored.body)
    if stored.status == 201:
        if stored.replayed:
            messages.info(request, "This quote was already confirmed; here is your order.")
        else:
            messages.success(request, "Order confirmed. The desk will approve it shortly.")
        return redirect("portal:order", order_id=body["data"]["orderId"])
    problem = body.get("error", {})
    return _confirm_failed(
        request,
        order_id,
        describe(problem.get("code", ""), problem.get("message", ""), problem.get("details")),
        stored.status,
    )


def _confirm_failed(request, order_id: uuid.UUID, problem, status: int):
    order = _order_or_404(request, order_id)
    return _exchange_page(
        request,
        _form_for(order, request.customer),
        order=order,
        status=status,
        confirm_error=problem,
    )


@require_POST
@customer_required
def order_requote(request, order_id: uuid.UUID):
    try:
        order = services.order_requote(
            order_id=order_id, customer=request.customer, actor=_actor(request)
        )
    except DomainError as exc:
        if exc.status == 404:
            raise Http404("No such order.") from None
        return _confirm_failed(request, order_id, describe_exception(exc), exc.status)
    messages.success(request, "Quote refreshed with a new rate.")
    return redirect("portal:quote", order_id=order.pk)


@require_POST
@customer_required
def order_cancel(request, order_id: uuid.UUID):
    try:
        order = services.order_cancel(
            order_id=order_id, customer=request.customer, actor=_actor(request)
        )
    except DomainError as exc:
        if exc.status == 404:
            raise Http404("No such order.") from None
        messages.error(request, describe_exception(exc).message)
    else:
        if order.cancellation_code:  # declined in price review: the order, not a quote
            refund = " Your EUR is being refunded." if order.is_buy else ""
            messages.success(request, f"Order cancelled; nothing was exchanged.{refund}")
        else:
            messages.success(request, "Quote cancelled.")
    return redirect("portal:order", order_id=order_id)


# --- orders ---------------------------------------------------------------------------------


@require_GET
@customer_required
def order_list(request):
    filters = OrderFilterForm(request.GET)
    wanted = filters.wanted()
    orders = selectors.customer_orders(request.customer, side=wanted.get("side") or None).filter(
        status__in=filters.statuses()
    )
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "section": "orders",
        "filters": filters,
        "page": page,
        "rows": _rows(page.object_list),
        "query": query.urlencode(),
        "in_flight": any(o.status not in TERMINAL for o in page.object_list),
        "poll_seconds": POLL_SECONDS,
        "show": filters.showing(),
        "tab_query": _without(request.GET, "show", "status", "page"),
    }
    template = "portal/_order_table.html" if request.headers.get("HX-Request") else None
    return render(request, template or "portal/order_list.html", context)


def _without(query, *names: str) -> str:
    kept = query.copy()
    for name in names:
        kept.pop(name, None)
    return kept.urlencode()


# Orders waiting for the desk's decision: the approval deadline is counted down.
AWAITING_DECISION = (Status.DEBIT_PENDING, Status.PENDING_APPROVAL)


def _order_context(order: Order) -> dict:
    receipt = receipts.receipt_for(order) if order.status == Status.COMPLETED else None
    return {
        "order": order,
        "status": status_text(order.status, order.side, order.kind),
        "figures": figures(order),
        "breakdown": presentation.price_breakdown(order),
        "timeline": presentation.timeline(list(order.transitions.all())),
        "rejection": presentation.rejection(order),
        "deadline": presentation.countdown(order.approval_deadline_at)
        if order.status in AWAITING_DECISION
        else None,
        "review_left": presentation.countdown(order.review_expires_at)
        if order.status == Status.PRICE_REVIEW
        else None,
        "receipt": receipt,
        "can_cancel": can_proceed(order.cancel) and order.status != Status.PRICE_REVIEW,
        "quote_live": _quote_is_live(order),
        "can_requote": _can_requote(order),
        "in_flight": order.status not in TERMINAL,
        "poll_seconds": POLL_SECONDS,
    }


@require_GET
@customer_required
def order_detail(request, order_id: uuid.UUID):
    order = _order_or_404(request, order_id)
    context = {"section": "orders"} | _order_context(order)
    return render(request, "portal/order_detail.html", context)


@require_GET
@customer_required
def order_status(request, order_id: uuid.UUID):
    """The order page's live part, polled by htmx while the order is in flight."""
    order = _order_or_404(request, order_id)
    return render(request, "portal/_order_status.html", _order_context(order))


@require_GET
@customer_required
def order_receipt(request, order_id: uuid.UUID):
    """The completed order's receipt as a PDF; another customer's order, or one not completed,
    is a 404."""
    try:
        receipt = receipts.receipt_build(customer=request.customer, order_id=order_id)
    except DomainError:
        raise Http404("No receipt for this order.") from None
    response = HttpResponse(
        receipts.render_receipt_pdf(receipt), content_type=receipts.CONTENT_TYPE
    )
    response["Content-Disposition"] = f'attachment; filename="{receipt.filename}"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- price review ---------------------------------------------------------------------------


def _review_page(request, order: Order, *, status: int = 200, problem=None):
    review = review_representation(order)
    context = {
        "section": "orders",
        "order": order,
        "review": presentation.review_figures(order, review),
        "left": presentation.countdown(order.review_expires_at),
        "breakdown": presentation.price_breakdown(order),
        "problem": problem,
    }
    response = render(request, "portal/review.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@customer_required
def order_review(request, order_id: uuid.UUID):
    """The new price the desk offers after the market moved beyond the customer's slippage
    limit: the old price beside the new one, what changes, the time left, accept or cancel.
    The same read as ``GET otc-exchanges/{id}/review``."""
    try:
        order = services.order_review_get(order_id=order_id, customer=request.customer)
    except DomainError as exc:
        if exc.code == "ORDER_NOT_FOUND":
            raise Http404("No such order.") from None
        return redirect("portal:order", order_id=order_id)  # no review (any more)
    return _review_page(request, order)


@require_POST
@customer_required
def order_accept_price(request, order_id: uuid.UUID):
    """Accept the reviewed price with the figures shown (``POST …/accept-price``): a price
    that changed meanwhile (409 REVIEW_CHANGED) or a late click (400 REVIEW_EXPIRED) comes
    back to the review page with a sentence."""
    try:
        # The review's own plain strings, sent back as the API's accept-price body is (rates
        # and the widest amounts both have six decimals).
        rate = money.parse_amount(request.POST.get("rate", ""), money.USDC)
        destination = money.parse_amount(request.POST.get("destination_amount", ""), money.USDC)
    except money.AmountError:
        rate = destination = None
    try:
        if rate is None:
            raise error("REVIEW_CHANGED", 409, "These figures are not the price under review.")
        services.order_accept_price(
            order_id=order_id,
            customer=request.customer,
            rate=rate,
            destination_amount=destination,
            actor=_actor(request),
        )
    except DomainError as exc:
        if exc.code == "ORDER_NOT_FOUND":
            raise Http404("No such order.") from None
        if exc.code == "REVIEW_NOT_FOUND":
            messages.info(request, describe_exception(exc).message)
            return redirect("portal:order", order_id=order_id)
        problem = describe_exception(exc)
        try:
            order = services.order_review_get(order_id=order_id, customer=request.customer)
        except DomainError:  # the review ended meanwhile (cancelled, swept)
            messages.error(request, problem.message)
            return redirect("portal:order", order_id=order_id)
        return _review_page(request, order, status=exc.status, problem=problem)
    messages.success(request, "New price accepted: the order is executing at it.")
    return redirect("portal:order", order_id=order_id)


# --- API keys -------------------------------------------------------------------------------


def _keys_page(request, form: ApiKeyCreateForm, *, status=200, **extra):
    keys = ApiKey.objects.filter(customer=request.customer).order_by("-created_at")
    response = render(
        request,
        "portal/api_keys.html",
        {"section": "api_keys", "form": form, "keys": keys, **extra},
        status=status,
    )
    # The page may carry a secret shown once: never keep it in a cache or the history.
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
@customer_required
def api_keys(request):
    if request.method == "GET":
        return _keys_page(request, ApiKeyCreateForm())
    form = ApiKeyCreateForm(request.POST)
    if not form.is_valid():
        return _keys_page(request, form, status=400)
    try:
        key, secret = api_key_create(
            customer=request.customer,
            scopes=form.cleaned_data["scopes"],
            live=form.cleaned_data["live"],
            name=form.cleaned_data["name"],
            created_by=request.user,
        )
    except DomainError as exc:
        form.add_error("scopes", describe_exception(exc).message)
        return _keys_page(request, form, status=exc.status)
    return _keys_page(request, ApiKeyCreateForm(), status=201, new_key=key, secret=secret)


@require_POST
@customer_required
def api_key_revoke_view(request, key_id: uuid.UUID):
    key = get_object_or_404(ApiKey, pk=key_id, customer=request.customer)
    was_active = key.is_active
    api_key_revoke(key=key)
    if was_active:
        messages.success(request, f"Key {key.prefix}… revoked; it no longer works.")
    else:
        messages.info(request, f"Key {key.prefix}… was already revoked.")
    return redirect("portal:api_keys")


# --- password -------------------------------------------------------------------------------


@method_decorator([never_cache, customer_required], name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("portal:dashboard")
    extra_context = {"section": "password"}

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password was changed.")
        return response
