"""similar_books(): the query book's vector stays in SQL, only needed columns come back."""

import pytest

from bookrec import recommendations
from bookrec.models import Book, EmbeddingStatus

pytestmark = pytest.mark.django_db


def test_similar_books_excludes_the_book_honours_limit_and_leaves_vectors_in_the_database(random_embedded_books):
    books = random_embedded_books(30)

    found = recommendations.similar_books(books[0], limit=7)

    assert len(found) == 7
    assert books[0].pk not in [r.book.pk for r in found]
    assert [r.similarity for r in found] == sorted((r.similarity for r in found), reverse=True)
    assert all("embedding" in r.book.get_deferred_fields() for r in found)


def test_the_nearest_book_is_the_one_with_the_closest_vector(random_embedded_books):
    books = random_embedded_books(30)
    twin = Book.objects.get(pk=books[5].pk)
    Book.objects.filter(pk=books[9].pk).update(embedding=[x + 0.01 for x in twin.embedding])

    assert recommendations.similar_books(twin, limit=1)[0].book.pk == books[9].pk


@pytest.mark.parametrize("change", [
    {"embedding_status": EmbeddingStatus.PENDING, "embedding": None},
    {"embedding_model": "another-model"},
])
def test_a_book_without_a_current_vector_is_not_embedded(random_embedded_books, change):
    books = random_embedded_books(5)
    Book.objects.filter(pk=books[0].pk).update(**change)

    with pytest.raises(recommendations.NotEmbedded):
        recommendations.similar_books(books[0])
