"""The example site's URLs plus the benchmark-only baselines (bench/views.py)."""

from django.urls import include, path

from bench import views

urlpatterns = [
    path("bench/exact-sql/<int:pk>/", views.exact_sql),
    path("bench/numpy-in-memory/<int:pk>/", views.numpy_in_memory),
    path("bench/naive-per-request/<int:pk>/", views.naive_per_request),
    path("bench/explain/<int:pk>/", views.explain),
    path("", include("library_site.urls")),
]
