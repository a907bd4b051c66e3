from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.generics import get_object_or_404
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from bookrec import indexing, recommend, recommendations, search, tasks, taste
from bookrec.api.filters import BookFilterSet, BookListFilterSet
from bookrec.api.serializers import (
    BookFiltersSerializer,
    BookSerializer,
    MAX_PAGE_SIZE,
    ExamplesNotEmbeddedSerializer,
    ModeOptionsSerializer,
    NotEmbeddedSerializer,
    PageSizeSerializer,
    QueuedSerializer,
    RankingSerializer,
    SearchParamsSerializer,
    SearchUnavailableSerializer,
    TasteSerializer,
)
from bookrec.api.throttling import REEMBED_SCOPE, SEARCH_SCOPE, EmbeddingCallThrottle
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


def filtered_candidates(request, filterset_class=BookFilterSet):
    filterset = filterset_class(request.query_params, queryset=Book.objects.all(), request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


def checked(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer


def validated(serializer_class, data):
    return checked(serializer_class, data).validated_data


def reject_unknown_fields(data, known):
    """The JSON-body twin of ``reject_unknown_params``."""
    unknown = sorted(set(data) - set(known)) if isinstance(data, dict) else []
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in unknown})


class BookViewSet(viewsets.ModelViewSet):
    """The catalogue: anyone reads; staff with the book permissions write."""

    queryset = Book.objects.all()
    serializer_class = BookSerializer
    permission_classes = [permissions.DjangoModelPermissionsOrAnonReadOnly]
    pagination_class = BookPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = BookListFilterSet
    lookup_value_regex = r"\d+"
    throttle_scope = None  # set per action (bookrec.api.throttling)

    def filter_queryset(self, queryset):
        # No filter asked for: skip building and validating an empty filter form (a third of
        # a millisecond, on the hottest endpoint).
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None and not set(self.request.query_params) & set(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(queryset)

    def get_queryset(self):
        # The embedding state is shown with every book; the recommendations read the vectors
        # themselves, so the candidates need none of it.
        queryset = super().get_queryset()
        return indexing.with_embedding_state(queryset) if self.action in {"list", "retrieve"} else queryset

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
        parameters=[ModeOptionsSerializer],
        filters=True,  # a detail route: drf-spectacular documents its filters only when told
        responses={
            200: RankingSerializer,
            409: OpenApiResponse(NotEmbeddedSerializer, description="The book has no embedding yet (vector and hybrid modes)."),
        },
    )
    @action(
        detail=True, methods=["get"], pagination_class=None,
        filter_backends=[DjangoFilterBackend], filterset_class=BookFilterSet,
    )
    def similar(self, request, pk=None):
        """Books most like this one, the book itself excluded: by cosine similarity of their embeddings
        (`mode=vector`), full text (`keyword`) or both fused (`hybrid`); filters narrow the candidates and
        `limit` rows come back whenever that many match."""
        reject_unknown_params(request, [*ModeOptionsSerializer().fields, *BookFilterSet.base_filters])
        # The filters narrow the candidates, not the lookup of the book asked about.
        book = get_object_or_404(self.get_queryset(), pk=pk)
        self.check_object_permissions(request, book)
        params = checked(ModeOptionsSerializer, request.query_params)
        candidates = self.filter_queryset(self.get_queryset())
        try:
            found = recommend.similar(
                book, mode=params.validated_data.get("mode"), queryset=candidates, **params.ranking_options()
            )
        except recommendations.NotEmbedded as exc:
            return Response(
                {"detail": str(exc), "embedding_status": exc.status},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(RankingSerializer(found).data)

    @extend_schema(summary="Re-embed this book", request=None, responses={202: QueuedSerializer})
    @action(
        detail=True, methods=["post"], filter_backends=[], pagination_class=None,
        throttle_classes=[EmbeddingCallThrottle], throttle_scope=REEMBED_SCOPE,
    )
    def reembed(self, request, pk=None):
        """Queue the book's embedding again (needs the change permission)."""
        book = self.get_object()
        queued = tasks.reembed(Book.objects.filter(pk=book.pk))
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class SearchView(APIView):
    """Free-text search over the catalogue."""

    permission_classes = [permissions.AllowAny]
    throttle_classes = [EmbeddingCallThrottle]  # each new query costs an embedding
    throttle_scope = SEARCH_SCOPE

    @extend_schema(
        summary="Books about a text",
        parameters=[SearchParamsSerializer, BookFiltersSerializer],
        responses={
            200: RankingSerializer,
            503: OpenApiResponse(
                SearchUnavailableSerializer,
                description="The query could not be embedded (embedding server down) and keyword fallback is off.",
            ),
        },
    )
    def get(self, request):
        """The query is embedded as a query (with the embedder's query instruction; identical queries
        come from the cache) and matched against the books' embeddings (`mode=vector`), their full
        text (`keyword`), or both fused by reciprocal rank (`hybrid`)."""
        reject_unknown_params(request, [*SearchParamsSerializer().fields, *BookFilterSet.base_filters])
        params = checked(SearchParamsSerializer, request.query_params)
        candidates = filtered_candidates(request)
        try:
            found = recommend.search(
                Book, params.validated_data["q"], mode=params.validated_data.get("mode"),
                queryset=candidates, **params.ranking_options(),
            )
        except search.SearchUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(RankingSerializer(found).data)


class TasteRecommendationView(APIView):
    """Books for a reader's taste; a read-only computation, open to anyone."""

    permission_classes = [permissions.AllowAny]

    @extend_schema(
        summary="Books for a reader who liked (and disliked) some books",
        request=TasteSerializer,
        responses={
            200: RankingSerializer,
            409: OpenApiResponse(ExamplesNotEmbeddedSerializer, description="Some given books have no embedding yet."),
        },
    )
    def post(self, request):
        """Recommendations from books the reader liked (required) and disliked (optional), with
        Qdrant's `average_vector` or `best_score` strategy; the given books are never recommended back."""
        reject_unknown_fields(request.data, TasteSerializer().fields)
        params = checked(TasteSerializer, request.data)
        data = params.validated_data
        filterset = BookFilterSet(data.get("filters", {}), queryset=Book.objects.all())
        if not filterset.is_valid():
            raise ValidationError({"filters": filterset.errors})
        try:
            found = recommend.for_taste(
                data["liked"], data["disliked"], model=Book, strategy=data.get("strategy"),
                queryset=filterset.qs, **params.ranking_options(),
            )
        except taste.UnknownBooks as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        except taste.ExamplesNotEmbedded as exc:
            return Response({"detail": str(exc), "book_ids": exc.ids}, status=status.HTTP_409_CONFLICT)
        return Response(RankingSerializer(found).data)
