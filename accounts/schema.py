"""OpenAPI descriptions of the API's ways in (drf-spectacular extensions)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "x-api-key",
            "description": "A customer API key: sk_test_… or sk_live_…",
        }


class SessionJwtScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.SessionJwtAuthentication"
    name = "BearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A session token from POST /api/v1/auth/token.",
        }


class PortalSessionScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.PortalSessionAuthentication"
    name = "PortalSession"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "The portal's session; unsafe methods also need X-CSRF-Token.",
        }
