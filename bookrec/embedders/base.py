"""The interface every embedder implements, and the checks every response passes."""

import math

import numpy as np


class EmbeddingError(Exception):
    """The embedder refused or answered wrongly; retrying the same input will not help."""


class EmbeddingConfigurationError(EmbeddingError):
    """The server refuses every request as configured (a wrong key, model or address: HTTP
    401, 403 or 404): no text of the batch is to blame, and none would fare better alone."""


class EmbeddingUnavailable(EmbeddingError):
    """A transient failure (server down, timeout, 5xx, 429): try again later."""

    def __init__(self, message, retry_after=None):
        super().__init__(message)
        self.retry_after = retry_after


class Embedder:
    """Turns texts into unit-length vectors of ``dimensions`` floats.

    Subclasses set ``native_dimensions`` and ``model`` and implement ``_embed``.
    Blank texts are never sent: their slot in the result is ``None``.
    """

    native_dimensions: int
    model: str

    def __init__(self, options):
        self.dimensions = options.EMBEDDING_DIMENSIONS or self.native_dimensions
        # Matryoshka truncation is only done when a width was asked for explicitly.
        self.truncates = bool(options.EMBEDDING_DIMENSIONS)
        self.max_chars = options.EMBEDDING_MAX_CHARS
        self.batch_size = options.EMBEDDING_REQUEST_BATCH_SIZE

    @property
    def model_name(self):
        """Stored beside every vector: vectors of different names are never compared."""
        if self.dimensions != self.native_dimensions:
            return f"{self.model}@{self.dimensions}"
        return self.model

    def _embed(self, texts, *, is_query):
        """Return one sequence of floats per text, in order."""
        raise NotImplementedError

    def prepare(self, text):
        """The exact text that would be sent: stripped and cut to ``max_chars``."""
        return (text or "").strip()[: self.max_chars]

    def embed_documents(self, texts):
        prepared = [self.prepare(text) for text in texts]
        to_send = [i for i, text in enumerate(prepared) if text]
        vectors = [None] * len(prepared)
        for start in range(0, len(to_send), self.batch_size):
            chunk = to_send[start : start + self.batch_size]
            batch = self._embed([prepared[i] for i in chunk], is_query=False)
            for i, vector in zip(chunk, self.checked(batch, len(chunk))):
                vectors[i] = vector
        return vectors

    def embed_query(self, text):
        prepared = self.prepare(text)
        if not prepared:
            raise ValueError("Cannot embed an empty query.")
        return self.checked(self._embed([prepared], is_query=True), 1)[0]

    def checked(self, raw_vectors, expected_count):
        """Validate a response before anything is written: count, width, finite, non-zero."""
        if raw_vectors is None or len(raw_vectors) != expected_count:
            got = "none" if raw_vectors is None else len(raw_vectors)
            raise EmbeddingError(f"Expected {expected_count} vectors, got {got}.")
        checked = []
        for raw in raw_vectors:
            vector = np.asarray(raw, dtype=np.float32)
            if vector.ndim != 1:
                raise EmbeddingError(f"Expected a flat vector, got shape {vector.shape}.")
            if len(vector) > self.dimensions and self.truncates:
                vector = vector[: self.dimensions]
            if len(vector) != self.dimensions:
                raise EmbeddingError(
                    f"Expected vectors of {self.dimensions} dimensions, got {len(vector)}."
                )
            if not np.all(np.isfinite(vector)):
                raise EmbeddingError("The embedder returned a vector with NaN or infinite values.")
            norm = float(np.linalg.norm(vector))
            if norm == 0.0 or not math.isfinite(norm):
                raise EmbeddingError("The embedder returned a zero-length vector.")
            checked.append(vector / norm)
        return checked
