"""Books and vectors for the tests.

Vectors made here have a known geometry (so a test can say which book must come first);
they are written through ``pipeline.write_vectors``, the code the workers use.
"""

import numpy as np

from bookrec import pipeline
from bookrec.conf import bookrec_settings
from bookrec.documents import document_hash, document_text
from bookrec.embedders import get_embedder
from bookrec.models import Book


def make_book(title="A book", summary="A summary worth embedding.", **fields):
    return Book.objects.create(title=title, summary=summary, **fields)


def direction(*components):
    """A unit vector of the configured width whose first components are these."""
    vector = np.zeros(bookrec_settings.dimensions, dtype=np.float32)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def at_angle(degrees):
    """A unit vector ``degrees`` away from ``direction(1)``: similarity cos(degrees)."""
    radians = np.radians(degrees)
    return direction(np.cos(radians), np.sin(radians))


def give_vector(book, vector, model_name=None):
    """Store ``vector`` as the book's embedding, made by ``model_name`` (default: the current model)."""
    written = pipeline.write_vectors(
        [(book.pk, book.content_hash, book.content_hash, vector)],
        model_name or get_embedder().model_name,
    )
    assert written == {book.pk}
    book.refresh_from_db()
    return book


def embedded_book(vector, model_name=None, **fields):
    return give_vector(make_book(**fields), vector, model_name)


def embedded_books(vectors, **fields):
    """Many embedded books at once (one INSERT, one UPDATE): ``fields`` values may be
    callables of the book's index."""
    books = Book.objects.bulk_create([
        Book(**{"title": f"Book {i}", "summary": f"Summary {i}.",
                **{k: v(i) if callable(v) else v for k, v in fields.items()}})
        for i in range(len(vectors))
    ])
    rows = []
    for book, vector in zip(books, vectors):
        text_hash = document_hash(document_text(book))
        rows.append((book.pk, book.content_hash, text_hash, vector))
    pipeline.write_vectors(rows, get_embedder().model_name)
    return books
