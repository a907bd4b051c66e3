"""Embedding backends, chosen by dotted path in ``BOOKREC["EMBEDDER"]``."""

from functools import lru_cache

from django.core.signals import setting_changed

from bookrec.conf import bookrec_settings
from bookrec.embedders.base import Embedder, EmbeddingConfigurationError, EmbeddingError, EmbeddingUnavailable

__all__ = ["Embedder", "EmbeddingConfigurationError", "EmbeddingError", "EmbeddingUnavailable", "get_embedder"]


@lru_cache(maxsize=1)
def get_embedder() -> Embedder:
    """The configured embedder, built once per process (settings changes clear it)."""
    return bookrec_settings.EMBEDDER(bookrec_settings)


def forget_embedder(*, setting, **kwargs):
    if setting == "BOOKREC":
        get_embedder.cache_clear()


setting_changed.connect(forget_embedder)
