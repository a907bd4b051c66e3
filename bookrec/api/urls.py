from django.urls import path
from rest_framework.routers import DefaultRouter

from bookrec.api.views import BookViewSet, SearchView, TasteRecommendationView

router = DefaultRouter()
router.register("books", BookViewSet, basename="book")

urlpatterns = router.urls + [
    path("search/", SearchView.as_view(), name="search"),
    path("recommendations/", TasteRecommendationView.as_view(), name="recommendations"),
]
