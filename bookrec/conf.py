"""The app's settings: one ``BOOKREC`` dict, read through ``bookrec_settings``.

Follows DRF's ``APISettings``: defaults live in one dict, user values override them,
and the cache is dropped when tests use ``override_settings``.
"""

from django.conf import settings
from django.core.signals import setting_changed
from django.utils.module_loading import import_string

DEFAULTS = {
    # Embedder backend (dotted path). None: the OpenAI-compatible backend when
    # EMBEDDING_BASE_URL is set, otherwise the local in-process model.
    "EMBEDDER": None,
    "EMBEDDING_BASE_URL": "",
    "EMBEDDING_API_KEY": "",
    "EMBEDDING_MODEL": "Qwen/Qwen3-Embedding-0.6B",
    # Vector width stored in the database. None: the embedder's native width
    # (1024 for Qwen3-Embedding-0.6B, 384 for the local model). A smaller value
    # uses Matryoshka truncation (then re-normalisation) on the client.
    "EMBEDDING_DIMENSIONS": None,
    "EMBEDDING_REQUEST_BATCH_SIZE": 32,
    "EMBEDDING_TIMEOUT": 30.0,
    "EMBEDDING_MAX_RETRIES": 2,
    # Texts are cut to this many characters before they are sent.
    "EMBEDDING_MAX_CHARS": 8000,
    # Qwen3-Embedding query instruction; documents are embedded without one.
    "QUERY_INSTRUCTION": "Given a description of what a reader wants, retrieve books about it",
    # What is embedded for a book: str.format over the book's fields.
    "DOCUMENT_TEMPLATE": "{title}\n{author}\n\n{summary}",
    # Celery: books per task, retries of transient failures, backoff cap (s).
    "TASK_BATCH_SIZE": 32,
    "TASK_MAX_RETRIES": 8,
    # Kept below the broker's visibility timeout (Redis: 600 s in the example site), or a
    # message waiting out its countdown is handed to a second worker as if lost.
    "TASK_RETRY_BACKOFF_MAX": 300,
    "CELERY_QUEUE": None,
    # Requests per user (or IP) to the endpoints that cost an embedding call, by
    # throttle scope (bookrec.api.throttling); REST_FRAMEWORK's rates win. None: unlimited.
    "THROTTLE_RATES": {"bookrec_search": "60/min", "bookrec_reembed": "30/min"},
    # Recommendation queries.
    "DEFAULT_LIMIT": 10,
    "MAX_LIMIT": 100,
    # Candidates an HNSW scan keeps (pgvector's default). bench/index.py at 100,000 books:
    # recall@10 0.999 at 40 as at 100, at a quarter of the time; filtered queries keep
    # scanning (iterative scans) until `limit` rows pass the filter.
    "HNSW_EF_SEARCH": 40,
    "HNSW_ITERATIVE_SCAN": "relaxed_order",
    "HNSW_MAX_SCAN_TUPLES": 20000,
    "HNSW_M": 16,
    "HNSW_EF_CONSTRUCTION": 64,
}

IMPORT_STRINGS = {"EMBEDDER"}

OPENAI_EMBEDDER = "bookrec.embedders.openai.OpenAICompatibleEmbedder"
LOCAL_EMBEDDER = "bookrec.embedders.local.LocalE5Embedder"


class BookrecSettings:
    def __init__(self, defaults=None):
        self.defaults = defaults or DEFAULTS
        self._cached = set()

    @property
    def user_settings(self):
        return getattr(settings, "BOOKREC", {}) or {}

    def __getattr__(self, name):
        if name not in self.defaults:
            raise AttributeError(f"Invalid bookrec setting: {name!r}")
        value = self.user_settings.get(name, self.defaults[name])
        if name == "EMBEDDER" and value is None:
            value = OPENAI_EMBEDDER if self.EMBEDDING_BASE_URL else LOCAL_EMBEDDER
        if name in IMPORT_STRINGS and isinstance(value, str):
            value = import_string(value)
        self._cached.add(name)
        setattr(self, name, value)
        return value

    @property
    def dimensions(self):
        """The width of the stored vectors."""
        return self.EMBEDDING_DIMENSIONS or self.EMBEDDER.native_dimensions

    def reload(self):
        for name in self._cached:
            delattr(self, name)
        self._cached.clear()
        from bookrec.embedders import get_embedder

        get_embedder.cache_clear()


bookrec_settings = BookrecSettings()


def reload_bookrec_settings(*, setting, **kwargs):
    if setting == "BOOKREC":
        bookrec_settings.reload()


setting_changed.connect(reload_bookrec_settings)
