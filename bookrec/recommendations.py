"""Recommendation queries, run in PostgreSQL with pgvector.

The one place that turns "books like this" into SQL, shared by the API, the admin and
the management commands. Vector work happens in the database: cosine distance (``<=>``)
through the HNSW index, with filters in the same query and pgvector's iterative index
scans so that a filtered query still returns ``limit`` rows when that many match.
"""

from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models import Subquery
from pgvector.django import CosineDistance

from bookrec.conf import bookrec_settings
from bookrec.models import Book, EmbeddingStatus


class NotEmbedded(Exception):
    """The book has no vector from the current model (yet)."""

    def __init__(self, book):
        self.book = book
        super().__init__(
            f"Book {book.pk} has no embedding from the current model yet "
            f"(status: {book.embedding_status})."
        )


@dataclass(frozen=True)
class Recommendation:
    book: Book
    similarity: float | None  # cosine similarity to the query; None when it has no vector
    score: float | None = None  # what the ranking ordered by (see bookrec.ranking)


def apply_search_settings(cursor):
    """HNSW query settings, scoped to the current transaction (``SET LOCAL``)."""
    cursor.execute(
        "SELECT set_config('hnsw.ef_search', %s, true),"
        " set_config('hnsw.iterative_scan', %s, true),"
        " set_config('hnsw.max_scan_tuples', %s, true)",
        [
            str(bookrec_settings.HNSW_EF_SEARCH),
            bookrec_settings.HNSW_ITERATIVE_SCAN,
            str(bookrec_settings.HNSW_MAX_SCAN_TUPLES),
        ],
    )


def nearest_books(vector, *, candidates=None, limit=None, exclude_ids=()):
    """The ``limit`` books nearest to ``vector`` among ``candidates`` (a Book queryset).

    ``vector`` is a sequence of floats, or an SQL expression that gives one.
    """
    limit = limit or bookrec_settings.DEFAULT_LIMIT
    queryset = (candidates if candidates is not None else Book.objects.all()).with_current_embedding()
    if exclude_ids:
        queryset = queryset.exclude(pk__in=list(exclude_ids))
    # The results' own vectors are never needed: parsing ten 1024-float texts costs
    # more than the index search.
    queryset = (
        queryset.defer("embedding")
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")[:limit]
    )
    with transaction.atomic(using=queryset.db):
        with connections[queryset.db].cursor() as cursor:
            apply_search_settings(cursor)
        books = list(queryset)
    # relaxed_order iterative scans may return rows slightly out of order. No distance: the
    # query vector was replaced while the query ran (the book is being embedded again).
    books = sorted((book for book in books if book.distance is not None), key=lambda book: book.distance)
    return [Recommendation(book, 1.0 - book.distance) for book in books]


def stored_vector(book):
    """The book's vector as an SQL subquery (it stays in the database: no 1024 floats
    parsed and sent back), if it was made by the current model; else raise NotEmbedded.

    A book loaded with a current vector is taken at its word (the subquery still checks, in
    the same statement); one that was not is looked up, as it may have been embedded since."""
    current = Book.objects.filter(pk=book.pk).with_current_embedding()
    if not (has_current_embedding(book) or current.exists()):
        raise NotEmbedded(book)
    return Subquery(current.values("embedding"))


def has_current_embedding(book):
    from bookrec.embedders import get_embedder

    return book.embedding_status == EmbeddingStatus.EMBEDDED and book.embedding_model == get_embedder().model_name


def similar_books(book, *, candidates=None, limit=None):
    """Books most like ``book`` (itself excluded in SQL, so ``limit`` holds)."""
    return nearest_books(stored_vector(book), candidates=candidates, limit=limit, exclude_ids=[book.pk])
