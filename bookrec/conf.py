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
    # The models recommended, and how each reads as text (bookrec.registry). bookrec's own Book
    # is the ready-made one; a site with its own catalogue declares its model instead (or too).
    "MODELS": {
        "bookrec.Book": {
            "TEXT": ["title", "author", "summary"],
            "TEMPLATE": "{title}\n{author}\n\n{summary}",
            # A title alone would place a book by the words of its name: better no vector.
            "REQUIRED": ["summary"],
            "FILTERSET": "bookrec.api.filters.BookFilterSet",
            "AUTHOR": "author",
            "SUBJECTS": "subjects",
            "SERIALIZER": "bookrec.api.serializers.BookSummarySerializer",
        },
    },
    # Celery: books per task, retries of transient failures, backoff cap (s).
    # The broker's visibility timeout (Redis: 300 s in the example site) must exceed how long
    # a worker may legitimately hold a message unacknowledged: the backoff cap while it waits
    # out a retry's countdown, then the hard limit while it runs (docs/reliability.md,
    # "Redelivery"); else a second worker gets it as if lost, and embeds it again.
    "TASK_BATCH_SIZE": 32,
    "TASK_MAX_RETRIES": 8,
    "TASK_RETRY_BACKOFF_MAX": 120,
    # An embedding task's time limits (s; enforced by Celery's prefork pool): past the soft
    # one the batch is recorded as not done and retried; the hard one ends a task stuck
    # beyond that. A batch is one request to the embedding server, which gives up after
    # EMBEDDING_TIMEOUT x (EMBEDDING_MAX_RETRIES + 1) (90 s by default).
    "TASK_SOFT_TIME_LIMIT": 120,
    "TASK_TIME_LIMIT": 150,
    "CELERY_QUEUE": None,
    # Requests per user (or IP) to the endpoints that cost an embedding call, by
    # throttle scope (bookrec.api.throttling); REST_FRAMEWORK's rates win. None: unlimited.
    "THROTTLE_RATES": {"bookrec_search": "60/min", "bookrec_reembed": "30/min"},
    # Recommendation queries.
    "DEFAULT_LIMIT": 10,
    "MAX_LIMIT": 100,
    # Candidates an HNSW scan keeps (pgvector's default). bench/index.py at 100,000 books:
    # recall@10 0.999 at 40 as at 100, at a quarter of the time (at 1,000,000 books 40 gives
    # 0.933 and 100 gives 0.979: set 100 there); filtered queries keep
    # scanning (iterative scans) until `limit` rows pass the filter.
    "HNSW_EF_SEARCH": 40,
    "HNSW_ITERATIVE_SCAN": "relaxed_order",
    "HNSW_MAX_SCAN_TUPLES": 20000,
    "HNSW_M": 16,
    "HNSW_EF_CONSTRUCTION": 64,
    # -- Ranking modes (docs/search.md, docs/quality.md) --
    # Default mode of "similar books": vector, keyword or hybrid. Hybrid won the
    # quality benchmark on every label set (docs/quality.md).
    "SIMILAR_MODE": "hybrid",
    # Default mode of free-text search (docs/quality.md says why hybrid here too).
    "SEARCH_MODE": "hybrid",
    # Default strategy for a reader's taste: average_vector or best_score.
    "TASTE_STRATEGY": "average_vector",
    # First-stage candidates that hybrid fusion, diversity and reranking choose from.
    "CANDIDATE_POOL": 50,
    # Reciprocal rank fusion constant: score = sum of 1 / (RRF_K + rank).
    "RRF_K": 60,
    # PostgreSQL text-search configuration of the full-text column (keyword and
    # hybrid ranking). Read by the migration; after changing it run
    # `manage.py rebuild_search_document`.
    "TEXT_SEARCH_CONFIG": "english",
    # A keyword query keeps its most distinctive terms, at most this many (a book's summary as
    # the query of "similar books" has 100 to 300; keeping only 64 cost 0.02 of P@10).
    "KEYWORD_QUERY_TERMS": 256,
    # Estimated (book, term) matches a keyword query reads to find its books, rarest terms
    # first; the books found are scored with every term (bookrec.textsearch). Bounds the
    # cost at any catalogue size; None reads every book sharing any term.
    "KEYWORD_MATCH_BUDGET": 5000,
    # -- Free-text search --
    # Longest accepted query, in characters.
    "MAX_QUERY_CHARS": 500,
    # Django cache alias holding query vectors (share it between web processes:
    # Redis or Memcached in production).
    "SEARCH_CACHE": "default",
    # How long a query vector is kept (s).
    "SEARCH_CACHE_TIMEOUT": 24 * 3600,
    # When the query cannot be embedded: False answers 503; True answers the
    # keyword results alone (and says so in the response).
    "SEARCH_FALLBACK_TO_KEYWORD": False,
    # -- A reader's taste --
    # Most liked + disliked books one request may give.
    "MAX_TASTE_EXAMPLES": 50,
    # -- Reranking (off unless RERANK_BASE_URL is set) --
    # SGLang (or compatible) server with /v1/rerank, e.g. http://sglang-rerank:30000/v1.
    "RERANK_BASE_URL": "",
    # Sent as a bearer token; local servers need none.
    "RERANK_API_KEY": "",
    # The "model" field of rerank requests.
    "RERANK_MODEL": "Qwen/Qwen3-Reranker-0.6B",
    # How many of the first-stage candidates are sent to the reranker.
    "RERANK_CANDIDATES": 30,
    # Per request (s), and retries of connection errors, 408/409/429 and 5xx.
    "RERANK_TIMEOUT": 10.0,
    "RERANK_MAX_RETRIES": 1,
    # The reranker's instruction for "similar books" (search uses QUERY_INSTRUCTION).
    "SIMILAR_RERANK_INSTRUCTION": "Given a book's description, retrieve books on the same subjects",
    # -- The API's policies (bookrec.api) --
    # Lists of dotted paths of DRF classes for bookrec's endpoints; None: the site's own
    # REST_FRAMEWORK defaults. Read per request. Whatever they say, writes also need the model
    # permissions, and search and re-embedding keep their embedding-call throttle.
    "API_PERMISSION_CLASSES": None,
    "API_AUTHENTICATION_CLASSES": None,
    "API_THROTTLE_CLASSES": None,
}

IMPORT_STRINGS = {"EMBEDDER", "API_PERMISSION_CLASSES", "API_AUTHENTICATION_CLASSES", "API_THROTTLE_CLASSES"}

OPENAI_EMBEDDER = "bookrec.embedders.openai.OpenAICompatibleEmbedder"
LOCAL_EMBEDDER = "bookrec.embedders.local.LocalE5Embedder"


def imported(value):
    """A dotted path (or a list of them) imported; anything else as it is."""
    if isinstance(value, str):
        return import_string(value)
    if isinstance(value, (list, tuple)):
        return [imported(item) for item in value]
    return value


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
        if name in IMPORT_STRINGS:
            value = imported(value)
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


bookrec_settings = BookrecSettings()


def reload_bookrec_settings(*, setting, **kwargs):
    if setting == "BOOKREC":
        bookrec_settings.reload()


setting_changed.connect(reload_bookrec_settings)
