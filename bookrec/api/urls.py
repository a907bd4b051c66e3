from django.urls import path
from rest_framework.routers import DefaultRouter

from bookrec.api.views import BOOK_ENDPOINT, BookViewSet, SearchView, SimilarView, TasteView

router = DefaultRouter()
router.register("books", BookViewSet, basename="book")

urlpatterns = router.urls + [
    path("books/<int:pk>/similar/", SimilarView.as_view(**BOOK_ENDPOINT), name="book-similar"),
    path("search/", SearchView.as_view(**BOOK_ENDPOINT), name="search"),
    path("recommendations/", TasteView.as_view(**BOOK_ENDPOINT), name="recommendations"),
    # Any registered model, named as app_label.modelname (404 when it is not registered).
    path("models/<str:model>/<int:pk>/similar/", SimilarView.as_view(), name="model-similar"),
    path("models/<str:model>/search/", SearchView.as_view(), name="model-search"),
    path("models/<str:model>/recommendations/", TasteView.as_view(), name="model-recommendations"),
]
