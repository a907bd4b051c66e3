"""Keeping bookrec's records (``Document``, ``Embedding``) in step with the registered objects.

``sync_objects`` is the one way in: saves (``bookrec.signals``), imports, workers and the sweep
all call it. An object whose text changed gets a new fingerprint and full-text terms, and its
vectors are cleared (pending, or skipped without text) in every space, so a vector never stands
for text the object no longer has. ``sweep`` finds what no signal saw (``QuerySet.update()``,
``bulk_create``, raw SQL, deleted rows) by comparing fingerprints.

Every bulk write locks documents before embeddings, in object-id order, so that writers with
overlapping objects wait for each other instead of deadlocking.
"""

from contextlib import contextmanager
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError, connections, transaction
from django.db.models import Case, CharField, F, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Coalesce

from bookrec.cjk import document_text
from bookrec.conf import bookrec_settings
from bookrec.embedders import get_embedder
from bookrec.models import Document, Embedding, EmbeddingStatus
from bookrec.registry import registration_for

SWEEP_CHUNK = 1000

# The full-text document from the four weighted texts v.a .. v.d (Registration.weighted_texts).
_SEARCH_DOCUMENT = (
    "setweight(to_tsvector(%(config)s::regconfig, v.a), 'A') || setweight(to_tsvector(%(config)s::regconfig, v.b), 'B')"
    " || setweight(to_tsvector(%(config)s::regconfig, v.c), 'C') || setweight(to_tsvector(%(config)s::regconfig, v.d), 'D')"
)
_UPSERT_DOCUMENTS = """
    INSERT INTO {documents} AS d (model_label, object_id, content_hash, search_document, updated_at)
    SELECT %(model_label)s, v.id, v.hash, """ + _SEARCH_DOCUMENT + """, now()
      FROM unnest(%(ids)s::bigint[], %(hashes)s::text[], %(a)s::text[], %(b)s::text[], %(c)s::text[], %(d)s::text[])
           AS v(id, hash, a, b, c, d)
     ORDER BY v.id
    ON CONFLICT (model_label, object_id) DO UPDATE
       SET content_hash = EXCLUDED.content_hash, search_document = EXCLUDED.search_document,
           updated_at = EXCLUDED.updated_at
"""
_REWRITE_SEARCH_DOCUMENTS = """
    UPDATE {documents} AS d SET search_document = """ + _SEARCH_DOCUMENT + """
      FROM unnest(%(ids)s::bigint[], %(a)s::text[], %(b)s::text[], %(c)s::text[], %(d)s::text[]) AS v(id, a, b, c, d)
     WHERE d.model_label = %(model_label)s AND d.object_id = v.id
"""
_CLEAR_VECTORS = """
    UPDATE {embeddings} AS e
       SET embedding = NULL, embedded_hash = '', error = '', embedded_at = NULL,
           status = CASE WHEN v.hash = '' THEN %s ELSE %s END
      FROM unnest(%s::bigint[], %s::text[]) AS v(id, hash)
     WHERE e.model_label = %s AND e.object_id = v.id
"""
_ADD_MISSING = """
    INSERT INTO {embeddings} (model_label, object_id, space, embedded_hash, status, error)
    SELECT %s, v.id, %s, '', CASE WHEN v.hash = '' THEN %s ELSE %s END, ''
      FROM unnest(%s::bigint[], %s::text[]) AS v(id, hash)
     ORDER BY v.id
    ON CONFLICT (model_label, object_id, space) DO NOTHING
"""


def active_space():
    """The embedding space queries read and workers fill: the configured model's name (with
    its width when it is not the model's own)."""
    return get_embedder().model_name


def table(model, using="default"):
    return connections[using].ops.quote_name(model._meta.db_table)


def sync_objects(registration, objects, *, using="default"):
    """Bring bookrec's records of ``objects`` (instances of the registered model) up to date
    with their text. Returns the pks of those whose text changed (or that are new to bookrec)
    and that have text to embed."""
    objects = sorted(objects, key=lambda obj: obj.pk)
    if not objects:
        return []
    hashes = {obj.pk: registration.content_hash(obj) for obj in objects}
    known = dict(
        Document.objects.using(using)
        .filter(model_label=registration.model_label, object_id__in=list(hashes))
        .values_list("object_id", "content_hash")
    )
    changed = [obj for obj in objects if obj.pk not in known or known[obj.pk] != hashes[obj.pk]]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        if changed:
            write_documents(registration, changed, [hashes[obj.pk] for obj in changed], using=using)
        # Every object has its row in the active space (a new space has none yet).
        cursor.execute(
            _ADD_MISSING.format(embeddings=table(Embedding, using)),
            [registration.model_label, active_space(), EmbeddingStatus.SKIPPED, EmbeddingStatus.PENDING,
             list(hashes), list(hashes.values())],
        )
    return [obj.pk for obj in changed if hashes[obj.pk]]


def document_parameters(registration, objects):
    """The parameters of the full-text statements for these objects."""
    a, b, c, d = (
        [document_text(text) for text in texts]
        for texts in zip(*(registration.weighted_texts(obj) for obj in objects))
    )
    return {
        "model_label": registration.model_label, "config": bookrec_settings.TEXT_SEARCH_CONFIG,
        "ids": [obj.pk for obj in objects], "a": a, "b": b, "c": c, "d": d,
    }


def write_documents(registration, objects, hashes, *, using="default"):
    """Store these objects' fingerprints and full-text terms and clear their vectors in every
    space (pending, or skipped without text)."""
    parameters = {**document_parameters(registration, objects), "hashes": list(hashes)}
    states = [EmbeddingStatus.SKIPPED, EmbeddingStatus.PENDING]
    ids, model_label = parameters["ids"], parameters["model_label"]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(_UPSERT_DOCUMENTS.format(documents=table(Document, using)), parameters)
        cursor.execute(_CLEAR_VECTORS.format(embeddings=table(Embedding, using)), [*states, ids, hashes, model_label])


def rewrite_search_documents(registration, *, using="default"):
    """Write every object's full-text document again (after ``TEXT_SEARCH_CONFIG`` changed);
    objects whose text changed are synced as well. Returns how many objects were read."""
    written = 0
    for chunk in in_chunks(registration.objects().using(using)):
        sync_objects(registration, chunk, using=using)
        with connections[using].cursor() as cursor:
            cursor.execute(
                _REWRITE_SEARCH_DOCUMENTS.format(documents=table(Document, using)),
                document_parameters(registration, chunk),
            )
        written += len(chunk)
    return written


def in_chunks(queryset, size=SWEEP_CHUNK):
    """The queryset's objects in lists of ``size``, by primary key (keyset pagination: each
    chunk costs the same however far in)."""
    queryset, last = queryset.order_by("pk"), None
    while chunk := list((queryset.filter(pk__gt=last) if last is not None else queryset)[:size]):
        yield chunk
        last = chunk[-1].pk


def forget_objects(registration, pks, *, using="default"):
    """Drop bookrec's records of these (deleted) objects."""
    model_label = registration.model_label
    with transaction.atomic(using=using):
        Document.objects.using(using).filter(model_label=model_label, object_id__in=list(pks)).delete()
        Embedding.objects.using(using).filter(model_label=model_label, object_id__in=list(pks)).delete()


# -- the sweep ------------------------------------------------------------------------------


@dataclass
class SweepReport:
    checked: int = 0
    changed: list = None  # pks with new text to embed
    forgotten: int = 0  # records of objects that no longer exist
    missing: list = None  # pks with text but no row in the active space (a new model, say)


def sweep(registration, *, using="default"):
    """Compare every object's fingerprint with bookrec's record and bring the records up to
    date; drop the records of deleted objects. Cost: every object is read and rendered once
    (about a second per 10,000 books here), so run it periodically, not per request."""
    report = SweepReport(changed=[], missing=[])
    for chunk in in_chunks(registration.objects().using(using)):
        report.checked += len(chunk)
        report.changed += sync_objects(registration, chunk, using=using)
    report.forgotten = forget_deleted(registration, using=using)
    report.missing = without_active_vector(registration, using=using)
    return report


# pg_try_advisory_lock's key for "a sweep is running" (any bigint no other lock of the site uses).
SWEEP_LOCK_KEY = int.from_bytes(b"bookrec.", "big") >> 1


@contextmanager
def sweep_lock(using="default"):
    """Yield whether this process got the sweep's PostgreSQL advisory lock (held by the
    session until the block ends, or until its connection drops): one sweep at a time across
    every worker of the site."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SWEEP_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            try:
                with connections[using].cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [SWEEP_LOCK_KEY])
            except (InterfaceError, OperationalError):
                pass  # the connection is gone, and the lock with it


def forget_deleted(registration, *, using="default"):
    """Delete the records whose object is gone (deleted with raw SQL or a signal-less path)."""
    model = registration.model
    host = table(model, using)
    pk_column = connections[using].ops.quote_name(model._meta.pk.column)
    forgotten = 0
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for record in (Document, Embedding):
            cursor.execute(
                f"DELETE FROM {table(record, using)} AS r WHERE r.model_label = %s"
                f" AND NOT EXISTS (SELECT 1 FROM {host} AS h WHERE h.{pk_column} = r.object_id)",
                [registration.model_label],
            )
            forgotten = max(forgotten, cursor.rowcount)
    return forgotten


def without_active_vector(registration, *, using="default"):
    """Pks of objects with text whose active-space row is missing or pending: what the workers
    should be given. Missing rows (the model changed) are added (pending, or skipped without text)."""
    model_label = registration.model_label
    space = active_space()
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table(Embedding, using)} (model_label, object_id, space, embedded_hash, status, error)
            SELECT d.model_label, d.object_id, %s, '', CASE WHEN d.content_hash = '' THEN %s ELSE %s END, ''
              FROM {table(Document, using)} AS d
             WHERE d.model_label = %s
             ORDER BY d.object_id
            ON CONFLICT (model_label, object_id, space) DO NOTHING
            """,
            [space, EmbeddingStatus.SKIPPED, EmbeddingStatus.PENDING, model_label],
        )
    return list(
        Embedding.objects.using(using)
        .filter(model_label=model_label, space=space, status=EmbeddingStatus.PENDING)
        .order_by("object_id").values_list("object_id", flat=True)
    )


# -- reading the records --------------------------------------------------------------------


def active_embeddings(registration, *, using="default"):
    """The active space's embedding rows of this model."""
    return Embedding.objects.using(using).filter(model_label=registration.model_label, space=active_space())


def embedding_states(registration, pks, *, using="default"):
    """``{pk: Embedding}`` of the active space for these objects (absent: never synced)."""
    return {
        row.object_id: row
        for row in active_embeddings(registration, using=using).filter(object_id__in=list(pks)).defer("embedding")
    }


def embedding_status_expression(registration, using="default"):
    """Each object's status in the active space, as an expression over the registered model
    (pending when bookrec has no record yet)."""
    rows = active_embeddings(registration, using=using).filter(object_id=OuterRef("pk"))
    return Coalesce(Subquery(rows.values("status")[:1]), Value(EmbeddingStatus.PENDING), output_field=CharField())


def with_embedding_state(queryset):
    """The queryset with each object's state in the active space as ``embedding_status``
    (pending when bookrec has no record yet), ``embedding_error`` and ``embedded_at``, and as
    ``embedding_model`` the model whose vector it has (the current one's, else another's: stale):
    what the admin shows, filters and sorts by. Four subqueries to compile: for objects already
    fetched, ``attach_embedding_states`` reads the same in one plain query."""
    registration = registration_for(queryset.model)
    rows = active_embeddings(registration, using=queryset.db).filter(object_id=OuterRef("pk"))
    return queryset.annotate(
        embedding_status=embedding_status_expression(registration, using=queryset.db),
        embedding_model=Coalesce(Subquery(
            # the model whose vector the object has: the current one's, else the latest other's
            Embedding.objects.using(queryset.db)
            .filter(model_label=registration.model_label, object_id=OuterRef("pk"), embedding__isnull=False)
            .order_by(Case(When(space=active_space(), then=0), default=1), F("embedded_at").desc(nulls_last=True))
            .values("space")[:1]
        ), Value(""), output_field=CharField()),
        embedding_error=Coalesce(Subquery(rows.values("error")[:1]), Value(""), output_field=TextField()),
        embedded_at=Subquery(rows.values("embedded_at")[:1]),
    )


EMBEDDING_STATE_ATTRIBUTES = ("embedding_status", "embedding_model", "embedding_error", "embedded_at")


def attach_embedding_states(objects):
    """Set ``with_embedding_state``'s four attributes on these objects (of one registered model,
    already fetched: a page of them), from one query of their embedding rows."""
    objects = list(objects)
    if not objects:
        return objects
    registration = registration_for(objects[0])
    space = active_space()
    rows = {}
    for row in (
        Embedding.objects.using(objects[0]._state.db or "default")
        .filter(model_label=registration.model_label, object_id__in=[obj.pk for obj in objects])
        .values_list("object_id", "space", "status", "error", "embedded_at", Q(embedding__isnull=False))
    ):
        rows.setdefault(row[0], []).append(row)
    for obj in objects:
        mine = rows.get(obj.pk, [])
        active = next((row for row in mine if row[1] == space), None)
        # the model whose vector the object has: the current one's, else the latest other's
        with_vector = sorted(
            (row for row in mine if row[5]),
            key=lambda row: (row[1] != space, row[4] is None, -row[4].timestamp() if row[4] else 0),
        )
        obj.embedding_status = active[2] if active else EmbeddingStatus.PENDING
        obj.embedding_model = with_vector[0][1] if with_vector else ""
        obj.embedding_error = active[3] if active else ""
        obj.embedded_at = active[4] if active else None
    return objects
