"""400/404/500 pages: the contract's JSON envelope under /api/, HTML elsewhere."""

from django.shortcuts import render
from django.views import defaults

from otc.api.errors import json_bad_request, json_not_found, json_server_error


def bad_request(request, exception=None):
    if request.path.startswith("/api/"):
        return json_bad_request(request, exception)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if request.path.startswith("/api/"):
        return json_not_found(request, exception)
    return render(request, "web/404.html", status=404)


def server_error(request):
    if request.path.startswith("/api/"):
        return json_server_error(request)
    return render(request, "web/500.html", status=500)
