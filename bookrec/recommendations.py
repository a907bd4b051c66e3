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
from pgvector import Vector

from bookrec import indexing, schema
from bookrec.conf import bookrec_settings
from bookrec.models import Embedding, EmbeddingStatus


class NotEmbedded(Exception):
    """The object has no vector in the active space (yet)."""

    def __init__(self, obj, status):
        self.object, self.status = obj, status
        name = f"{obj._meta.verbose_name.capitalize()} {obj.pk}"
        if status == EmbeddingStatus.SKIPPED:  # it never will be, as it stands
            message = f"{name} has no text to embed (status: skipped): it is embedded once its text is filled in."
        else:
            message = f"{name} has no embedding from the current model yet (status: {status})."
        super().__init__(message)


@dataclass(frozen=True)
class Recommendation:
    object: models.Model  # the registered model's own instance
    similarity: float | None  # cosine similarity to the query; None when it has no vector
    score: float | None = None  # what the ranking ordered by (see bookrec.ranking)
    found_by: tuple = ()  # the first stage(s) that ranked it: "vector", "keyword"
    matched: tuple = ()  # the query's lexemes it has, strongest first (keyword stage)
    explanation: object = None  # bookrec.explanations.Explanation, once the ranking is shaped


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


# The nearest rows of the active space among the candidates (the host's queryset, as a subquery
# of primary keys: PostgreSQL turns the IN into a semi-join checked row by row along the index
# scan). Written by hand: composing it with the ORM took about as long as PostgreSQL takes to run it.
_NEAREST = """
    SELECT e.object_id, {vector} <=> {query} AS distance
      FROM {embeddings} AS e
     WHERE e.model_label = %s AND e.space = %s AND e.status = %s
       AND e.object_id <> ALL(%s::bigint[])
       AND e.object_id IN ({candidates})
     ORDER BY distance
     LIMIT %s
"""


def nearest(registration, vector, *, candidates=None, limit=None, exclude_ids=()):
    """The ``limit`` objects nearest to ``vector`` among ``candidates`` (a queryset of the
    registered model), as Recommendations.

    ``vector`` is a sequence of floats, or a ``StoredVector`` (NotEmbedded when that object has
    no vector in the active space).
    """
    limit = limit or bookrec_settings.DEFAULT_LIMIT
    candidates = candidates if candidates is not None else registration.objects()
    using = candidates.db
    if isinstance(vector, StoredVector):
        query_sql, query_params = vector.sql(using)
    else:
        query_sql, query_params = "%s::halfvec", [Vector(vector).to_text()]
    candidates_sql, candidates_params = candidates.order_by().values("pk").query.get_compiler(using=using).as_sql()
    sql = _NEAREST.format(
        vector=schema.vector_sql("e." + schema.VECTOR_COLUMN), query=query_sql,
        embeddings=indexing.table(Embedding, using), candidates=candidates_sql,
    )
    params = [
        *query_params, registration.model_label, indexing.active_space(), EmbeddingStatus.EMBEDDED,
        list(exclude_ids), *candidates_params, limit,
    ]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        apply_search_settings(cursor)
        cursor.execute(sql, params)
        found = cursor.fetchall()
    # relaxed_order iterative scans may return rows slightly out of order. No distance: the
    # query vector is missing (or was replaced while the query ran).
    found = sorted((row for row in found if row[1] is not None), key=lambda row: row[1])
    if not found and isinstance(vector, StoredVector):
        vector.check_embedded()  # nothing found because there was nothing to compare with?
    objects = objects_by_pk(candidates, [pk for pk, _ in found])
    return [Recommendation(objects[pk], 1.0 - distance, found_by=("vector",)) for pk, distance in found if pk in objects]


def objects_by_pk(queryset, pks):
    """``{pk: object}`` of these pks among ``queryset``, the way every ranking fetches its
    results. No ORDER BY: the model's default ordering (``title``) made PostgreSQL walk the
    whole title index to sort ten rows."""
    return queryset.order_by().in_bulk(list(pks))


@dataclass(frozen=True)
class StoredVector:
    """An object's vector in the active space, read by the query that compares with it (no 1024
    floats parsed and sent back); NULL while the object has none."""

    registration: object
    object: models.Model

    @property
    def using(self):
        return self.object._state.db or "default"

    def sql(self, using):
        return (
            f"(SELECT q.{schema.VECTOR_COLUMN} FROM {indexing.table(Embedding, using)} AS q"
            " WHERE q.model_label = %s AND q.space = %s AND q.object_id = %s AND q.status = %s)",
            [self.registration.model_label, indexing.active_space(), self.object.pk, EmbeddingStatus.EMBEDDED],
        )

    def expression(self):
        """The same subquery for the ORM."""
        rows = indexing.active_embeddings(self.registration, using=self.using).filter(
            object_id=self.object.pk, status=EmbeddingStatus.EMBEDDED
        )
        return Subquery(rows.values("embedding"))

    def check_embedded(self):
        """Raise NotEmbedded unless the object has a vector in the active space."""
        rows = indexing.active_embeddings(self.registration, using=self.using).filter(object_id=self.object.pk)
        status, has_vector = rows.values_list("status", Q(embedding__isnull=False)).first() or (None, False)
        if status != EmbeddingStatus.EMBEDDED or not has_vector:
            raise NotEmbedded(self.object, status or EmbeddingStatus.PENDING)


def orm_vector(vector):
    """A query vector as the ORM takes it (``CosineDistance(column, orm_vector(vector))``)."""
    return vector.expression() if isinstance(vector, StoredVector) else vector
