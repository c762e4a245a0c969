from django.urls import include, path

from . import views

urlpatterns = [
    path("login/", views.SignInView.as_view(), name="login"),
    path("logout/", views.SignOutView.as_view(), name="logout"),
    path("ops/", include("otc.ops.urls")),
    path("webhooks/", include("otc.webhooks.portal_urls")),
    path("", include("otc.portal.urls")),
]
