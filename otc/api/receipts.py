"""``GET /api/v1/otc-exchanges/{id}/receipt.pdf``: a completed order's receipt, the same PDF
the portal offers."""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.views import APIView

from otc import receipts

from .statements import FileDownloadNegotiation
from .views import AUTH_ERRORS, _errors, _order_of


class OrderReceiptApi(APIView):
    content_negotiation_class = FileDownloadNegotiation

    @extend_schema(
        operation_id="otc_order_receipt",
        tags=["otc-exchanges"],
        summary="Download a completed order's receipt (PDF)",
        description=(
            "(extension) What was executed: the quoted and the executed rate, the reference "
            "rate, each fee line, both amounts, and every money movement with its ledger entry "
            "(`sourceTransactionId`, `destinationTransactionId`) and, where the provider gives "
            "one, the bank reference or on-chain transaction. Money and rates are written in the "
            "`Accept-Language` locale (en by default), times in the desk's time zone. Only "
            "completed orders have a receipt (404 `RECEIPT_NOT_FOUND` before); another "
            "customer's order is 404 `ORDER_NOT_FOUND`."
        ),
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The receipt, as an attachment (A4 PDF)."
            ),
            **_errors(*AUTH_ERRORS, (404, "ORDER_NOT_FOUND"), (404, "RECEIPT_NOT_FOUND")),
        },
    )
    def get(self, request, order_id: str):
        receipt = receipts.receipt_build(
            customer=request.user.customer, order_id=_order_of(request, order_id)
        )
        response = HttpResponse(
            receipts.render_receipt_pdf(receipt), content_type=receipts.CONTENT_TYPE
        )
        response["Content-Disposition"] = f'attachment; filename="{receipt.filename}"'
        response["Cache-Control"] = "private, no-store"
        return response
