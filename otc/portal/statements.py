"""The portal's statement download: the same statement as ``GET /api/v1/statements``."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from accounts.errors import DomainError
from otc import statements

from .views import customer_required


@require_safe
@customer_required
def statement_download(request: HttpRequest) -> HttpResponse:
    """Without parameters: the form (this month so far). With them: the file, or the form
    again with what is wrong."""
    today = timezone.now().astimezone(statements.desk_timezone()).date()
    values = {
        "from": request.GET.get("from", today.replace(day=1).isoformat()),
        "to": request.GET.get("to", today.isoformat()),
        "format": request.GET.get("format", "pdf"),
    }
    problems: dict = {}
    if {"from", "to", "format"} & set(request.GET):
        try:
            wanted = statements.statement_request_parse(request.GET, today=today)
        except DomainError as exc:
            problems = exc.details or {"": [exc.message]}
        else:
            statement = statements.statement_build(
                customer=request.customer, date_from=wanted.date_from, date_to=wanted.date_to
            )
            response = HttpResponse(
                statements.statement_render(statement, wanted.format),
                content_type=statements.CONTENT_TYPES[wanted.format],
            )
            response["Content-Disposition"] = f'attachment; filename="{wanted.filename}"'
            response["Cache-Control"] = "private, no-store"
            return response
    return render(
        request,
        "portal/statements.html",
        {
            "section": "statements",
            "values": values,
            "problems": problems,
            "today": today,
            "timezone_name": statements.desk_timezone().key,
            "max_days": statements.MAX_DAYS,
        },
        status=400 if problems else 200,
    )
