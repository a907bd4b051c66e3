from collections.abc import Mapping
from functools import lru_cache

from django import forms
from django.core.validators import RegexValidator
from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookrec import indexing
from bookrec.catalogue import CONTROL_CHARACTER_RANGES, EARLIEST_YEAR, MAX_SUMMARY_CHARS, latest_year
from bookrec.conf import bookrec_settings
from bookrec.models import Book
from bookrec.ranking import Mode
from bookrec.rerank import reranking_enabled
from bookrec.taste import Strategy

MAX_PAGE_SIZE = 100


def no_control_characters(*, may_be_blank=False):
    """A validator refusing control characters, as a pattern the whole value must match (not a
    search for what it must not contain) so that the schema states it. A field that may not be
    blank needs more than whitespace (DRF trims it first); for one that may, the schema's other
    alternative is the empty string, which this pattern must not match too."""
    allowed = f"[^{CONTROL_CHARACTER_RANGES}]"
    some_text = allowed + "+" if may_be_blank else f"{allowed}*[^\\s{CONTROL_CHARACTER_RANGES}]{allowed}*"
    return RegexValidator(rf"\A{some_text}\Z", "Contains control characters.")


class KnownFieldsOnly:
    """A serializer mixin: a name the serializer does not know is an error naming it (a
    misspelt field must not be silently ignored); the schema says so (``additionalProperties:
    false``, ``bookrec.api.openapi``). Read-only names are known: a client may send back what it read."""

    unknown_field_message = "Unknown field."

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, Mapping) else []
        if unknown:
            raise serializers.ValidationError({name: [self.unknown_field_message] for name in unknown})
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "nullable": True, "readOnly": True})
class EmbeddingStateField(serializers.ReadOnlyField):
    """One of the embedding-state values ``indexing.attach_embedding_states`` sets (the list sets
    them for its whole page); a book without them (one book, one just written) is looked up."""

    def get_attribute(self, instance):
        if not hasattr(instance, self.source):
            indexing.attach_embedding_states([instance])
        return super().get_attribute(instance)


class StaffOnlyEmbeddingStateField(EmbeddingStateField):
    """An internal of the embedding (its error, the model, when): null unless staff ask."""

    def get_attribute(self, instance):
        request = self.context.get("request")
        if request is not None and not request.user.is_staff:
            return None
        return super().get_attribute(instance)


class BookSerializer(KnownFieldsOnly, serializers.ModelSerializer):
    """A book of the catalogue, with the state of its embedding."""

    # What the book is about is what it is recommended by: the API takes no book without it
    # (catalogue imports may, and mark such books skipped).
    summary = serializers.CharField(
        max_length=MAX_SUMMARY_CHARS, validators=[no_control_characters()], trim_whitespace=True,
    )
    subjects = serializers.ListField(
        child=serializers.CharField(max_length=200, validators=[no_control_characters()]), required=False,
        help_text="Subject headings, each as a whole (the books' subject filter matches one exactly).",
    )
    embedding_status = EmbeddingStateField()
    embedding_model = StaffOnlyEmbeddingStateField(help_text="The model of the stored vector (staff only: null for others).")
    embedding_error = StaffOnlyEmbeddingStateField(help_text="Why the last embedding failed (staff only: null for others).")
    embedded_at = StaffOnlyEmbeddingStateField(help_text="When the vector was stored (staff only: null for others).")

    class Meta:
        model = Book
        fields = [
            "id", "external_id", "title", "author", "summary", "language", "subjects", "year",
            "embedding_status", "embedding_model", "embedding_error", "embedded_at",
            "created_at", "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {
            "title": {"validators": [no_control_characters()]},
            "author": {"validators": [no_control_characters(may_be_blank=True)]},
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The bounds of every way in (bookrec.catalogue); next year's is read now, not at import.
        self.fields["year"] = serializers.IntegerField(
            allow_null=True, required=False, min_value=EARLIEST_YEAR, max_value=latest_year(),
            help_text="Year of first publication (before the common era: negative).",
        )


class BookSummarySerializer(serializers.ModelSerializer):
    """A book as it appears inside a list of recommendations."""

    class Meta:
        model = Book
        fields = ["id", "external_id", "title", "author", "language", "subjects", "year"]


class ExplanationSerializer(serializers.Serializer):
    """Why a result is recommended, from the ranking's own data."""

    found_by = serializers.ListField(
        child=serializers.ChoiceField(choices=["vector", "keyword"]),
        help_text="The first stage(s) that ranked it: vector (embedding similarity), keyword (full text) or both.",
    )
    matched_terms = serializers.ListField(
        child=serializers.CharField(),
        help_text="The query's words it shares, strongest first (at most five; keyword and hybrid modes).",
    )
    shared_subjects = serializers.ListField(
        child=serializers.CharField(),
        help_text="Its subjects that the book asked about (similar) or the liked books (taste) have too; "
        "empty for a free-text search.",
    )


class RecommendationSerializer(serializers.Serializer):
    """One result: the object, its similarity to the query, its score and why it is there."""

    # ranking_serializer_class adds the object itself, under its noun.

    similarity = serializers.FloatField(
        allow_null=True,
        help_text="Cosine similarity to the query, 1.0 = same direction; null when the query or the object has no vector.",
    )
    score = serializers.FloatField(
        allow_null=True, required=False,
        help_text="What the results are ordered by: the similarity (vector), the full-text score (keyword), "
        "the reciprocal-rank-fusion score (hybrid), the best-score strategy's score, or the reranker's score.",
    )
    explanation = ExplanationSerializer(read_only=True)


class ObjectSerializer(serializers.ModelSerializer):
    """An object of a registered model among recommendations, when its registration names no
    SERIALIZER: its id and its TEXT fields (``default_object_serializer`` adds the Meta)."""

    id = serializers.IntegerField(source="pk", read_only=True)


class AnyObjectSerializer(serializers.Serializer):
    """An object of the model the path names: its id, then its registration's TEXT fields, or
    what the registration's SERIALIZER gives."""

    id = serializers.IntegerField(read_only=True)


@lru_cache(maxsize=None)
def default_object_serializer(model, text_fields):
    fields = list(dict.fromkeys(["id", *text_fields]))
    meta = type("Meta", (), {"model": model, "fields": fields, "read_only_fields": list(text_fields)})
    return type(f"Recommended{model.__name__}Serializer", (ObjectSerializer,), {"Meta": meta, "__module__": __name__})


def object_serializer_class(registration):
    """How the API shows an object of ``registration``'s model: its SERIALIZER, or its id and TEXT."""
    if registration.serializer:
        return import_string(registration.serializer)
    return default_object_serializer(registration.model, tuple(registration.text_fields))


@lru_cache(maxsize=None)
def ranking_serializer_class(noun, object_serializer_class):
    """A ranking endpoint's answer: ``results`` (each with its object under ``noun``: "book" on
    the Book endpoints, "object" on those of any model), the mode, and whether reranked."""
    name = object_serializer_class.__name__.removesuffix("Serializer")
    # The field reads the Recommendation's ``object`` (DRF refuses a source equal to the name).
    source = {} if noun == "object" else {"source": "object"}
    recommendation = type(
        f"{name}RecommendationSerializer", (RecommendationSerializer,), {noun: object_serializer_class(**source)}
    )
    return type(f"{name}RankingSerializer", (serializers.Serializer,), {
        "results": recommendation(many=True),
        "mode": serializers.ChoiceField(choices=Mode.choices, help_text="The mode that produced these results."),
        "reranked": serializers.BooleanField(help_text="Whether the reranker re-ordered the results."),
        "notice": serializers.CharField(
            allow_blank=True, help_text="Why the answer differs from what was asked (e.g. a keyword fallback); usually empty."
        ),
    })


class LimitSerializer(serializers.Serializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Its bound is a setting: made with the serializer (not at import), so the schema says it.
        self.fields["limit"] = serializers.IntegerField(
            required=False, min_value=1, max_value=bookrec_settings.MAX_LIMIT,
            help_text=f"How many results to return (default {bookrec_settings.DEFAULT_LIMIT}).",
        )


class PageSizeSerializer(serializers.Serializer):
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)


class PageNumberSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1)


class NotEmbeddedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    embedding_status = serializers.CharField()


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField()


class RerankField(serializers.BooleanField):
    """Whether to rerank: true is an error where no reranker is configured (the schema says so
    too, ``bookrec.api.openapi.RerankFieldExtension``)."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not reranking_enabled():
            raise serializers.ValidationError("No reranker is configured (RERANK_BASE_URL is empty).")
        return value


class RankingOptionsSerializer(LimitSerializer):
    """What every ranking endpoint accepts besides its query."""

    min_similarity = serializers.FloatField(
        required=False, min_value=-1.0, max_value=1.0,
        help_text="Leave out results whose cosine similarity to the query is lower.",
    )
    diversity = serializers.FloatField(
        required=False, min_value=0.0, max_value=1.0, default=0.0,
        help_text="Maximal marginal relevance: 0 (default) keeps the relevance order, higher values "
        "trade relevance for variety among the results.",
    )
    max_per_author = serializers.IntegerField(
        required=False, min_value=1, help_text="At most this many results by one author (models with an AUTHOR field).",
    )
    rerank = RerankField(
        required=False, allow_null=True, default=None,
        help_text="Rerank the top candidates with the configured reranker (default: whenever one is configured); "
        "true is a 400 where none is.",
    )

    def ranking_options(self):
        """The options as ``bookrec.recommend``'s keyword arguments."""
        data = self.validated_data
        return {
            "limit": data.get("limit"), "min_similarity": data.get("min_similarity"),
            "diversity": data.get("diversity", 0.0), "max_per_author": data.get("max_per_author"),
            "rerank": data.get("rerank"),
        }


class ModeOptionsSerializer(RankingOptionsSerializer):
    mode = serializers.ChoiceField(
        choices=Mode.choices, required=False,
        help_text="vector (embeddings), keyword (full text) or hybrid (both, fused by reciprocal rank).",
    )


class SearchParamsSerializer(ModeOptionsSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Its bound is a setting, like limit's.
        self.fields["q"] = serializers.CharField(
            trim_whitespace=True, max_length=bookrec_settings.MAX_QUERY_CHARS, validators=[no_control_characters()],
            help_text="What the reader is looking for.",
        )

    def validate(self, attrs):
        mode = attrs.get("mode") or bookrec_settings.SEARCH_MODE
        if mode == Mode.KEYWORD and attrs.get("min_similarity") is not None:
            raise serializers.ValidationError(
                {"min_similarity": ["Needs a query vector: use mode vector or hybrid."]}
            )
        return attrs


class FiltersSerializer(KnownFieldsOnly, serializers.Serializer):
    """The model's filters by name, each value of the type its query parameter has."""

    # filters_serializer_class adds the fields; the model's FilterSet validates the values.
    unknown_field_message = "Unknown filter."


def filter_value_field(declared):
    """The serializer field of one filter's value in a JSON body: the type its form field reads,
    with the same bounds (so the schema states them; the FilterSet still validates the value)."""
    form_field = declared.field
    options = {"required": False, "help_text": str(declared.extra.get("help_text") or "")}
    bounds = {"min_value": form_field.min_value, "max_value": form_field.max_value} if hasattr(form_field, "min_value") else {}
    # Django's DecimalField and FloatField are IntegerFields too: the decimal ones first.
    if isinstance(form_field, (forms.DecimalField, forms.FloatField)):
        return serializers.FloatField(**bounds, **options)
    if isinstance(form_field, forms.IntegerField):
        return serializers.IntegerField(**bounds, **options)
    if isinstance(form_field, forms.NullBooleanField):
        return serializers.BooleanField(**options)
    if isinstance(form_field, forms.ChoiceField):
        return serializers.ChoiceField(choices=[choice for choice in form_field.choices if choice[0] != ""], **options)
    # Blank is no value, as in a query string: a 400 naming it. Untrimmed: the FilterSet's form
    # trims, and reads whitespace alone as no filter, as it does in a query string.
    return serializers.CharField(
        min_length=1, max_length=getattr(form_field, "max_length", None), trim_whitespace=False, **options
    )


@lru_cache(maxsize=None)
def filters_serializer_class(filterset_class):
    fields = {name: filter_value_field(declared) for name, declared in filterset_class.base_filters.items()}
    return type(f"{filterset_class._meta.model.__name__}FiltersSerializer", (FiltersSerializer,), fields)


class TasteSerializer(KnownFieldsOnly, RankingOptionsSerializer):
    """What a reader liked (and disliked), and how to rank for them."""

    liked = serializers.ListField(
        child=serializers.IntegerField(min_value=1), min_length=1, help_text="Ids of objects the reader liked.",
    )
    disliked = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, default=list,
        help_text="Ids of objects the reader disliked.",
    )
    strategy = serializers.ChoiceField(
        choices=Strategy.choices, required=False,
        help_text="average_vector: one query vector, avg(liked) + (avg(liked) - avg(disliked)); best_score: each "
        "candidate scored by its best similarity to a liked book against its best to a disliked one.",
    )
    filters = serializers.DictField(
        child=serializers.CharField(), required=False,
        help_text="Narrow the candidates: the model's filters by name, as the query parameters of the other endpoints.",
    )

    def validate(self, attrs):
        liked, disliked = attrs["liked"], attrs.get("disliked", [])
        if len(set(liked) | set(disliked)) > bookrec_settings.MAX_TASTE_EXAMPLES:
            raise serializers.ValidationError(
                {"liked": [f"At most {bookrec_settings.MAX_TASTE_EXAMPLES} liked and disliked objects together."]}
            )
        both = sorted(set(liked) & set(disliked))
        if both:
            raise serializers.ValidationError(
                {"disliked": [f"Also in liked: {', '.join(map(str, both))}."]}
            )
        return attrs


@lru_cache(maxsize=None)
def taste_serializer_class(filterset_class):
    """The reader's-taste body of one model: its filters named and described."""
    filters = filters_serializer_class(filterset_class)(
        required=False, help_text="Narrow the candidates, as on the other endpoints."
    )
    return type(f"{filterset_class._meta.model.__name__}TasteSerializer", (TasteSerializer,), {"filters": filters})


class SearchUnavailableSerializer(serializers.Serializer):
    detail = serializers.CharField()


@lru_cache(maxsize=None)
def examples_not_embedded_serializer_class(noun):
    """The 409 of a reader's taste: which given objects have no vector (``book_ids`` on the Book endpoint)."""
    return type(f"{noun.capitalize()}ExamplesNotEmbeddedSerializer", (serializers.Serializer,), {
        "detail": serializers.CharField(),
        f"{noun}_ids": serializers.ListField(child=serializers.IntegerField()),
    })
