import numpy as np
import pytest
from django.db import connection
from pgvector.django import CosineDistance

from bookrec import schema
from bookrec.models import Book
from bookrec.ranking import Mode, RankingOptions, rank_similar
from bookrec.recommendations import NotEmbedded, current_vectors, nearest
from bookrec.registry import registration_for
from tests.books import at_angle, direction, embedded_book, embedded_books, make_book, status

pytestmark = pytest.mark.django_db


def similar_books(book, *, candidates=None, limit=None):
    """The vector stage alone: the nearest books, nothing reordered."""
    return rank_similar(book, mode=Mode.VECTOR, candidates=candidates, options=RankingOptions(limit=limit)).results


def nearest_books(vector, **kwargs):
    return nearest(registration_for(Book), vector, **kwargs)


def titles(recommendations):
    return [r.object.title for r in recommendations]


def test_similar_books_come_nearest_first_with_their_cosine_similarity():
    query = embedded_book(at_angle(0), title="Query")
    for degrees in (60, 10, 30):
        embedded_book(at_angle(degrees), title=f"{degrees} degrees away")
    found = similar_books(query)
    assert titles(found) == ["10 degrees away", "30 degrees away", "60 degrees away"]
    expected = [np.cos(np.radians(d)) for d in (10, 30, 60)]
    assert [r.similarity for r in found] == pytest.approx(expected, abs=2e-3)


def test_the_book_itself_is_excluded_in_sql_so_the_limit_holds():
    query = embedded_book(at_angle(0), title="Query")
    embedded_book(at_angle(0), title="Twin")
    for degrees in (10, 20, 30):
        embedded_book(at_angle(degrees), title=f"{degrees} degrees away")
    found = similar_books(query, limit=3)
    assert titles(found) == ["Twin", "10 degrees away", "20 degrees away"]


def test_the_default_limit_applies(bookrec):
    bookrec(DEFAULT_LIMIT=2)
    query = embedded_book(at_angle(0), title="Query")
    embedded_books([at_angle(d) for d in range(5, 50, 5)])
    assert len(similar_books(query)) == 2


def test_only_vectors_of_the_current_model_are_compared():
    query = embedded_book(at_angle(0), title="Query")
    embedded_book(at_angle(0), model_name="another-model", title="Same direction, other model")
    make_book(title="Pending")
    embedded_book(at_angle(40), title="Current model")
    assert titles(similar_books(query)) == ["Current model"]


@pytest.mark.parametrize("state", ["pending", "other model", "skipped"])
def test_a_book_without_a_current_vector_raises_not_embedded(state):
    if state == "pending":
        book = make_book()
    elif state == "other model":
        book = embedded_book(at_angle(0), model_name="another-model")
    else:
        book = make_book(summary="")
    with pytest.raises(NotEmbedded, match=f"status: {status(book) or 'pending'}"):
        similar_books(book)


def test_nearest_books_to_any_vector_among_candidates():
    embedded_book(at_angle(0), title="North", language="en")
    embedded_book(at_angle(90), title="East", language="en")
    embedded_book(at_angle(80), title="Almost east", language="fr")
    found = nearest_books(at_angle(85), candidates=Book.objects.filter(language="en"), limit=5)
    assert titles(found) == ["East", "North"]


@pytest.fixture
def through_the_hnsw_index():
    """Make PostgreSQL take the HNSW index even on a small table (sorting is the other way),
    as it does on a large catalogue; SET LOCAL ends with the test's transaction."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_sort = off")


def rare_and_common_books(rare=5, common=300):
    """Random vectors, the common ones leaning towards ``direction(1)`` and the rare ones
    away from it: every common book is nearer the query than any rare one, so a scan of
    the nearest ``ef_search`` rows finds no rare book; only an iterative scan reaches them."""
    noise = np.random.default_rng(7).normal(size=(common + rare, 384))
    lean = np.where(np.arange(common + rare) < common, 3.0, -3.0)
    vectors = noise + lean[:, None] * direction(1)
    author = lambda i: "Common Author" if i < common else "Rare Author"  # noqa: E731
    return embedded_books(list(vectors), author=author)


def test_a_filter_that_most_books_fail_still_returns_limit_rows(bookrec, through_the_hnsw_index):
    bookrec(HNSW_EF_SEARCH=20)
    query = embedded_book(direction(1), title="Query")
    rare = [book.pk for book in rare_and_common_books() if book.author == "Rare Author"]
    with connection.cursor() as cursor:
        # Earlier tests' rolled-back books stay in the graph as dead entries until a vacuum,
        # and an iterative scan counts them against its limits: a fresh graph, as a freshly
        # loaded catalogue has, keeps this test about the filter alone.
        cursor.execute(f"REINDEX INDEX {schema.index_name(registration_for(Book))}")
    candidates = Book.objects.filter(author="Rare Author")
    found = similar_books(query, candidates=candidates, limit=5)
    assert sorted(r.object.pk for r in found) == sorted(rare)
    assert [r.similarity for r in found] == sorted((r.similarity for r in found), reverse=True)

    # Without iterative scans the same query finds nothing: the test does exercise them.
    bookrec(HNSW_ITERATIVE_SCAN="off")
    assert similar_books(query, candidates=candidates, limit=5) == []


def test_the_filtered_query_runs_through_the_hnsw_index(through_the_hnsw_index):
    query = embedded_book(direction(1), title="Query")
    registration = registration_for(Book)
    plan = (
        current_vectors(registration, Book.objects.filter(author__startswith="Rare")).exclude(object_id=query.pk)
        .annotate(distance=CosineDistance(schema.vector_expression(), direction(1))).order_by("distance")[:5]
        .explain()
    )
    assert schema.index_name(registration) in plan


def test_a_record_whose_row_was_deleted_behind_bookrecs_back_never_answers():
    query = embedded_book(at_angle(0), title="Query")
    gone = embedded_book(at_angle(10), title="Deleted with raw SQL")
    embedded_book(at_angle(20), title="Still here")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM bookrec_book WHERE id = %s", [gone.pk])
    assert titles(similar_books(query)) == ["Still here"]
