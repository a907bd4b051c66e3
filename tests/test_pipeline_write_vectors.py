"""write_vectors(): one statement, vectors sent in pgvector's binary format, on Django's
own connection (so inside the caller's transaction), never over a newer text."""

import numpy as np
import pytest

from bookrec.embedders import get_embedder
from bookrec.models import Book, Embedding, EmbeddingStatus
from bookrec.pipeline import write_vectors
from bookrec.registry import registration_for
from tests.books import content_hash

pytestmark = pytest.mark.django_db  # the test's transaction: unseen by any other connection


def unit_vector(seed):
    vector = np.random.default_rng(seed).standard_normal(get_embedder().dimensions).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_vectors_are_written_with_half_precision_and_marked_embedded():
    book = Book.objects.create(title="Moby Dick", summary="A whale.")
    vector = unit_vector(1)

    written = write_vectors(registration_for(Book), [(book.pk, content_hash(book), vector)], "some-model")

    stored = Embedding.objects.get(object_id=book.pk, space="some-model")
    assert written == {book.pk}
    assert np.allclose(stored.embedding, vector, atol=1e-3)
    assert (stored.status, stored.embedded_hash) == (EmbeddingStatus.EMBEDDED, content_hash(book))


def test_a_book_edited_while_in_flight_is_not_overwritten():
    kept, edited = (Book.objects.create(title=t, summary="Some text.") for t in ("Kept", "Edited"))

    written = write_vectors(
        registration_for(Book),
        [(kept.pk, content_hash(kept), unit_vector(2)), (edited.pk, "hash-before-the-edit", unit_vector(3))],
        "some-model",
    )

    assert written == {kept.pk}
    assert not Embedding.objects.filter(object_id=edited.pk, space="some-model").exists()
