"""``/healthz``: 200 when the database and the broker answer."""

from django.db import connection
from django.http import JsonResponse

from config.celery import app


def check() -> dict[str, str]:
    results = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        results["database"] = "ok"
    except Exception as exc:
        results["database"] = f"error: {exc.__class__.__name__}"
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        results["broker"] = "ok"
    except Exception as exc:
        results["broker"] = f"error: {exc.__class__.__name__}"
    return results


def healthz(request) -> JsonResponse:
    checks = check()
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "checks": checks},
        status=200 if healthy else 503,
    )
