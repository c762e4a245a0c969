"""The browser's language for the portal and the console, never for the API."""

from django.conf import settings
from django.middleware.locale import LocaleMiddleware
from django.utils import translation


class PortalLocaleMiddleware(LocaleMiddleware):
    """Django's ``LocaleMiddleware`` (Accept-Language, or the language cookie set by
    ``/i18n/setlang/``) for the pages people read, so amounts are read and shown the way they
    write them. The API answers in the contract's one language and plain decimal strings
    whatever the client's Accept-Language says."""

    def process_request(self, request):
        if request.path_info.startswith("/api/"):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()
            return None
        return super().process_request(request)

    def process_response(self, request, response):
        if request.path_info.startswith("/api/"):
            return response
        return super().process_response(request, response)
