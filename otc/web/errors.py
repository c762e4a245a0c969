"""400/403/404/500 pages: the contract's JSON envelope under /api/, HTML elsewhere (403, 404 and
500 in one design, with a way back to where the signed-in user belongs)."""

from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.views import defaults

from otc.api.errors import json_bad_request, json_not_found, json_server_error

from .views import home_for


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return json_bad_request(request, exception)
    return defaults.bad_request(request, exception)


OPERATOR_PERMISSION = "otc.view_order"


def role_of(user) -> str | None:
    """``"operator"`` (staff who may see the console), ``"customer"`` (a customer's user), or
    ``None``: signed in, but with nothing to do here yet (staff outside the desk's groups, a
    user not linked to a customer)."""
    if user.is_staff:
        return "operator" if user.is_active and user.has_perm(OPERATOR_PERMISSION) else None
    return "customer" if getattr(user, "membership", None) is not None else None


def _way_back(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"home_url": "/login/", "home_label": "Sign in"}
    role = role_of(user)
    if role == "customer":
        return {"home_url": home_for(user), "home_label": "Back to your dashboard"}
    if role == "operator":
        return {"home_url": home_for(user), "home_label": "Back to the approval queue"}
    return {"home_url": None, "home_label": None}


def forbidden(request, exception=None):
    # The API's 403s are DRF's (the contract's envelope); this is for the pages.
    user = request.user
    context = {
        **_way_back(request),
        "role": role_of(user) if user.is_authenticated else None,
        "console": request.path.startswith("/ops/"),
    }
    return render(request, "web/403.html", context, status=403)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return render(request, "web/404.html", _way_back(request), status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_server_error(request)
    # No context processors: whatever broke (the database, the session) must not break this.
    return HttpResponseServerError(loader.get_template("web/500.html").render())
