"""``/status``: the desk's status as a page, public, refreshing itself."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from otc import status

REFRESH_SECONDS = 15


@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    snapshot = status.status_snapshot()
    response = render(
        request,
        "status/status.html",
        {
            "snapshot": snapshot,
            "refresh_seconds": max(REFRESH_SECONDS, settings.OTC_STATUS_CACHE_SECONDS),
        },
    )
    response["Cache-Control"] = "no-cache"
    return response
