"""Template context for every console page."""

from django.http import HttpRequest


def reconciliation_alert(request: HttpRequest) -> dict:
    """How many reconciliation breaks are unresolved, for the banner on every console page
    (one count query, only for staff on /ops/)."""
    user = getattr(request, "user", None)
    if not (request.path.startswith("/ops/") and user and user.is_authenticated and user.is_staff):
        return {}
    from otc.reconciliation import unresolved_breaks

    return {"reconciliation_open_breaks": unresolved_breaks().count()}
