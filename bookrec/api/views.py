"""bookrec's endpoints: the Book catalogue, and the rankings of any registered model.

The ranking views serve the model the URL names (``models/<app_label.modelname>/...``) or the
one they are bound to: the Book endpoints (``books/<pk>/similar/``, ``search/``,
``recommendations/``) are the same views bound to ``bookrec.Book`` (``BOOK_ENDPOINT``).
"""

from functools import cached_property

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, DjangoModelPermissions
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from bookrec import indexing, recommend, recommendations, search, tasks, taste
from bookrec.api.base import BookrecView, ChangePermission
from bookrec.api.filters import BookListFilterSet
from bookrec.api.openapi import BookrecAutoSchema
from bookrec.api.serializers import (
    MAX_PAGE_SIZE,
    AnyObjectSerializer,
    BookSerializer,
    ModeOptionsSerializer,
    NotEmbeddedSerializer,
    PageNumberSerializer,
    PageSizeSerializer,
    QueuedSerializer,
    SearchParamsSerializer,
    SearchUnavailableSerializer,
    TasteSerializer,
    examples_not_embedded_serializer_class,
    object_serializer_class,
    ranking_serializer_class,
    taste_serializer_class,
)
from bookrec.api.throttling import REEMBED_SCOPE, SEARCH_SCOPE
from bookrec.models import Book
from bookrec.registry import registration_for

# The ranking views as the Book endpoints: bound to bookrec.Book, each result's object a "book".
BOOK_ENDPOINT = {"model_label": "bookrec.Book", "noun": "book"}


class BookPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE

    def get_page_number(self, request, paginator):
        # A page that is no number is the client's mistake (400 naming it); a number past the
        # last page stays DRF's 404.
        number = request.query_params.get(self.page_query_param) or 1
        if number in self.last_page_strings:
            return paginator.num_pages
        return validated(PageNumberSerializer, {"page": number})["page"]

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.page_query_param: {"minimum": 1}, self.page_size_query_param: {"minimum": 1, "maximum": self.max_page_size}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters

    def get_page_size(self, request):
        # DRF ignores a page_size it cannot use; a client that asked for one is told why.
        return validated(PageSizeSerializer, request.query_params).get("page_size", self.page_size)


def check_query_params(request, known):
    """A 400 naming each query parameter that is unknown (a misspelt filter must not silently
    widen a query), given more than once (which one would count?) or blank (``?mode=``: DRF and
    django-filter would read it as absent). DRF's own ``?format=`` (the browsable API links to
    it) is known everywhere."""
    params = request.query_params
    errors = {name: ["Unknown query parameter."] for name in set(params) - {*known, api_settings.URL_FORMAT_OVERRIDE}}
    for name in set(params) - set(errors):
        values = params.getlist(name)
        if len(values) > 1:
            errors[name] = ["Given more than once."]
        elif values == [""]:
            errors[name] = ["This field may not be blank."]
    if errors:
        raise ValidationError(dict(sorted(errors.items())))


def filtered(filterset_class, data, queryset, *, request=None, field=None):
    """``queryset`` narrowed by the filters in ``data`` (query parameters, or a JSON object); a
    bad value is a 400 naming the filter (inside ``field``, when given)."""
    if not set(data) & set(filterset_class.base_filters):
        return queryset  # no filter asked for: no form to build and validate
    filterset = filterset_class(data, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise ValidationError({field: filterset.errors} if field else filterset.errors)
    return filterset.qs


def checked(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer


def validated(serializer_class, data):
    return checked(serializer_class, data).validated_data


class BookViewSet(BookrecView, viewsets.ModelViewSet):
    """The catalogue: read as the site's policy allows; written only with the book permissions."""

    queryset = Book.objects.all()
    serializer_class = BookSerializer
    pagination_class = BookPagination
    filter_backends = [DjangoFilterBackend]
    filterset_class = BookListFilterSet
    lookup_value_converter = "int"

    def required_permission_classes(self):
        if self.action == "reembed":
            return [ChangePermission]
        return [] if self.request.method in SAFE_METHODS else [DjangoModelPermissions]

    def filter_queryset(self, queryset):
        # No filter asked for: skip building and validating an empty filter form (a third of
        # a millisecond, on the hottest endpoint).
        if not set(self.request.query_params) & set(self.filterset_class.base_filters):
            return queryset
        return super().filter_queryset(queryset)

    def paginate_queryset(self, queryset):
        # Each book is shown with its embedding state: read for the whole page in one query
        # (annotating it costs four subqueries to compile on every request).
        return indexing.attach_embedding_states(super().paginate_queryset(queryset))

    def retrieve(self, request, *args, **kwargs):
        check_query_params(request, [])
        return super().retrieve(request, *args, **kwargs)

    def list(self, request, *args, **kwargs):
        check_query_params(
            request, [*BookListFilterSet.base_filters, "page", BookPagination.page_size_query_param]
        )
        return super().list(request, *args, **kwargs)

    def documented_responses(self):
        """What ``reembed`` answers (None: drf-spectacular's default for the other actions)."""
        return {202: QueuedSerializer} if self.action == "reembed" else None

    # The action names its schema for extend_schema to build on: otherwise it would build on the
    # site's DEFAULT_SCHEMA_CLASS (DRF's own, unless the site uses drf-spectacular).
    @extend_schema(summary="Re-embed this book", request=None)
    @action(
        detail=True, methods=["post"], filter_backends=[], pagination_class=None,
        embedding_call_scope=REEMBED_SCOPE, schema=BookrecAutoSchema(),
    )
    def reembed(self, request, pk=None):
        """Queue the book's embedding again (needs the change permission)."""
        book = self.get_object()
        queued = tasks.reembed(Book.objects.filter(pk=book.pk))
        return Response({"queued": queued}, status=status.HTTP_202_ACCEPTED)


class RankingView(BookrecView, APIView):
    """A ranking of the objects of one registered model: the one the view is bound to
    (``model_label``), else the one the URL's ``model`` names (404 when none is registered)."""

    model_label = None
    noun = "object"  # what each result calls its object
    summary = ""  # for the schema; "{objects}" is the noun's plural
    filters_in_query = True  # the model's filters are query parameters (not in a JSON body)
    parameters = ()  # the serializers of the query parameters, for the schema

    @cached_property
    def registration(self):
        label = self.model_label or self.kwargs.get("model")
        try:
            return registration_for(label)
        except (LookupError, ValueError) as exc:
            raise NotFound(f"{label!r} is not a model registered with bookrec.") from exc

    def get_queryset(self):
        """The registered model's objects (what the site's model-permission classes look at)."""
        return self.registration.objects()

    @property
    def filterset_class(self):
        """The registration's FilterSet (what drf-spectacular's django-filter support reads)."""
        return self.registration.filterset_class

    def ranking_serializer(self, registration):
        objects = AnyObjectSerializer if registration is None else object_serializer_class(registration)
        return ranking_serializer_class(self.noun, objects)

    def ranking_response(self, found):
        return Response(self.ranking_serializer(self.registration)(found).data)

    # -- what the schema (bookrec.api.openapi.BookrecAutoSchema) asks -----------------------

    def documented_registration(self):
        """The bound model's registration; None for a ``{model}`` path (or an unregistered model)."""
        try:
            return registration_for(self.model_label) if self.model_label else None
        except LookupError:
            return None

    def documented_summary(self):
        return self.summary.format(objects=f"{self.noun.capitalize()}s")

    def documented_parameters(self):
        return list(self.parameters)

    def documented_filter_backends(self):
        return [DjangoFilterBackend] if self.filters_in_query and self.documented_registration() else []

    def documented_request(self):
        return None


class SimilarView(RankingView):
    summary = "{objects} like this one"
    parameters = [ModeOptionsSerializer]

    def get(self, request, pk, model=None):
        """The objects most like this one, itself excluded: by cosine similarity of their embeddings
        (`mode=vector`), full text (`keyword`) or both fused (`hybrid`); the model's filters narrow the
        candidates and `limit` results come back whenever that many match."""
        registration = self.registration
        check_query_params(request, [*ModeOptionsSerializer().fields, *registration.filterset_class.base_filters])
        # The filters narrow the candidates, not the lookup of the object asked about.
        obj = get_object_or_404(registration.objects(), pk=pk)
        self.check_object_permissions(request, obj)
        params = checked(ModeOptionsSerializer, request.query_params)
        candidates = filtered(registration.filterset_class, request.query_params, registration.objects(), request=request)
        try:
            found = recommend.similar(
                obj, mode=params.validated_data.get("mode"), queryset=candidates, **params.ranking_options()
            )
        except recommendations.NotEmbedded as exc:
            return Response({"detail": str(exc), "embedding_status": exc.status}, status=status.HTTP_409_CONFLICT)
        return self.ranking_response(found)

    def documented_responses(self):
        return {
            200: self.ranking_serializer(self.documented_registration()),
            409: OpenApiResponse(NotEmbeddedSerializer, description="The object has no embedding yet (vector and hybrid modes)."),
        }


class SearchView(RankingView):
    summary = "{objects} about a text"
    parameters = [SearchParamsSerializer]
    embedding_call_scope = SEARCH_SCOPE  # each new query costs an embedding

    def get(self, request, model=None):
        """The query is embedded as a query (with the embedder's query instruction; identical queries
        come from the cache) and matched against the objects' embeddings (`mode=vector`), their full
        text (`keyword`), or both fused by reciprocal rank (`hybrid`); the model's filters narrow the
        candidates."""
        registration = self.registration
        check_query_params(request, [*SearchParamsSerializer().fields, *registration.filterset_class.base_filters])
        params = checked(SearchParamsSerializer, request.query_params)
        candidates = filtered(registration.filterset_class, request.query_params, registration.objects(), request=request)
        try:
            found = recommend.search(
                registration.model, params.validated_data["q"], mode=params.validated_data.get("mode"),
                queryset=candidates, **params.ranking_options(),
            )
        except search.SearchUnavailable as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return self.ranking_response(found)

    def documented_responses(self):
        return {
            200: self.ranking_serializer(self.documented_registration()),
            503: OpenApiResponse(
                SearchUnavailableSerializer,
                description="The query could not be embedded (embedding server down) and keyword fallback is off.",
            ),
        }


class TasteView(RankingView):
    """A read-only computation: no model permission needed, whatever the method."""

    summary = "{objects} for a reader who liked (and disliked) some"
    filters_in_query = False

    def taste_serializer(self, registration):
        return TasteSerializer if registration is None else taste_serializer_class(registration.filterset_class)

    def post(self, request, model=None):
        """Recommendations from objects the reader liked (required) and disliked (optional), with
        Qdrant's `average_vector` or `best_score` strategy; the given objects are never recommended back."""
        registration = self.registration
        serializer_class = self.taste_serializer(registration)
        params = checked(serializer_class, request.data)
        data = params.validated_data
        candidates = filtered(registration.filterset_class, data.get("filters", {}), registration.objects(), field="filters")
        try:
            found = recommend.for_taste(
                data["liked"], data["disliked"], model=registration.model, strategy=data.get("strategy"),
                queryset=candidates, **params.ranking_options(),
            )
        except taste.UnknownBooks as exc:
            raise ValidationError({exc.field: [str(exc)]}) from exc
        except taste.ExamplesNotEmbedded as exc:
            return Response({"detail": str(exc), f"{self.noun}_ids": exc.ids}, status=status.HTTP_409_CONFLICT)
        return self.ranking_response(found)

    def documented_request(self):
        return self.taste_serializer(self.documented_registration())

    def documented_responses(self):
        return {
            200: self.ranking_serializer(self.documented_registration()),
            409: OpenApiResponse(
                examples_not_embedded_serializer_class(self.noun), description="Some given objects have no embedding yet."
            ),
        }
