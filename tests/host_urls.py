"""A host site's URLconf for the tests: bookrec under a prefix of the site's choosing, beside
a DRF view of the site's own."""

from django.urls import include, path
from rest_framework.response import Response
from rest_framework.views import APIView


class HostView(APIView):
    def get(self, request):
        return Response({"host": True})


urlpatterns = [
    path("host/", HostView.as_view()),
    path("library/recommendations/", include("bookrec.urls")),
]
