"""The console's manual price: supervisors pin a pair's mid when the feed misbehaves, and clear
it. Both run the same services as ``manage.py price_override`` (shared cache, audited)."""

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from accounts.errors import DomainError
from otc import services
from otc.models import Channel
from otc.services import Actor

from .views import operator_required

OVERRIDE_PERMISSION = "otc.override_price"


@require_POST
@operator_required(OVERRIDE_PERMISSION)
def price_override(request):
    actor = Actor.for_user(request.user, Channel.OPS)
    pair = request.POST.get("pair") or services.DEFAULT_PAIR
    try:
        if request.POST.get("action") == "clear":
            services.price_override_clear(pair_code=pair, actor=actor)
            messages.success(
                request, f"{pair}: the manual price is cleared; the feed prices again."
            )
        else:
            try:
                rate = Decimal((request.POST.get("rate") or "").strip().replace(",", "."))
            except InvalidOperation:
                raise DomainError("Enter the rate as a decimal, e.g. 1.0812.") from None
            minutes_text = (request.POST.get("minutes") or "").strip()
            minutes = int(minutes_text) if minutes_text.isdigit() else None
            if minutes_text and minutes is None:
                raise DomainError("Minutes must be a whole number.")
            override = services.price_override_set(
                pair_code=pair, rate=rate, minutes=minutes, actor=actor
            )
            until = (
                f"until {override.expires_at:%H:%M:%S} UTC"
                if override.expires_at
                else "until cleared"
            )
            messages.success(request, f"{pair} pinned at {override.rate} {until}.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(request.POST.get("next") or "ops:queue")
