"""What a locked-out sign-in sees (django-axes' ``AXES_LOCKOUT_CALLABLE``): the API's 429
envelope under /api/, the sign-in page with the reason elsewhere (the portal and console's
/login/ and the admin's login alike). Both carry ``Retry-After``."""

import math

from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from accounts.authentication import signin_locked_error
from otc.api.errors import envelope


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    locked = signin_locked_error(request, credentials)
    seconds = locked.details["retry_after_ms"] // 1000
    if request.path.startswith("/api/"):
        if original_response is not None and original_response.status_code == 429:
            return original_response  # the view already answered the contract's 429
        response: HttpResponse = JsonResponse(
            envelope(locked.code, locked.message, locked.details), status=429
        )
    else:
        username = (credentials or {}).get("username") or request.POST.get("username", "")
        next_url = request.POST.get("next") or request.GET.get("next", "")
        if not next_url and request.path.startswith("/admin/"):
            next_url = "/admin/"
        form = AuthenticationForm(request, initial={"username": username})
        response = render(
            request,
            "registration/login.html",
            {
                "form": form,
                "next": next_url,
                "locked_out": True,
                "locked_minutes": max(1, math.ceil(seconds / 60)),
            },
            status=429,
        )
    response["Retry-After"] = str(seconds)
    return response
