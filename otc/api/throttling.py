from rest_framework.throttling import SimpleRateThrottle

from accounts.authentication import Caller, client_ip


class ClientAddressMixin:
    """The client's address by the one rule the sign-in lockout uses too
    (``accounts.authentication.client_ip``: forwarding headers only from trusted proxies)."""

    def get_ident(self, request) -> str:
        return client_ip(request) or "unknown"


class CustomerRateThrottle(ClientAddressMixin, SimpleRateThrottle):
    """Requests per customer (all their keys and users together), counted in the shared
    cache (Redis in production) so every web process enforces one limit."""

    scope = "customer"

    def get_cache_key(self, request, view):
        caller = request.user
        if isinstance(caller, Caller):
            ident = f"customer:{caller.customer.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class TokenRateThrottle(ClientAddressMixin, SimpleRateThrottle):
    """Token requests per client address: slows password guessing."""

    scope = "token"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
