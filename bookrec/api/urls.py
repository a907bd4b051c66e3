from rest_framework.routers import DefaultRouter

from bookrec.api.views import BookViewSet

router = DefaultRouter()
router.register("books", BookViewSet, basename="book")

urlpatterns = router.urls
