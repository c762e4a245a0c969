"""``GET /api/v1/status``: the desk's status, public (no key, no session) and cheap to poll."""

from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from otc import status

from .examples import STATUS

STATE_HELP = "operational, degraded or down"

StatusEnvelope = inline_serializer(
    "StatusEnvelope",
    fields={
        "data": inline_serializer(
            "StatusOutput",
            fields={
                "status": serializers.CharField(help_text=f"Overall: {STATE_HELP}."),
                "checkedAt": serializers.DateTimeField(),
                "components": inline_serializer(
                    "StatusComponent",
                    many=True,
                    fields={
                        "name": serializers.ChoiceField(
                            [
                                "api",
                                "database",
                                "broker",
                                "workers",
                                "beat",
                                "price_feed",
                                "bank_rail",
                                "custody",
                                "webhooks",
                            ]
                        ),
                        "label": serializers.CharField(),
                        "status": serializers.CharField(help_text=STATE_HELP),
                        "detail": serializers.CharField(),
                    },
                ),
            },
        )
    },
)


class StatusApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []  # answered from one shared snapshot: polling costs nothing

    @extend_schema(
        operation_id="status",
        tags=["status"],
        summary="The desk's status",
        description=(
            "Each component (api, database, broker, workers, beat, price_feed, bank_rail, "
            "custody, webhooks) is operational, degraded or down, with a short detail. The "
            "overall status is down when the database is, degraded when anything is not "
            "operational. Checked at most every few seconds (`OTC_STATUS_CACHE_SECONDS`); "
            "`checkedAt` says when."
        ),
        responses={200: StatusEnvelope},
        examples=[OpenApiExample("All operational", value={"data": STATUS}, response_only=True)],
        auth=[],
    )
    def get(self, request):
        response = Response({"data": status.status_snapshot()})
        response["Cache-Control"] = "no-cache"
        return response
