"""write_vectors(): one statement, vectors sent in pgvector's binary format, on Django's
own connection (so inside the caller's transaction), never over a newer text."""

import numpy as np
import pytest

from bookrec.conf import bookrec_settings
from bookrec.models import Book, EmbeddingStatus
from bookrec.pipeline import write_vectors

pytestmark = pytest.mark.django_db  # the test's transaction: unseen by any other connection


def unit_vector(seed):
    vector = np.random.default_rng(seed).standard_normal(bookrec_settings.dimensions).astype(np.float32)
    return vector / np.linalg.norm(vector)


def test_vectors_are_written_with_half_precision_and_marked_embedded():
    book = Book.objects.create(title="Moby Dick", summary="A whale.")
    vector = unit_vector(1)

    written = write_vectors([(book.pk, book.content_hash, "new-hash", vector)], "some-model")

    stored = Book.objects.get(pk=book.pk)
    assert written == {book.pk}
    assert np.allclose(stored.embedding, vector, atol=1e-3)
    assert (stored.embedding_status, stored.embedding_model, stored.embedded_hash) == (
        EmbeddingStatus.EMBEDDED, "some-model", "new-hash")


def test_a_book_edited_while_in_flight_is_not_overwritten():
    kept, edited = (Book.objects.create(title=t, summary="Some text.") for t in ("Kept", "Edited"))

    written = write_vectors(
        [(kept.pk, kept.content_hash, "h1", unit_vector(2)), (edited.pk, "hash-before-the-edit", "h2", unit_vector(3))],
        "some-model",
    )

    assert written == {kept.pk}
    assert Book.objects.get(pk=edited.pk).embedding is None
