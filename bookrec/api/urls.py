from django.urls import path, re_path
from django.urls.resolvers import RoutePattern
from rest_framework.routers import DefaultRouter

from bookrec.api.views import BOOK_ENDPOINT, BookViewSet, SearchView, SimilarView, TasteView

# Path converters, so that ids are integers in the schema too; no ".json" suffixes, which the
# other endpoints never had (``?format=json`` works everywhere).
router = DefaultRouter(use_regex_path=False)
router.include_format_suffixes = False
router.register("books", BookViewSet, basename="book")


def slashless_twin(pattern):
    """The pattern without its trailing slash, to the same view, unnamed and left out of the
    schema; None for a pattern that ends otherwise. A write to ``recommendations`` must not
    depend on APPEND_SLASH: Django answers it with a 500 under DEBUG, else with a redirect
    that turns the POST into a GET."""
    route = str(pattern.pattern)
    view = pattern.callback
    hidden = type(view.cls.__name__, (view.cls,), {"schema": None})  # DRF's "not in the schema"
    actions = [view.actions] if getattr(view, "actions", None) else []
    callback = hidden.as_view(*actions, **view.initkwargs)
    if isinstance(pattern.pattern, RoutePattern):
        return path(route[:-1], callback, pattern.default_args) if route.endswith("/") else None
    return re_path(route[:-2] + "$", callback, pattern.default_args) if route.endswith("/$") else None


def with_slashless_twins(patterns):
    return patterns + [twin for twin in map(slashless_twin, patterns) if twin is not None]


urlpatterns = with_slashless_twins(router.urls + [
    path("books/<int:pk>/similar/", SimilarView.as_view(**BOOK_ENDPOINT), name="book-similar"),
    path("search/", SearchView.as_view(**BOOK_ENDPOINT), name="search"),
    path("recommendations/", TasteView.as_view(**BOOK_ENDPOINT), name="recommendations"),
    # Any registered model, named as app_label.modelname (404 when it is not registered).
    path("models/<str:model>/<int:pk>/similar/", SimilarView.as_view(), name="model-similar"),
    path("models/<str:model>/search/", SearchView.as_view(), name="model-search"),
    path("models/<str:model>/recommendations/", TasteView.as_view(), name="model-recommendations"),
])
