"""Nearest neighbours in PostgreSQL with pgvector: the one place that turns "objects like this
vector" into SQL, for any registered model.

The active space's vectors are ordered by cosine distance (``<=>``) through their partial HNSW
index (``bookrec.schema``); the candidates (the host's queryset, with its filters) are checked
in the same query, and pgvector's iterative index scans keep scanning until ``limit`` rows
pass, so a filtered query still returns ``limit`` rows when that many match. A record whose
object no longer exists never answers: the candidates' own table is part of the query.
"""

from dataclasses import dataclass

from django.db import connections, models, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from pgvector.django import CosineDistance

from bookrec import indexing, schema
from bookrec.conf import bookrec_settings
from bookrec.models import EmbeddingStatus


class NotEmbedded(Exception):
    """The object has no vector in the active space (yet)."""

    def __init__(self, obj, status):
        self.object, self.status = obj, status
        super().__init__(
            f"{obj._meta.verbose_name.capitalize()} {obj.pk} has no embedding from the current model yet "
            f"(status: {status})."
        )


@dataclass(frozen=True)
class Recommendation:
    object: models.Model  # the registered model's own instance
    similarity: float | None  # cosine similarity to the query; None when it has no vector
    score: float | None = None  # what the ranking ordered by (see bookrec.ranking)


def apply_search_settings(cursor):
    """HNSW query settings, scoped to the current transaction (``SET LOCAL``)."""
    cursor.execute(
        "SELECT set_config('hnsw.ef_search', %s, true),"
        " set_config('hnsw.iterative_scan', %s, true),"
        " set_config('hnsw.max_scan_tuples', %s, true)",
        [
            str(bookrec_settings.HNSW_EF_SEARCH),
            bookrec_settings.HNSW_ITERATIVE_SCAN,
            str(bookrec_settings.HNSW_MAX_SCAN_TUPLES),
        ],
    )


def current_vectors(registration, candidates=None):
    """The active space's embedded rows of the candidates (default: every object)."""
    candidates = candidates if candidates is not None else registration.objects()
    return (
        indexing.active_embeddings(registration, using=candidates.db)
        .filter(status=EmbeddingStatus.EMBEDDED)
        .filter(Exists(candidates.order_by().filter(pk=OuterRef("object_id"))))
    )


def nearest(registration, vector, *, candidates=None, limit=None, exclude_ids=()):
    """The ``limit`` objects nearest to ``vector`` among ``candidates`` (a queryset of the
    registered model), as Recommendations.

    ``vector`` is a sequence of floats, or an SQL expression that gives one.
    """
    limit = limit or bookrec_settings.DEFAULT_LIMIT
    candidates = candidates if candidates is not None else registration.objects()
    rows = current_vectors(registration, candidates)
    if exclude_ids:
        rows = rows.exclude(object_id__in=list(exclude_ids))
    rows = (
        rows.annotate(distance=CosineDistance(schema.vector_expression(), vector))
        .order_by("distance").values_list("object_id", "distance")[:limit]
    )
    with transaction.atomic(using=candidates.db):
        with connections[candidates.db].cursor() as cursor:
            apply_search_settings(cursor)
        found = list(rows)
    # relaxed_order iterative scans may return rows slightly out of order. No distance: the
    # query vector was replaced while the query ran (the object is being embedded again).
    found = sorted((row for row in found if row[1] is not None), key=lambda row: row[1])
    objects = candidates.in_bulk([pk for pk, _ in found])
    return [Recommendation(objects[pk], 1.0 - distance) for pk, distance in found if pk in objects]


def stored_vector(registration, obj):
    """The object's vector as an SQL subquery (it stays in the database: no 1024 floats parsed
    and sent back), if it has one in the active space; else raise NotEmbedded."""
    rows = indexing.active_embeddings(registration, using=obj._state.db or "default").filter(object_id=obj.pk)
    status, has_vector = rows.values_list("status", Q(embedding__isnull=False)).first() or (None, False)
    if status != EmbeddingStatus.EMBEDDED or not has_vector:
        raise NotEmbedded(obj, status or EmbeddingStatus.PENDING)
    return Subquery(rows.values("embedding")[:1])
