"""The HNSW search settings are set per query, inside its transaction, and take effect.

Real PostgreSQL + pgvector. Where the effect is checked, the planner is told to use the
HNSW index: a table this small would otherwise be searched exactly, and there the
settings rightly change nothing."""

import numpy as np
import pytest
from django.db import connection, transaction

from bookrec import recommendations
from bookrec.embedders import get_embedder
from bookrec.models import Book
from bookrec.ranking import Mode, RankingOptions, rank_similar
from bookrec.registry import registration_for
from tests.books import embedded_books, state

# No test transaction around the test: the query's own transaction is the outermost one,
# so what SET LOCAL leaves behind (nothing) can be seen after it.
pytestmark = pytest.mark.django_db(transaction=True)

RARE = "rare"


@pytest.fixture
def books():
    """400 books with random vectors; 10 of them (spread out) have the subject RARE."""
    vectors = np.random.default_rng(3).standard_normal((400, get_embedder().dimensions))
    return embedded_books(list(vectors), subjects=lambda i: [RARE] if i % 40 == 0 else [])


def vector_of(book):
    return state(book).embedding


def nearest_books(vector, **kwargs):
    return recommendations.nearest(registration_for(Book), vector, **kwargs)


def search_settings(conn):
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('hnsw.ef_search'), current_setting('hnsw.iterative_scan'),"
            " current_setting('hnsw.max_scan_tuples')"
        )
        return cursor.fetchone()


def settings_seen_by_the_search(query):
    """Run ``query()`` and return the HNSW settings in force when its ``<=>`` query ran."""
    seen = []

    def spy(execute, sql, params, many, context):
        if "<=>" in sql:
            seen.append(search_settings(context["connection"]))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        query()
    assert len(seen) == 1
    return seen[0]


def index_preferred():
    """Make the planner use the HNSW index for the rest of the transaction: the one
    plan that needs no sort is an index scan in distance order."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")


def test_configured_values_are_in_force_during_the_query_and_gone_after(books, settings):
    settings.BOOKREC = {**settings.BOOKREC, "HNSW_EF_SEARCH": 123, "HNSW_ITERATIVE_SCAN": "strict_order",
                        "HNSW_MAX_SCAN_TUPLES": 4567}
    before = search_settings(connection)

    seen = settings_seen_by_the_search(lambda: rank_similar(books[0], mode=Mode.VECTOR, options=RankingOptions()))

    assert seen == ("123", "strict_order", "4567")
    assert search_settings(connection) == before != seen  # SET LOCAL: nothing leaks into the session


def test_iterative_scan_returns_limit_rows_under_a_selective_filter(books, settings):
    settings.BOOKREC = {**settings.BOOKREC, "HNSW_EF_SEARCH": 10}
    rare = Book.objects.filter(subjects__contains=[RARE])

    def found_with(iterative_scan):
        settings.BOOKREC = {**settings.BOOKREC, "HNSW_ITERATIVE_SCAN": iterative_scan}
        with transaction.atomic():
            index_preferred()
            return nearest_books(vector_of(books[1]), candidates=rare, limit=10)

    # The index hands over ef_search (10) candidates; few are rare, so without iterative
    # scans the filter leaves fewer than limit. With them the scan goes on until it has 10.
    assert len(found_with("off")) < 10
    assert len(found_with("relaxed_order")) == 10


def test_ef_search_bounds_what_one_index_scan_returns(books, settings):
    def found_with(ef_search):
        settings.BOOKREC = {**settings.BOOKREC, "HNSW_EF_SEARCH": ef_search, "HNSW_ITERATIVE_SCAN": "off"}
        with transaction.atomic():
            index_preferred()
            return nearest_books(vector_of(books[2]), limit=100)

    assert len(found_with(20)) == 20
    assert len(found_with(100)) == 100
