from django import forms
from django_filters import rest_framework as filters

from bookrec import indexing
from bookrec.filtering import FilterSet
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for


class YearFilter(filters.NumberFilter):
    """A whole number the year column can hold: "2000.5" or "1e30" is a 400, not an empty page."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        super().__init__(*args, min_value=-32768, max_value=32767, **kwargs)


class BookFilterSet(FilterSet):
    """Catalogue filters, shared by the book list and every recommendation endpoint."""

    # As long as the columns they match: a longer value is a mistake, not a search.
    language = filters.CharFilter(field_name="language", max_length=16, help_text="ISO 639 code, e.g. en or zh.")
    # Labelled: a filter with a method has no model field to take one from ("[invalid name]").
    subject = filters.CharFilter(
        method="filter_subject", max_length=200, label="Subject", help_text="Books with this subject (exact).",
    )
    author = filters.CharFilter(field_name="author", lookup_expr="icontains", help_text="Part of the author's name.")
    year_min = YearFilter(field_name="year", lookup_expr="gte", help_text="Published in or after.")
    year_max = YearFilter(field_name="year", lookup_expr="lte", help_text="Published in or before.")

    class Meta:
        model = Book
        fields = ["language", "subject", "author", "year_min", "year_max"]

    def filter_subject(self, queryset, name, value):
        return queryset.filter(subjects__contains=[value])


class BookListFilterSet(BookFilterSet):
    embedding_status = filters.ChoiceFilter(
        choices=EmbeddingStatus.choices, method="filter_embedding_status", label="Embedding status",
    )

    class Meta(BookFilterSet.Meta):
        fields = BookFilterSet.Meta.fields + ["embedding_status"]

    def filter_embedding_status(self, queryset, name, value):
        status = indexing.embedding_status_expression(registration_for(queryset.model), using=queryset.db)
        return queryset.alias(embedding_status=status).filter(embedding_status=value)
