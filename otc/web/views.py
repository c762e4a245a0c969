"""The one sign-in page for customer users and operators."""

from django.contrib.auth import views as auth_views
from django.urls import reverse


def home_for(user) -> str:
    """Where a signed-in user belongs: staff to the operator console, customers to the portal."""
    return reverse("ops:queue") if user.is_staff else reverse("portal:dashboard")


class SignInView(auth_views.LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def get_default_redirect_url(self) -> str:
        return home_for(self.request.user)

    def get_redirect_url(self) -> str:
        # A ?next= pointing at the other side's pages would just bounce; go home instead.
        target = super().get_redirect_url()
        user = self.request.user
        if target and user.is_authenticated:
            is_ops_target = target.startswith("/ops/") or target.startswith("/admin/")
            if is_ops_target != user.is_staff:
                return ""
        return target


class SignOutView(auth_views.LogoutView):
    next_page = "/login/"
