"""The example site as the benchmarks run it: production-like (no DEBUG), 1024-dimensional
vectors, the free hashing embedder unless BOOKREC_EMBEDDER names another, and the
benchmark-only baseline views mounted beside the API."""

import os

from library_site.settings import *  # noqa: F401,F403
from library_site.settings import BOOKREC, REST_FRAMEWORK

DEBUG = False
ROOT_URLCONF = "bench.urls"
BOOKREC = {
    **BOOKREC,
    "EMBEDDER": os.environ.get("BOOKREC_EMBEDDER", "bookrec.embedders.hashing.HashingEmbedder"),
    "EMBEDDING_DIMENSIONS": int(os.environ.get("EMBEDDING_DIMENSIONS") or 1024),
    # BOOKREC_HNSW_EF_SEARCH=100 bench/similar.py ...: what a larger ef_search gives.
    "HNSW_EF_SEARCH": int(os.environ.get("BOOKREC_HNSW_EF_SEARCH") or BOOKREC.get("HNSW_EF_SEARCH", 40)),
}
LOGGING = {"version": 1, "disable_existing_loggers": False}
# The load generator is one client: search's per-client throttle would answer it 429.
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {**REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "bookrec_search": "1000000/min"},
}
