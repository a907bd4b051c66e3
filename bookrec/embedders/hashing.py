"""A free embedder: a deterministic unit vector made from a hash of the text.

No model, no server, microseconds per text. The same text always gives the same vector
and different texts give unrelated ones, so it carries no meaning: it is for measuring
the pipeline's own cost (tasks, batches, bulk writes) and for tests that need vectors fast.
"""

import hashlib

import numpy as np

from bookrec.embedders.base import Embedder


class HashingEmbedder(Embedder):
    native_dimensions = 1024
    model = "bookrec/hashing-sha256"

    def _embed(self, texts, *, is_query):
        return [self._vector(("query: " if is_query else "") + text) for text in texts]

    def _vector(self, text):
        # One byte of an extendable-output hash (SHAKE-256) per dimension, centred on zero
        # (``Embedder.checked`` scales the result to unit length).
        digest = hashlib.shake_256(text.encode("utf-8")).digest(self.dimensions)
        return np.frombuffer(digest, dtype=np.uint8).astype(np.float32) - 127.5
