from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="bookrec:docs", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/", include("bookrec.urls")),  # the API, its schema (api/schema/) and docs (api/docs/)
]
