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
    version: int = 3  # bump when the generator or the schema changes

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


COLUMNS = [
    ("title", "varchar"), ("author", "varchar"), ("summary", "text"), ("language", "varchar"),
    ("subjects", "varchar[]"), ("year", "int2"), ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"), ("embedding", "halfvec"), ("embedding_model", "varchar"),
    ("content_hash", "varchar"), ("embedded_hash", "varchar"), ("embedding_status", "varchar"),
    ("embedding_error", "text"), ("embedded_at", "timestamptz"),
]


def load_books(conn, shape, model_name, progress=None):
    """Append ``shape.books`` embedded books with one binary COPY."""
    register_vector(conn)
    now = conn.execute("SELECT now()").fetchone()[0]
    statement = f"COPY bookrec_book ({', '.join(name for name, _ in COLUMNS)}) FROM STDIN (FORMAT BINARY)"
    number = 0
    with conn.cursor().copy(statement) as copy:
        copy.set_types([kind for _, kind in COLUMNS])
        for vectors in vector_chunks(shape):
            for vector in vectors:
                copy.write_row((
                    f"Synthetic book {number}", f"Author {number % 5000}", "", "en",
                    subjects_of(number), 1800 + number % 220, now, now,
                    HalfVector(vector), model_name, "", "", "embedded", "", now,
                ))
                number += 1
            if progress:
                progress(number)
    conn.execute("ANALYZE bookrec_book")
