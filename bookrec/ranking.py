"""The ranking pipeline every recommendation goes through: a first stage chosen by mode,
then the shaping that every endpoint shares.

1. First stage, in PostgreSQL: ``vector`` (cosine through the HNSW index, filters in the same
   query with iterative scans), ``keyword`` (full text, see ``textsearch``) or ``hybrid``
   (both lists fused by reciprocal rank fusion).
2. A minimum cosine similarity to the query, when asked.
3. Reranking of the top candidates by a cross-encoder, when one is configured; a reranker
   failure keeps the first-stage order and is logged.
4. Diversity: maximal marginal relevance and a cap of books per author, when asked.

Similar books, free-text search and a reader's taste differ only in how they build the
``Query`` (and the taste's best-score strategy in its own first stage).
"""

import logging
from dataclasses import dataclass, field, replace

import numpy as np
from django.db import models
from django.db.models import FloatField, Value
from pgvector.django import CosineDistance

from bookrec import fusion, rerank, textsearch
from bookrec.conf import bookrec_settings
from bookrec.documents import document_text
from bookrec.models import Book
from bookrec.recommendations import NotEmbedded, Recommendation, nearest_books, stored_vector

logger = logging.getLogger(__name__)


class Mode(models.TextChoices):
    VECTOR = "vector", "Vector: embedding similarity"
    KEYWORD = "keyword", "Keyword: full-text search"
    HYBRID = "hybrid", "Hybrid: vector and keyword fused"


@dataclass(frozen=True)
class RankingOptions:
    limit: int | None = None
    # Drop books whose cosine similarity to the query is lower (needs a query vector).
    min_similarity: float | None = None
    # Maximal marginal relevance: 0 keeps the relevance order, 1 maximises dissimilarity.
    diversity: float = 0.0
    max_per_author: int | None = None
    # None: rerank whenever a reranker is configured.
    rerank: bool | None = None


@dataclass
class Query:
    """What to rank against. ``vector`` None: no vector ranking (keyword only)."""

    vector: object = None  # a sequence of floats, or an SQL expression giving one
    terms: list = field(default_factory=list)
    text: str = ""  # what the reranker reads as the query ("" = not rerankable)
    rerank_instruction: str = ""
    exclude_ids: tuple = ()


@dataclass
class Ranking:
    results: list  # [Recommendation]
    mode: str
    reranked: bool = False
    notice: str = ""  # why the answer is not what was asked for, when it is not


def candidate_pool_size(limit, mode, options):
    """How many first-stage candidates the later stages choose from."""
    shaping = options.diversity or options.max_per_author or mode == Mode.HYBRID or wants_reranking(options)
    return max(limit, bookrec_settings.CANDIDATE_POOL) if shaping else limit


def wants_reranking(options):
    return rerank.reranking_enabled() if options.rerank is None else options.rerank and rerank.reranking_enabled()


def rank(query, *, mode, candidates=None, options=RankingOptions()):
    """Rank ``candidates`` (a Book queryset, default all) for ``query`` by ``mode``."""
    if options.min_similarity is not None and query.vector is None:
        raise ValueError("A minimum similarity needs a query vector (mode vector or hybrid).")
    limit = options.limit or bookrec_settings.DEFAULT_LIMIT
    pool = candidate_pool_size(limit, mode, options)
    candidates = candidate_books(candidates)
    if mode == Mode.VECTOR:
        items = vector_stage(query, candidates, pool)
    elif mode == Mode.KEYWORD:
        items = keyword_stage(query, candidates, pool)
    elif mode == Mode.HYBRID:
        items = fused(vector_stage(query, candidates, pool), keyword_stage(query, candidates, pool), query)
    else:
        raise ValueError(f"Unknown mode {mode!r}.")
    return shape(items, query, mode=mode, options=options)


def candidate_books(candidates=None):
    """The candidates (default: every book), without the full-text document and the vector:
    neither is shown, and the stages that need vectors read them in SQL (similarity) or in
    one query (diversity, ``stored_vectors``)."""
    return (candidates if candidates is not None else Book.objects.all()).defer(textsearch.SEARCH_COLUMN, "embedding")


def vector_stage(query, candidates, pool):
    """The ``pool`` nearest books by cosine similarity (HNSW, filters in the same query)."""
    found = nearest_books(query.vector, candidates=candidates, limit=pool, exclude_ids=query.exclude_ids)
    return [replace(item, score=item.similarity) for item in found]


def keyword_stage(query, candidates, pool):
    """The ``pool`` best books by full-text score (see ``textsearch``)."""
    found = textsearch.keyword_ranking(query.terms, candidates=candidates, limit=pool, exclude_ids=query.exclude_ids)
    return with_similarity([Recommendation(book, None, score) for book, score in found], query.vector)


def fused(by_vector, by_keyword, query):
    """Both rankings fused by reciprocal rank fusion (``RRF_K``)."""
    items = {item.book.pk: item for item in by_keyword} | {item.book.pk: item for item in by_vector}
    scores = fusion.reciprocal_rank_fusion(
        [item.book.pk for item in by_vector], [item.book.pk for item in by_keyword], k=bookrec_settings.RRF_K
    )
    return [replace(items[pk], score=score) for pk, score in scores]


def with_similarity(items, vector):
    """Fill in the cosine similarity to ``vector`` where it is missing (books from the keyword
    stage), in one query: the vectors stay in the database."""
    missing = [item.book.pk for item in items if item.similarity is None]
    if vector is None or not missing:
        return items
    similarities = dict(
        current_embeddings(items, missing)
        .annotate(similarity=Value(1.0, output_field=FloatField()) - CosineDistance("embedding", vector))
        .values_list("pk", "similarity")
    )
    return [
        replace(item, similarity=similarities.get(item.book.pk)) if item.similarity is None else item
        for item in items
    ]


def current_embeddings(items, pks):
    """The books ``pks`` (from ``items``' database) that have a vector from the current model."""
    return Book.objects.using(items[0].book._state.db).filter(pk__in=pks).with_current_embedding()


def shape(items, query, *, mode, options):
    """Threshold, rerank, diversify and cut a first-stage list of Recommendations."""
    limit = options.limit or bookrec_settings.DEFAULT_LIMIT
    if options.min_similarity is not None:
        items = [item for item in items if item.similarity is not None and item.similarity >= options.min_similarity]
    reranked = False
    if wants_reranking(options) and query.text and items:
        items, reranked = reranked_items(items, query)
    if options.diversity:
        order = fusion.maximal_marginal_relevance(
            [item.score for item in items], stored_vectors(items), diversity=options.diversity, limit=len(items)
        )
        items = [items[i] for i in order]
    items = fusion.cap_per_author(items, lambda item: item.book.author, options.max_per_author)
    return Ranking(results=items[:limit], mode=mode, reranked=reranked)


def stored_vectors(items):
    """The items' vectors from the current model (None where a book has none), in one query."""
    pks = [item.book.pk for item in items]
    vectors = dict(current_embeddings(items, pks).values_list("pk", "embedding")) if items else {}
    return [None if vectors.get(pk) is None else np.asarray(vectors[pk], dtype=np.float64) for pk in pks]


def reranked_items(items, query):
    """The top ``RERANK_CANDIDATES`` re-ordered by the reranker's scores; on failure the
    first-stage order, logged."""
    head, tail = items[: bookrec_settings.RERANK_CANDIDATES], items[bookrec_settings.RERANK_CANDIDATES :]
    try:
        scores = rerank.rerank_scores(
            query.text, [document_text(item.book) for item in head], instruction=query.rerank_instruction
        )
    except rerank.RerankError as exc:
        logger.warning("Reranking failed, keeping the first-stage order: %s", exc)
        return items, False
    head = sorted((replace(item, score=score) for item, score in zip(head, scores)), key=lambda item: -item.score)
    return head + tail, True


def rank_similar(book, *, mode=None, candidates=None, options=RankingOptions()):
    """Books like ``book`` by ``mode`` (default ``SIMILAR_MODE``), itself excluded.

    Vector and hybrid need the book's vector (NotEmbedded otherwise); keyword works for any
    book with text, embedded or not.
    """
    mode = mode or bookrec_settings.SIMILAR_MODE
    try:
        vector = stored_vector(book)  # stays in SQL: no 1024 floats read and sent back
    except NotEmbedded:
        if mode != Mode.KEYWORD:
            raise
        vector = None
    query = Query(
        vector=vector,
        terms=textsearch.book_terms(book) if mode != Mode.VECTOR else [],
        text=document_text(book),
        rerank_instruction=bookrec_settings.SIMILAR_RERANK_INSTRUCTION,
        exclude_ids=(book.pk,),
    )
    return rank(query, mode=mode, candidates=candidates, options=options)
