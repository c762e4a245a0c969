"""The console's reconciliation: reports, their breaks, a run for a day, and resolving a break
with a note. The comparisons live in ``otc.reconciliation``; the same run is
``manage.py reconcile --date``."""

from datetime import date

from django.contrib import messages
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.errors import DomainError, ProviderUnavailable
from otc import reconciliation
from otc.models import ReconciliationReport

from .views import DECIDE_PERMISSION, _page, operator_required

REPORTS_PAGE_SIZE = 30


@require_GET
@operator_required()
def report_list(request):
    reports = ReconciliationReport.objects.annotate(
        open_breaks=Count("breaks", filter=Q(breaks__resolved_at__isnull=True))
    ).order_by("-day", "-started_at")
    return render(
        request,
        "ops/reconciliation.html",
        {
            "reports": _page(request, reports, REPORTS_PAGE_SIZE),
            "today": reconciliation.desk_today(),
            "can_act": request.user.has_perm(DECIDE_PERMISSION),
        },
    )


@require_GET
@operator_required()
def report_detail(request, report_id):
    report = ReconciliationReport.objects.filter(pk=report_id).first()
    if report is None:
        raise Http404("No such report.")
    breaks = report.breaks.select_related("resolved_by", "order")
    return render(
        request,
        "ops/reconciliation_detail.html",
        {
            "report": report,
            "breaks": breaks,
            "can_act": request.user.has_perm(DECIDE_PERMISSION),
        },
    )


@require_POST
@operator_required(DECIDE_PERMISSION)
def report_run(request):
    try:
        day = date.fromisoformat(request.POST.get("date") or "")
    except ValueError:
        messages.error(request, "Enter the day as YYYY-MM-DD.")
        return redirect("ops:reconciliation")
    try:
        report = reconciliation.reconcile(day, triggered_by=request.user.get_username())
    except ProviderUnavailable as exc:
        messages.error(request, f"Nothing was reconciled: {exc.message}")
        return redirect("ops:reconciliation")
    messages.success(
        request, f"{day}: {report.matched} movements matched, {report.break_count} breaks."
    )
    return redirect("ops:reconciliation_report", report_id=report.pk)


@require_POST
@operator_required(DECIDE_PERMISSION)
def break_resolve(request, break_id):
    try:
        item = reconciliation.break_resolve(
            break_id=break_id, user=request.user, note=request.POST.get("note", "")
        )
    except DomainError as exc:
        if exc.code == "BREAK_NOT_FOUND":
            raise Http404(exc.message) from None
        messages.error(request, exc.message)
        report_id = request.POST.get("report")
        return (
            redirect("ops:reconciliation_report", report_id=report_id)
            if report_id
            else (redirect("ops:reconciliation"))
        )
    messages.success(request, "The break is resolved.")
    return redirect("ops:reconciliation_report", report_id=item.report_id)
