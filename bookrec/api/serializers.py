import re

from rest_framework import serializers

from bookrec.conf import bookrec_settings
from bookrec.models import Book

# PostgreSQL cannot store NUL; other control characters are never meant in a catalogue.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_SUMMARY_CHARS = 50_000
MAX_PAGE_SIZE = 100


def reject_control_characters(value):
    if CONTROL_CHARACTERS.search(value or ""):
        raise serializers.ValidationError("Contains control characters.")
    return value


class BookSerializer(serializers.ModelSerializer):
    # What the book is about is what it is recommended by: the API takes no book without it
    # (catalogue imports may, and mark such books skipped).
    summary = serializers.CharField(
        max_length=MAX_SUMMARY_CHARS, validators=[reject_control_characters], trim_whitespace=True,
    )

    class Meta:
        model = Book
        fields = [
            "id", "external_id", "title", "author", "summary", "language", "subjects", "year",
            "embedding_status", "embedding_model", "embedding_error", "embedded_at",
            "created_at", "updated_at",
        ]
        read_only_fields = [
            "embedding_status", "embedding_model", "embedding_error", "embedded_at", "created_at", "updated_at",
        ]
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
    similarity = serializers.FloatField(help_text="Cosine similarity, 1.0 = same direction.")
    book = BookSummarySerializer()


class RecommendationListSerializer(serializers.Serializer):
    results = RecommendationSerializer(many=True)


class LimitSerializer(serializers.Serializer):
    limit = serializers.IntegerField(
        required=False, min_value=1,
        help_text="How many books to return (default 10).",
    )

    def validate_limit(self, value):
        if value > bookrec_settings.MAX_LIMIT:
            raise serializers.ValidationError(f"Ensure this value is less than or equal to {bookrec_settings.MAX_LIMIT}.")
        return value


class PageSizeSerializer(serializers.Serializer):
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=MAX_PAGE_SIZE)


class NotEmbeddedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    embedding_status = serializers.CharField()


class QueuedSerializer(serializers.Serializer):
    queued = serializers.IntegerField()
