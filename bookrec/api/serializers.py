import re
from functools import lru_cache

from django.utils.module_loading import import_string
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from bookrec import indexing
from bookrec.conf import bookrec_settings
from bookrec.models import Book
from bookrec.ranking import Mode
from bookrec.rerank import reranking_enabled
from bookrec.taste import Strategy

# PostgreSQL cannot store NUL; other control characters are never meant in a catalogue.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_SUMMARY_CHARS = 50_000
MAX_PAGE_SIZE = 100


def reject_control_characters(value):
    if CONTROL_CHARACTERS.search(value or ""):
        raise serializers.ValidationError("Contains control characters.")
    return value


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


class BookSerializer(serializers.ModelSerializer):
    # What the book is about is what it is recommended by: the API takes no book without it
    # (catalogue imports may, and mark such books skipped).
    summary = serializers.CharField(
        max_length=MAX_SUMMARY_CHARS, validators=[reject_control_characters], trim_whitespace=True,
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
            "title": {"validators": [reject_control_characters]},
            "author": {"validators": [reject_control_characters]},
        }


class BookSummarySerializer(serializers.ModelSerializer):
    """A book as it appears inside a list of recommendations."""

    class Meta:
        model = Book
        fields = ["id", "external_id", "title", "author", "language", "subjects", "year"]


class RecommendationSerializer(serializers.Serializer):
    """One result: the object, its similarity to the query and its score."""

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
    rerank = serializers.BooleanField(
        required=False, allow_null=True, default=None,
        help_text="Rerank the top candidates with the configured reranker (default: whenever one is configured); "
        "true is a 400 where none is.",
    )

    def validate_rerank(self, value):
        if value and not reranking_enabled():
            raise serializers.ValidationError("No reranker is configured (RERANK_BASE_URL is empty).")
        return value

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
    q = serializers.CharField(
        trim_whitespace=True, validators=[reject_control_characters], help_text="What the reader is looking for.",
    )

    def validate_q(self, value):
        if len(value) > bookrec_settings.MAX_QUERY_CHARS:
            raise serializers.ValidationError(
                f"Ensure this field has no more than {bookrec_settings.MAX_QUERY_CHARS} characters."
            )
        return value

    def validate(self, attrs):
        mode = attrs.get("mode") or bookrec_settings.SEARCH_MODE
        if mode == Mode.KEYWORD and attrs.get("min_similarity") is not None:
            raise serializers.ValidationError(
                {"min_similarity": ["Needs a query vector: use mode vector or hybrid."]}
            )
        return attrs


class FiltersSerializer(serializers.Serializer):
    """The model's filters by name, each value as it would be in a query string."""

    # filters_serializer_class adds the fields; the model's FilterSet validates the values.

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        if unknown:
            raise serializers.ValidationError({name: ["Unknown filter."] for name in unknown})
        return super().to_internal_value(data)


@lru_cache(maxsize=None)
def filters_serializer_class(filterset_class):
    fields = {
        # Blank is no value, as in a query string: a 400 naming it.
        name: serializers.CharField(required=False, min_length=1, help_text=str(declared.extra.get("help_text") or ""))
        for name, declared in filterset_class.base_filters.items()
    }
    return type(f"{filterset_class._meta.model.__name__}FiltersSerializer", (FiltersSerializer,), fields)


class TasteSerializer(RankingOptionsSerializer):
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
