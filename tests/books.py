"""Books and vectors for the tests.

Vectors made here have a known geometry (so a test can say which book must come first);
they are written through ``pipeline.write_vectors``, the code the workers use.
"""

from collections import Counter

import numpy as np

from bookrec import indexing, pipeline
from bookrec.embedders import get_embedder
from bookrec.models import Book, Document
from bookrec.registry import registration_for


def make_book(title="A book", summary="A summary worth embedding.", **fields):
    return Book.objects.create(title=title, summary=summary, **fields)


def direction(*components):
    """A unit vector of the configured width whose first components are these."""
    vector = np.zeros(get_embedder().dimensions, dtype=np.float32)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def at_angle(degrees):
    """A unit vector ``degrees`` away from ``direction(1)``: similarity cos(degrees)."""
    radians = np.radians(degrees)
    return direction(np.cos(radians), np.sin(radians))


def content_hash(obj):
    """The fingerprint bookrec holds for ``obj``'s text ("" when it has none)."""
    return Document.objects.get(model_label=registration_for(obj).model_label, object_id=obj.pk).content_hash


def state(obj):
    """``obj``'s Embedding row in the active space (None when there is none)."""
    return indexing.active_embeddings(registration_for(obj)).filter(object_id=obj.pk).first()


def status(obj):
    row = state(obj)
    return row.status if row else None


def give_vector(obj, vector, model_name=None):
    """Store ``vector`` as the object's embedding, made by ``model_name`` (default: the current model)."""
    written = pipeline.write_vectors(
        registration_for(obj), [(obj.pk, content_hash(obj), vector)], model_name or get_embedder().model_name,
    )
    assert written == {obj.pk}
    obj.refresh_from_db()
    return obj


def embedded_book(vector, model_name=None, **fields):
    return give_vector(make_book(**fields), vector, model_name)


def embedded_books(vectors, **fields):
    """Many embedded books at once (one INSERT, one sync, one vector write): ``fields`` values
    may be callables of the book's index."""
    books = Book.objects.bulk_create([
        Book(**{"title": f"Book {i}", "summary": f"Summary {i}.",
                **{k: v(i) if callable(v) else v for k, v in fields.items()}})
        for i in range(len(vectors))
    ])
    registration = registration_for(Book)
    indexing.sync_objects(registration, books)
    rows = [(book.pk, registration.content_hash(book), vector) for book, vector in zip(books, vectors)]
    pipeline.write_vectors(registration, rows, get_embedder().model_name)
    return books


def states(pks, model=Book):
    """``{pk: Embedding row}`` in the active space."""
    return indexing.embedding_states(registration_for(model), pks)


def statuses(pks, model=Book):
    """How many of these objects are in each status (in the active space)."""
    return Counter(row.status for row in states(pks, model).values())


def set_state(obj, **values):
    """Change ``obj``'s row in the active space (``status=``, ``error=``...)."""
    indexing.active_embeddings(registration_for(obj)).filter(object_id=obj.pk).update(**values)
