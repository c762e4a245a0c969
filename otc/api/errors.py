"""One error envelope for every API error:
``{"error": {"code": "UPPER_SNAKE", "message": "...", "details": {...}}}``."""

import logging
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from accounts.errors import DomainError
from otc.representations import error_envelope

logger = logging.getLogger("otc.api")


envelope = error_envelope


def _validation_details(detail: Any) -> Any:
    if isinstance(detail, dict):
        if "validValues" in detail:  # a choice's error: {"message": str, "validValues": [...]}
            return {"message": str(detail["message"]), "validValues": detail["validValues"]}
        return {key: _validation_details(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [
            str(item) if not isinstance(item, dict | list) else _validation_details(item)
            for item in detail
        ]
    return [str(detail)]


def api_exception_handler(exc: Exception, context: dict) -> Response:
    headers: dict[str, str] = {}
    if isinstance(exc, DomainError):
        status, body = exc.status, envelope(exc.code, exc.message, exc.details)
        retry_after_ms = (exc.details or {}).get("retry_after_ms")
        if status == 429 and retry_after_ms:
            # The contract's 429 always carries Retry-After (seconds), not only DRF's own.
            headers["Retry-After"] = str(math.ceil(retry_after_ms / 1000))
    elif isinstance(exc, exceptions.ValidationError):
        status = 400
        details = _validation_details(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details}
        body = envelope("VALIDATION_ERROR", "The request is not valid.", details)
    elif isinstance(exc, exceptions.ParseError):
        status = 400
        body = envelope(
            "VALIDATION_ERROR", "The body is not valid JSON.", {"body": [str(exc.detail)]}
        )
    elif isinstance(exc, RequestDataTooBig):
        status, body = 413, payload_too_large()
    elif isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        status = 401
        message = (
            "Send an x-api-key header or a Bearer session token."
            if isinstance(exc, exceptions.NotAuthenticated)
            else str(exc.detail)
        )
        body = envelope("UNAUTHENTICATED", message)
    elif isinstance(exc, exceptions.PermissionDenied):
        status = 403
        code = getattr(exc.detail, "code", None)
        if code == "INSUFFICIENT_SCOPE":
            body = envelope("INSUFFICIENT_SCOPE", str(exc.detail))
        elif str(exc.detail).startswith("CSRF Failed"):
            body = envelope("CSRF_FAILED", "Send the CSRF token in the X-CSRF-Token header.")
        else:
            body = envelope("FORBIDDEN", str(exc.detail))
    elif isinstance(exc, exceptions.NotFound | Http404):
        status, body = 404, envelope("NOT_FOUND", "Not found.")
    elif isinstance(exc, exceptions.MethodNotAllowed):
        status = 405
        body = envelope(
            "METHOD_NOT_ALLOWED",
            f"Method {context['request'].method} is not allowed on this route.",
        )
    elif isinstance(exc, exceptions.UnsupportedMediaType):
        status, body = 415, envelope("UNSUPPORTED_MEDIA_TYPE", "Send JSON (application/json).")
    elif isinstance(exc, exceptions.NotAcceptable):
        status, body = 406, envelope("NOT_ACCEPTABLE", "This API only answers JSON.")
    elif isinstance(exc, exceptions.Throttled):
        status = 429
        wait = exc.wait or 1
        headers["Retry-After"] = str(math.ceil(wait))
        body = envelope(
            "RATE_LIMITED",
            "Too many requests; slow down.",
            {"retry_after_ms": math.ceil(wait * 1000)},
        )
    elif isinstance(exc, exceptions.APIException):
        status = exc.status_code
        body = envelope(str(exc.default_code).upper(), str(exc.detail))
    else:
        logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
        status, body = 500, envelope("INTERNAL_ERROR", "Something went wrong on our side.")
    if status in (401,) and "WWW-Authenticate" not in headers:
        headers["WWW-Authenticate"] = "x-api-key"
    return Response(body, status=status, headers=headers)


def payload_too_large() -> dict:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return envelope(
        "PAYLOAD_TOO_LARGE",
        f"The body is larger than the {limit} bytes this API accepts.",
        {"maxBytes": limit},
    )


def json_bad_request(request, exception=None) -> JsonResponse:
    """Django's 400 for what fails before a view runs (a ``Host`` not in ALLOWED_HOSTS, a
    body too large for a middleware to read), in the envelope."""
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(payload_too_large(), status=413)
    return JsonResponse(envelope("BAD_REQUEST", "The request could not be understood."), status=400)


def json_not_found(request, exception=None) -> JsonResponse:
    return JsonResponse(envelope("NOT_FOUND", "No such route."), status=404)


def json_server_error(request) -> JsonResponse:
    return JsonResponse(envelope("INTERNAL_ERROR", "Something went wrong on our side."), status=500)
