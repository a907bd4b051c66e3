"""Include with ``path("api/", include("bookrec.urls"))``: the endpoints, their OpenAPI schema
(``schema/``) and its docs page (``docs/``, which needs ``"drf_spectacular"`` in INSTALLED_APPS
for its template)."""

from django.urls import include, path

from bookrec.api.openapi import DocsView, SchemaView

app_name = "bookrec"

urlpatterns = [
    path("", include("bookrec.api.urls")),
    path("schema/", SchemaView.as_view(), name="schema"),
    path("docs/", DocsView.as_view(), name="docs"),
]
