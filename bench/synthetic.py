"""Synthetic books whose vectors have the neighbourhood structure of real text embeddings.

Uniform random vectors in 1024 dimensions are all nearly orthogonal: no book has real
neighbours and every index looks broken. Here each book is a point in a low-dimensional
latent space (a topic centre plus its own offset), mapped linearly to the full width, with
isotropic noise and a shared direction added (real embeddings share one: their median
cosine is well above 0), then normalised. With the defaults the nearest neighbour's
cosine is about 0.75, the 10th's about 0.7 and a random pair's about 0.2.

Filters: every book has the subjects ``sel5-<k>`` (k < 20: 5 % of books each) and
``sel05-<k>`` (k < 200: 0.5 % each), assigned independently of the vectors, which is
the hard case for a filtered nearest-neighbour search.
"""

import hashlib
from dataclasses import asdict, dataclass

import numpy as np
from pgvector import HalfVector
from pgvector.psycopg import register_vector

FILTER_SUBJECTS = {"5pct": ("sel5-", 20), "0.5pct": ("sel05-", 200)}


@dataclass(frozen=True)
class Shape:
    books: int
    dimensions: int = 1024
    latent: int = 32
    topics: int = 1000
    spread: float = 1.5
    noise: float = 0.4
    shared_direction: float = 0.5
    seed: int = 20250801
    version: int = 3  # bump when the generator changes (a database of an older schema is rebuilt anyway)

    def digest(self):
        """Short fingerprint of every parameter, for naming the scratch database."""
        return hashlib.sha256(repr(asdict(self)).encode()).hexdigest()[:10]


def vector_chunks(shape, chunk=20_000):
    """Yield float32 arrays of unit rows, ``chunk`` books at a time (deterministic)."""
    rng = np.random.default_rng(shape.seed)
    mapping = rng.standard_normal((shape.latent, shape.dimensions)).astype(np.float32)
    shared = rng.standard_normal(shape.dimensions).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centres = rng.standard_normal((shape.topics, shape.latent)).astype(np.float32) * shape.spread
    for index, start in enumerate(range(0, shape.books, chunk)):
        size = min(chunk, shape.books - start)
        rng = np.random.default_rng([shape.seed, index])
        latent = centres[rng.integers(shape.topics, size=size)]
        latent += rng.standard_normal((size, shape.latent), dtype=np.float32)
        vectors = latent @ mapping
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors += rng.standard_normal((size, shape.dimensions), dtype=np.float32) * (
            shape.noise / np.sqrt(shape.dimensions)
        )
        vectors += shape.shared_direction * shared
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        yield vectors


def subjects_of(number):
    return [f"{prefix}{number % count}" for prefix, count in FILTER_SUBJECTS.values()]


BOOK_COLUMNS = [
    ("id", "int8"), ("title", "varchar"), ("author", "varchar"), ("summary", "text"), ("language", "varchar"),
    ("subjects", "varchar[]"), ("year", "int2"), ("created_at", "timestamptz"), ("updated_at", "timestamptz"),
]
EMBEDDING_COLUMNS = [
    ("model_label", "varchar"), ("object_id", "int8"), ("space", "varchar"), ("embedding", "halfvec"),
    ("embedded_hash", "varchar"), ("status", "varchar"), ("error", "text"), ("embedded_at", "timestamptz"),
]


def copy_rows(conn, table, columns, rows):
    """One binary COPY of ``rows`` into ``table``."""
    statement = f"COPY {table} ({', '.join(name for name, _ in columns)}) FROM STDIN (FORMAT BINARY)"
    with conn.cursor().copy(statement) as copy:
        copy.set_types([kind for _, kind in columns])
        for row in rows:
            copy.write_row(row)


def load_books(conn, shape, progress=None):
    """Append ``shape.books`` embedded books: the books and their vectors in the app's active
    space with a binary COPY each (per chunk of books), their documents (fingerprint and
    full-text terms) written by the app's own ``indexing.write_documents``. ``conn`` is a
    psycopg connection (autocommit) to the database Django is set up on
    (``scratch.use_database``)."""
    from bookrec import indexing, schema
    from bookrec.models import Book, Document, Embedding, EmbeddingStatus
    from bookrec.registry import registration_for

    registration = registration_for(Book)
    if schema.space_dimensions() != shape.dimensions:
        raise ValueError(f"The active space ({indexing.active_space()}) has {schema.space_dimensions()} dimensions,"
                         f" the synthetic vectors {shape.dimensions}: set EMBEDDING_DIMENSIONS={shape.dimensions}.")
    space = indexing.active_space()
    books_table, embeddings_table = Book._meta.db_table, Embedding._meta.db_table
    register_vector(conn)
    now = conn.execute("SELECT now()").fetchone()[0]
    first_id = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {books_table}").fetchone()[0]
    number = 0
    for vectors in vector_chunks(shape):
        books = [
            Book(id=first_id + number + offset, title=f"Synthetic book {number + offset}",
                 author=f"Author {(number + offset) % 5000}", summary="", language="en",
                 subjects=subjects_of(number + offset), year=1800 + (number + offset) % 220,
                 created_at=now, updated_at=now)
            for offset in range(len(vectors))
        ]
        copy_rows(conn, books_table, BOOK_COLUMNS, (
            [getattr(book, name) for name, _ in BOOK_COLUMNS] for book in books
        ))
        hashes = [registration.content_hash(book) for book in books]
        indexing.write_documents(registration, books, hashes)
        copy_rows(conn, embeddings_table, EMBEDDING_COLUMNS, (
            (registration.model_label, book.id, space, HalfVector(vector), text_hash, EmbeddingStatus.EMBEDDED.value,
             "", now)
            for book, text_hash, vector in zip(books, hashes, vectors)
        ))
        number += len(books)
        if progress:
            progress(number)
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{books_table}', 'id'), max(id)) FROM {books_table}")
    for model in (Book, Document, Embedding):
        conn.execute(f"ANALYZE {model._meta.db_table}")
