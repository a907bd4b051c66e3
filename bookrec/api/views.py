from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings

from bookrec import pipeline, recommendations
from bookrec.api.filters import BookFilterSet, BookListFilterSet
from bookrec.api.serializers import (
    BookSerializer,
    MAX_PAGE_SIZE,
    LimitSerializer,
    NotEmbeddedSerializer,
    PageSizeSerializer,
    QueuedSerializer,
    RecommendationListSerializer,
)
from bookrec.api.throttling import REEMBED_SCOPE, EmbeddingCallThrottle
from bookrec.models import Book


class CanChangeBooks(permissions.BasePermission):
    """Re-embedding is a change to the book: it needs ``bookrec.change_book``."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.has_perm("bookrec.change_book"))


class BookPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_size(self, request):
        # DRF ignores a page_size it cannot use; a client that asked for one is told why.
        return validated(PageSizeSerializer, request.query_params).get("page_size", self.page_size)


def reject_unknown_params(request, known):
    """A misspelt filter must not silently widen a query: answer 400 naming it.
    DRF's own ``?format=`` (the browsable API links to it) is known everywhere."""
    unknown = sorted(set(request.query_params) - {*known, api_settings.URL_FORMAT_OVERRIDE})
    if unknown:
        raise ValidationError({name: ["Unknown query parameter."] for name in unknown})


def validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def recommendation_response(found):
    return Response(RecommendationListSerializer({"results": found}).data)


class BookViewSet(viewsets.ModelViewSet):
    """The catalogue: anyone reads; staff with the book permissions write."""

    queryset = Book.objects.defer("embedding")  # no endpoint shows it; parsing it costs ~1 ms a book
    serializer_class = BookSerializer
    permission_classes = [permissions.DjangoModelPermissionsOrAnonReadOnly]
    pagination_class = BookPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = BookListFilterSet
    lookup_value_regex = r"\d+"
    throttle_scope = None  # set per action (bookrec.api.throttling)

    def get_permissions(self):
        if self.action == "reembed":
            return [CanChangeBooks()]
        return super().get_permissions()

    def retrieve(self, request, *args, **kwargs):
        reject_unknown_params(request, [])
        return super().retrieve(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        reject_unknown_params(
            request, [*BookListFilterSet.base_filters, "page", BookPagination.page_size_query_param]
        )
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="Books like this one",
        parameters=[LimitSerializer],
        filters=True,  # a detail route: drf-spectacular documents its filters only when told
        responses={
            200: RecommendationListSerializer,
            409: OpenApiResponse(NotEmbeddedSerializer, description="The book has no embedding yet."),
        },
    )
    @action(
        detail=True, methods=["get"], pagination_class=None,
        filter_backends=[DjangoFilterBackend], filterset_class=BookFilterSet,
    )
    def similar(self, request, pk=None):
        """Nearest books by cosine similarity of their summaries' embeddings, the book itself
        excluded; filters narrow the candidates and `limit` rows come back whenever that many match."""
        reject_unknown_params(request, ["limit", *BookFilterSet.base_filters])
        # The filters narrow the candidates, not the lookup of the book asked about.
        book = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(request, book)
        limit = validated(LimitSerializer, request.query_params).get("limit")
        candidates = self.filter_queryset(self.get_queryset())
        try:
            found = recommendations.similar_books(book, candidates=candidates, limit=limit)
        except recommendations.NotEmbedded as exc:
            return Response(
                {"detail": str(exc), "embedding_status": book.embedding_status},
                status=status.HTTP_409_CONFLICT,
            )
        return recommendation_response(found)

    @extend_schema(summary="Re-embed this book", request=None, responses={202: QueuedSerializer})
    @action(
        detail=True, methods=["post"], filter_backends=[], pagination_class=None,
        throttle_classes=[EmbeddingCallThrottle], throttle_scope=REEMBED_SCOPE,
    )
    def reembed(self, request, pk=None):
        """Queue the book's embedding again (needs the change permission)."""
        book = self.get_object()
        queued = pipeline.reembed(Book.objects.filter(pk=book.pk))
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)
