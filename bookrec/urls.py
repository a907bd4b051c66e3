"""Include with ``path("api/", include("bookrec.urls"))``."""

from django.urls import include, path

app_name = "bookrec"

urlpatterns = [path("", include("bookrec.api.urls"))]
