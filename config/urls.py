from django.contrib import admin
from django.urls import include, path, re_path

from otc.api.views import UnknownRouteApi
from otc.health import healthz
from otc.web.status import status_page

urlpatterns = [
    path("api/v1/", include("otc.api.urls")),
    re_path(r"^api/", UnknownRouteApi.as_view()),  # other API versions: the JSON 404 too
    path("healthz", healthz, name="healthz"),
    path("status", status_page, name="status"),
    path("admin/", admin.site.urls),
    path("", include("otc.web.urls")),
]

handler400 = "otc.web.errors.bad_request"
handler403 = "otc.web.errors.forbidden"
handler404 = "otc.web.errors.not_found"
handler500 = "otc.web.errors.server_error"
