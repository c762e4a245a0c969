from django.db import transaction
from django.http import HttpRequest, JsonResponse

from .models import Hit


def hit(request: HttpRequest) -> JsonResponse:
    """One INSERT and its COMMIT, answered in a small JSON envelope like the desk's."""
    with transaction.atomic():
        row = Hit.objects.create(note=request.headers.get("X-Request-Id", "")[:64])
    return JsonResponse({"data": {"id": row.pk}}, status=201)
