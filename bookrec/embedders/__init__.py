"""Embedding backends, chosen by dotted path in ``BOOKREC["EMBEDDER"]``."""

from functools import lru_cache

from bookrec.embedders.base import Embedder, EmbeddingError, EmbeddingUnavailable

__all__ = ["Embedder", "EmbeddingError", "EmbeddingUnavailable", "get_embedder"]


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The configured embedder, built once per process (settings changes clear it)."""
    from bookrec.conf import bookrec_settings

    return bookrec_settings.EMBEDDER(bookrec_settings)
