from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from library_site.views import BookDetailView, BookListView

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="book-list", permanent=False)),
    path("books/", BookListView.as_view(), name="book-list"),
    path("books/<int:pk>/", BookDetailView.as_view(), name="book-detail"),
    path("admin/", admin.site.urls),
    path("api/", include("bookrec.urls")),  # the API, its schema (api/schema/) and docs (api/docs/)
]

handler404 = "library_site.views.not_found"
