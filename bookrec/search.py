"""Free-text search: "books about <text>".

The query is embedded through the configured embedder as a *query* (the Qwen3 instruction
``QUERY_INSTRUCTION``, or e5's ``query:`` prefix; documents carry none), and the vector is kept
in Django's cache framework, so an identical query never reaches the embedding server twice.
When the embedder fails, the search either fails with ``SearchUnavailable`` (the API's 503)
or, with ``SEARCH_FALLBACK_TO_KEYWORD``, answers with the keyword ranking alone and says so.
"""

import hashlib
import logging
from dataclasses import replace

from django.core.cache import caches

from bookrec import textsearch
from bookrec.conf import bookrec_settings
from bookrec.embedders import EmbeddingError, get_embedder
from bookrec.ranking import Mode, Query, RankingOptions, rank
from bookrec.registry import registration_for

logger = logging.getLogger(__name__)


class SearchUnavailable(Exception):
    """The query could not be embedded and keyword fallback is off."""


def query_cache_key(embedder, text):
    """Everything that changes the vector: model, width, instruction, the text sent."""
    identity = "\x00".join(
        [embedder.model_name, bookrec_settings.QUERY_INSTRUCTION, embedder.prepare(text)]
    )
    return "bookrec:query-vector:" + hashlib.sha256(identity.encode("utf-8")).hexdigest()


def query_vector(text):
    """The query's vector, from the cache or the embedder (then cached)."""
    embedder = get_embedder()
    cache = caches[bookrec_settings.SEARCH_CACHE]
    key = query_cache_key(embedder, text)
    cached = cache.get(key)
    if cached is not None:
        return cached
    vector = [float(x) for x in embedder.embed_query(text)]
    cache.set(key, vector, bookrec_settings.SEARCH_CACHE_TIMEOUT)
    return vector


def search_objects(model, text, *, mode=None, candidates=None, options=RankingOptions()):
    """Objects of ``model`` (a registered model) about ``text`` by ``mode`` (default
    ``SEARCH_MODE``): a ``Ranking``."""
    registration = registration_for(model)
    mode = mode or bookrec_settings.SEARCH_MODE
    vector, notice = None, ""
    if mode != Mode.KEYWORD:
        try:
            vector = query_vector(text)
        except EmbeddingError as exc:
            if not bookrec_settings.SEARCH_FALLBACK_TO_KEYWORD:
                raise SearchUnavailable(f"The query could not be embedded: {exc}") from exc
            logger.warning("Search fell back to keyword ranking: %s", exc)
            notice = f"Keyword results only: the query could not be embedded ({exc})."
            if options.min_similarity is not None:
                notice += " The minimum similarity was not applied."
            mode, options = Mode.KEYWORD, replace(options, min_similarity=None)
    query = Query(
        vector=vector,
        terms=textsearch.text_terms(text) if mode != Mode.VECTOR else [],
        text=text,
        rerank_instruction=bookrec_settings.QUERY_INSTRUCTION,
    )
    ranking = rank(query, registration, mode=mode, candidates=candidates, options=options)
    ranking.notice = notice
    return ranking
