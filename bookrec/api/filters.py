from django_filters import rest_framework as filters

from bookrec.models import Book, EmbeddingStatus


class BookFilterSet(filters.FilterSet):
    """Catalogue filters, shared by the book list and every recommendation endpoint."""

    language = filters.CharFilter(field_name="language", help_text="ISO 639 code, e.g. en or zh.")
    subject = filters.CharFilter(method="filter_subject", help_text="Books with this subject (exact).")
    author = filters.CharFilter(field_name="author", lookup_expr="icontains", help_text="Part of the author's name.")
    year_min = filters.NumberFilter(field_name="year", lookup_expr="gte", help_text="Published in or after.")
    year_max = filters.NumberFilter(field_name="year", lookup_expr="lte", help_text="Published in or before.")

    class Meta:
        model = Book
        fields = ["language", "subject", "author", "year_min", "year_max"]

    def filter_subject(self, queryset, name, value):
        return queryset.filter(subjects__contains=[value])


class BookListFilterSet(BookFilterSet):
    embedding_status = filters.ChoiceFilter(choices=EmbeddingStatus.choices)

    class Meta(BookFilterSet.Meta):
        fields = BookFilterSet.Meta.fields + ["embedding_status"]
