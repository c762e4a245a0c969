"""``GET /api/v1/statements``: the caller's statement for a period, as a CSV or PDF file."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.views import APIView

from otc import statements

from .views import AUTH_ERRORS, _errors


class FileDownloadNegotiation(BaseContentNegotiation):
    """The file's type comes from the ``format`` parameter, so DRF's own use of ``?format=``
    (pick a renderer) and of ``Accept`` (refuse what it cannot render) must not apply: a
    client asking for ``text/csv`` gets its file, and any error in the JSON envelope."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = renderers[0]
        return renderer, renderer.media_type


class StatementDownloadApi(APIView):
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(
        operation_id="statements_download",
        tags=["statements"],
        summary="Download a statement (CSV or PDF)",
        description=(
            "The caller's orders confirmed in the period and every movement of its accounts "
            "and wallets, with each one's opening and closing balance (the ledger's). `from` "
            "and `to` are days in the desk's time zone (`OTC_DESK_TIMEZONE`, Europe/Berlin by "
            "default), both included, at most 366 days, not after today; every time in the "
            "file is in that zone. For a period that ends today the closing balances are as "
            "of the moment the file is made."
        ),
        parameters=[
            OpenApiParameter(
                "from", OpenApiTypes.DATE, required=True, description="First day, YYYY-MM-DD."
            ),
            OpenApiParameter(
                "to", OpenApiTypes.DATE, required=True, description="Last day, YYYY-MM-DD."
            ),
            OpenApiParameter(
                "format", str, required=True, enum=list(statements.FORMATS), description="File."
            ),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.BINARY,
                description=(
                    "The file, as an attachment. PDF: an A4 statement. CSV (UTF-8 with BOM): "
                    "one header; the `record` column is statement, opening_balance, movement, "
                    "closing_balance or order."
                ),
            ),
            (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY),
            **_errors("VALIDATION_ERROR", *AUTH_ERRORS, validation="statement"),
        },
    )
    def get(self, request):
        wanted = statements.statement_request_parse(request.query_params)
        statement = statements.statement_build(
            customer=request.user.customer, date_from=wanted.date_from, date_to=wanted.date_to
        )
        response = HttpResponse(
            statements.statement_render(statement, wanted.format),
            content_type=statements.CONTENT_TYPES[wanted.format],
        )
        response["Content-Disposition"] = f'attachment; filename="{wanted.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response
