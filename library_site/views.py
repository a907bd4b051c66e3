"""The example site's public pages: the catalogue with a search box, and each book with the books
most like it. They use bookrec's Python API (``bookrec.recommend``), its view mixin and its
template tags (``books/book_detail.html``), as a site's own pages would."""

from django.http import JsonResponse
from django.views import defaults
from django.views.generic import DetailView, ListView

from bookrec import recommend
from bookrec.conf import bookrec_settings
from bookrec.models import Book
from bookrec.search import SearchUnavailable
from bookrec.views import SimilarObjectsMixin


class BookListView(ListView):
    """The catalogue, page by page; ``?q=`` adds the books about that text."""

    model = Book
    paginate_by = 25
    template_name = "books/book_list.html"
    search_limit = 10

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.get("q", "").strip()[: bookrec_settings.MAX_QUERY_CHARS]
        context["query"] = query
        if query:
            try:
                context["found"] = recommend.search(Book, query, limit=self.search_limit)
            except SearchUnavailable:
                context["search_unavailable"] = True
        return context


class BookDetailView(SimilarObjectsMixin, DetailView):
    """One book, and the books most like it (``similar_objects``, empty while it has no vector)."""

    model = Book
    template_name = "books/book_detail.html"
    similar_limit = 5


def not_found(request, exception):
    """Under /api/, a JSON 404 like the API's own (a path whose id is no number never reaches
    a DRF view); elsewhere Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)
