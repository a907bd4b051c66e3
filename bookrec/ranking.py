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

from bookrec import fusion, rerank, schema, textsearch
from bookrec.conf import bookrec_settings
from bookrec.explanations import explained, subjects
from bookrec.recommendations import Recommendation, StoredVector, current_vectors, nearest, orm_vector
from bookrec.registry import registration_for

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

    vector: object = None  # a sequence of floats, or a StoredVector (an object's, read in SQL)
    terms: list = field(default_factory=list)
    text: str = ""  # what the reranker reads as the query ("" = not rerankable)
    rerank_instruction: str = ""
    exclude_ids: tuple = ()
    subjects: frozenset = frozenset()  # of the object(s) asked about: results sharing them say so


class Ranking(list):
    """Recommendations, best first (a list of them), and how they were found."""

    def __init__(self, results=(), mode="", reranked=False, notice=""):
        super().__init__(results)
        self.mode = mode
        self.reranked = reranked
        self.notice = notice  # why the answer is not what was asked for, when it is not

    @property
    def results(self):
        return list(self)

    def __repr__(self):
        return f"Ranking({list.__repr__(self)}, mode={self.mode!r}, reranked={self.reranked!r}, notice={self.notice!r})"


def candidate_pool_size(limit, mode, options):
    """How many first-stage candidates the later stages choose from."""
    shaping = options.diversity or options.max_per_author or mode == Mode.HYBRID or wants_reranking(options)
    return max(limit, bookrec_settings.CANDIDATE_POOL) if shaping else limit


def wants_reranking(options):
    return rerank.reranking_enabled() if options.rerank is None else options.rerank and rerank.reranking_enabled()


def rank(query, registration, *, mode, candidates=None, options=RankingOptions()):
    """Rank ``candidates`` (a queryset of the registered model, default all) for ``query`` by
    ``mode``."""
    if options.min_similarity is not None and query.vector is None:
        raise ValueError("A minimum similarity needs a query vector (mode vector or hybrid).")
    limit = options.limit or bookrec_settings.DEFAULT_LIMIT
    pool = candidate_pool_size(limit, mode, options)
    candidates = candidates if candidates is not None else registration.objects()
    if mode == Mode.VECTOR:
        items = vector_stage(query, registration, candidates, pool)
    elif mode == Mode.KEYWORD:
        items = keyword_stage(query, registration, candidates, pool)
    elif mode == Mode.HYBRID:
        items = fused(
            vector_stage(query, registration, candidates, pool), keyword_stage(query, registration, candidates, pool)
        )
    else:
        raise ValueError(f"Unknown mode {mode!r}.")
    return shape(items, query, registration, mode=mode, options=options)


def vector_stage(query, registration, candidates, pool):
    """The ``pool`` nearest objects by cosine similarity (HNSW, filters in the same query)."""
    found = nearest(registration, query.vector, candidates=candidates, limit=pool, exclude_ids=query.exclude_ids)
    return [replace(item, score=item.similarity) for item in found]


def keyword_stage(query, registration, candidates, pool):
    """The ``pool`` best objects by full-text score (see ``textsearch``)."""
    found = textsearch.keyword_ranking(
        registration, query.terms, candidates=candidates, limit=pool, exclude_ids=query.exclude_ids
    )
    items = [Recommendation(obj, None, score, found_by=("keyword",), matched=matched) for obj, score, matched in found]
    return with_similarity(items, registration, candidates, query.vector)


def fused(by_vector, by_keyword):
    """Both rankings fused by reciprocal rank fusion (``RRF_K``); an object both found keeps
    its vector stage's similarity and its keyword stage's matched terms."""
    items = {item.object.pk: item for item in by_keyword}
    for item in by_vector:
        found = items.get(item.object.pk)
        items[item.object.pk] = replace(item, found_by=("vector", "keyword"), matched=found.matched) if found else item
    scores = fusion.reciprocal_rank_fusion(
        [item.object.pk for item in by_vector], [item.object.pk for item in by_keyword], k=bookrec_settings.RRF_K
    )
    return [replace(items[pk], score=score) for pk, score in scores]


def with_similarity(items, registration, candidates, vector):
    """Fill in the cosine similarity to ``vector`` where it is missing (objects from the
    keyword stage), in one query: the vectors stay in the database."""
    missing = [item.object.pk for item in items if item.similarity is None]
    if vector is None or not missing:
        return items
    similarities = dict(
        current_vectors(registration, candidates).filter(object_id__in=missing)
        .annotate(similarity=Value(1.0, output_field=FloatField()) - CosineDistance(schema.vector_expression(), orm_vector(vector)))
        .values_list("object_id", "similarity")
    )
    return [
        replace(item, similarity=similarities.get(item.object.pk)) if item.similarity is None else item
        for item in items
    ]


def shape(items, query, registration, *, mode, options):
    """Threshold, rerank, diversify and cut a first-stage list of Recommendations."""
    limit = options.limit or bookrec_settings.DEFAULT_LIMIT
    if options.min_similarity is not None:
        items = [item for item in items if item.similarity is not None and item.similarity >= options.min_similarity]
    reranked = False
    if wants_reranking(options) and query.text and items:
        items, reranked = reranked_items(items, query, registration)
    if options.diversity:
        order = fusion.maximal_marginal_relevance(
            [item.score for item in items], stored_vectors(items, registration), diversity=options.diversity,
            limit=len(items),
        )
        items = [items[i] for i in order]
    if registration.author_field:
        items = fusion.cap_per_author(
            items, lambda item: getattr(item.object, registration.author_field), options.max_per_author
        )
    return Ranking(results=explained(items[:limit], query, registration), mode=mode, reranked=reranked)


def stored_vectors(items, registration):
    """The items' vectors in the active space (None where an object has none), in one query."""
    pks = [item.object.pk for item in items]
    rows = current_vectors(registration, registration.objects().using(items[0].object._state.db)) if items else None
    vectors = dict(rows.filter(object_id__in=pks).values_list("object_id", "embedding")) if items else {}
    return [None if vectors.get(pk) is None else np.asarray(vectors[pk], dtype=np.float64) for pk in pks]


def reranked_items(items, query, registration):
    """The top ``RERANK_CANDIDATES`` re-ordered by the reranker's scores; on failure the
    first-stage order, logged."""
    head, tail = items[: bookrec_settings.RERANK_CANDIDATES], items[bookrec_settings.RERANK_CANDIDATES :]
    try:
        scores = rerank.rerank_scores(
            query.text, [registration.render(item.object) for item in head], instruction=query.rerank_instruction
        )
    except rerank.RerankError as exc:
        logger.warning("Reranking failed, keeping the first-stage order: %s", exc)
        return items, False
    head = sorted((replace(item, score=score) for item, score in zip(head, scores)), key=lambda item: -item.score)
    return head + tail, True


def rank_similar(obj, *, mode=None, candidates=None, options=RankingOptions()):
    """Objects like ``obj`` (an instance of a registered model) by ``mode`` (default
    ``SIMILAR_MODE``), itself excluded.

    Vector and hybrid need the object's vector (NotEmbedded otherwise); keyword works for any
    object with text, embedded or not.
    """
    registration = registration_for(obj)
    mode = mode or bookrec_settings.SIMILAR_MODE
    query = Query(
        vector=StoredVector(registration, obj),  # read in SQL; NotEmbedded from the vector stage
        terms=textsearch.object_terms(registration, obj) if mode != Mode.VECTOR else [],
        text=registration.render(obj),
        rerank_instruction=bookrec_settings.SIMILAR_RERANK_INSTRUCTION,
        exclude_ids=(obj.pk,),
        subjects=subjects(registration, [obj])[obj.pk],
    )
    return rank(query, registration, mode=mode, candidates=candidates, options=options)
