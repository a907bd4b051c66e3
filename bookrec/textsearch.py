"""Keyword ranking with PostgreSQL full-text search.

``Document.search_document`` is a stored ``tsvector`` of each registered object's TEXT fields
(weighted A, B, C, D in their order; written by ``bookrec.indexing``) with a GIN index.
A query — free text, or a whole book for "similar books" — becomes its weighted terms; the
index finds the books sharing any of them, and each book is scored in SQL as

    sum over shared terms t of  (1 + ln tf_query(t)) * (1 + idf(t))^2 * (1 + ln tf_book(t))
    ----------------------------------------------------------------------------------------
                        sqrt(sum over the book's terms u of (1 + ln tf_book(u))^2)

a TF-IDF cosine with sublinear term frequencies on both sides (the query's norm, the same for
every book, left out). Two departures, both measured (docs/quality.md, bench/keyword_variants.py):
the book's length is the norm of its term frequencies alone, without their idf, which needs
the book's document only; and idf counts from 1 (scikit-learn's smooth idf does the same), so
that the words many books share — what a book is *about*, "war", "poetry" — are not worth
nearly nothing beside its names. PostgreSQL's ``ts_rank`` has no inverse document
frequency, so a query as long as a book's summary would be ranked by its commonest words.
Document frequencies come from PostgreSQL's own statistics of the column
(``pg_stats.most_common_elems``, kept by ANALYZE and autovacuum; the migration raises the
column's statistics target so that up to 100,000 lexemes are counted): nothing to maintain.

The work is bounded, whatever the catalogue's size (the "max-score" idea of search
engines): the books are *found* through the query's rarest terms only, rarest first, while
their estimated matches fit in ``KEYWORD_MATCH_BUDGET`` (each lookup is also capped at it, for
statistics that are stale or missing); the index alone gives their partial scores; the best
``RESCORED_PER_RESULT`` × limit of them (by their shared terms' weights over the square root of
their number of terms) are then read and *scored* with all the query's terms.
A common term ("book", "story") weighs little (its idf is small), so a book sharing nothing
but common terms would rank low anyway; reading and scoring every such book is what made a
query cost seconds at 100,000 books. bench/keyword_ranking.py measures what this changes.
"""

import math
import re
from dataclasses import dataclass
from typing import NamedTuple

from django.db import connections

from bookrec.cjk import query_text
from bookrec.conf import bookrec_settings
from bookrec.indexing import table
from bookrec.models import Document
from bookrec.recommendations import objects_by_pk

SEARCH_COLUMN = "search_document"
UNSET = object()

_STATISTICS = """
    SELECT most_common_elems::text::text[], most_common_elem_freqs
      FROM pg_stats
     WHERE schemaname = current_schema() AND tablename = %s AND attname = %s AND NOT inherited
"""
_LAST_ANALYSED = "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relid = %s::regclass"
_ROWS_ANALYSED = "SELECT reltuples FROM pg_class WHERE oid = %s::regclass"
_TEXT_TERMS = "SELECT lexeme, coalesce(cardinality(positions), 1) FROM unnest(to_tsvector(%s::regconfig, %s))"
_OBJECT_TERMS = (
    "SELECT t.lexeme, coalesce(cardinality(t.positions), 1)"
    " FROM {table} AS b, unnest(b.{column}) AS t WHERE b.model_label = %s AND b.object_id = %s"
)
# Term at a time, as search engines do: the GIN index gives the retrieval terms' books (each
# lookup capped) and their partial scores without reading them; the best of those are read
# once each and scored with every term (unnest joins the book's lexemes with the terms).
_RANKING = """
    WITH terms(lexeme, query, weight, retrieve) AS (
        SELECT l, q::tsquery, w, r FROM unnest(%s::text[], %s::text[], %s::float8[], %s::bool[]) AS t(l, q, w, r)
    ),
    hits AS (
        SELECT matched.id, sum(terms.weight) AS partial
          FROM terms CROSS JOIN LATERAL (
                   -- LIMIT keeps this a per-term GIN index lookup (never flattened into a join)
                   SELECT b.id FROM {table} AS b
                    WHERE b.{column} @@ terms.query AND b.model_label = %s {candidates} LIMIT %s
               ) AS matched
         WHERE terms.retrieve
         GROUP BY matched.id
    ),
    shortlist AS (
        SELECT b.object_id, b.{column} AS document
          FROM hits JOIN {table} AS b ON b.id = hits.id
         WHERE NOT b.object_id = ANY(%s)
         ORDER BY hits.partial / sqrt(greatest(length(b.{column}), 1)) DESC, b.object_id
         LIMIT %s
    )
    SELECT shortlist.object_id, scored.score, scored.matched
      FROM shortlist CROSS JOIN LATERAL (
               SELECT sum(terms.weight * own.tf) / sqrt(sum(own.tf ^ 2)) AS score,
                      -- its strongest shared terms, for the explanation (bookrec.explanations)
                      (array_agg(own.lexeme ORDER BY terms.weight * own.tf DESC, own.lexeme)
                           FILTER (WHERE terms.lexeme IS NOT NULL))[1:{matched}] AS matched
                 FROM (SELECT lexeme, 1 + ln(coalesce(cardinality(positions), 1)) AS tf
                         FROM unnest(shortlist.document)) AS own
                 LEFT JOIN terms ON terms.lexeme = own.lexeme
           ) AS scored
     -- the record of an object deleted behind bookrec's back (raw SQL) never answers
     WHERE EXISTS (SELECT 1 FROM {host} AS h WHERE h.{host_pk} = shortlist.object_id)
     ORDER BY score DESC, shortlist.object_id
     LIMIT %s
"""
# Books read and scored with every term, per book asked for: the rest can only gain the
# weights of the common terms, which are small.
RESCORED_PER_RESULT = 10
# A result's strongest shared terms returned with it (for its explanation).
MATCHED_TERMS = 5


class KeywordMatch(NamedTuple):
    object: object
    score: float
    matched: tuple  # its strongest shared lexemes, strongest first


@dataclass(frozen=True)
class Term:
    lexeme: str
    weight: float  # (1 + ln tf in the query) * (1 + idf)^2: a book sharing it scores this x its own tf weight
    books: float | None = None  # estimated books containing it; None when never analysed


@dataclass(frozen=True)
class LexemeStatistics:
    """Document frequencies of lexemes as PostgreSQL's ANALYZE counted them."""

    frequencies: dict
    rarest: float | None  # the smallest frequency listed; None when never analysed
    rows: float = 0.0  # books in the table when it was analysed

    def frequency(self, lexeme):
        # Unlisted lexemes are rarer than the rarest listed one.
        return self.frequencies.get(lexeme) or self.rarest

    def idf(self, lexeme):
        # With no statistics at all, every term counts the same.
        frequency = self.frequency(lexeme)
        return math.log(1.0 / frequency) if frequency else 1.0

    def books(self, lexeme):
        frequency = self.frequency(lexeme)
        return frequency * self.rows if frequency else None


_statistics_cache = {}  # database alias -> (when analysed, LexemeStatistics)


def lexeme_statistics(using="default"):
    """The column's lexeme statistics, read again only after the table was analysed again.
    They count the documents of every registered model together."""
    documents = Document._meta.db_table
    with connections[using].cursor() as cursor:
        cursor.execute(_LAST_ANALYSED, [documents])
        analysed = cursor.fetchone()
        cached = _statistics_cache.get(using)
        if cached and cached[0] == analysed and analysed is not None and any(analysed):
            return cached[1]
        cursor.execute(_STATISTICS, [documents, SEARCH_COLUMN])
        row = cursor.fetchone()
        cursor.execute(_ROWS_ANALYSED, [documents])
        rows = max(cursor.fetchone()[0], 0.0)  # -1: never analysed
    if row is None or row[0] is None:
        statistics = LexemeStatistics({}, None)
    else:
        lexemes, frequencies = row
        # For tsvector columns the last two frequencies are the minimum and the maximum.
        statistics = LexemeStatistics(dict(zip(lexemes, frequencies)), frequencies[-2], rows)
    _statistics_cache[using] = (analysed, statistics)
    return statistics


def forget_statistics():
    """Drop the cached statistics (tests that ANALYZE inside one transaction need it)."""
    _statistics_cache.clear()


def _weighted_terms(sql, params, using):
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        counts = cursor.fetchall()
    statistics = lexeme_statistics(using)
    terms = [
        Term(lexeme, (1.0 + math.log(tf)) * (1.0 + statistics.idf(lexeme)) ** 2, statistics.books(lexeme))
        for lexeme, tf in counts
    ]
    terms.sort(key=lambda term: (-term.weight, term.lexeme))
    return terms[: bookrec_settings.KEYWORD_QUERY_TERMS]


def text_terms(text, using="default"):
    """The weighted terms of a free-text query, normalised by ``TEXT_SEARCH_CONFIG`` (CJK text
    as bigrams, as the documents are: ``bookrec.cjk``)."""
    return _weighted_terms(_TEXT_TERMS, [bookrec_settings.TEXT_SEARCH_CONFIG, query_text(text)], using)


def object_terms(registration, obj, using="default"):
    """The weighted terms of an object's own full-text document (for "similar books")."""
    sql = _OBJECT_TERMS.format(table=table(Document, using), column=SEARCH_COLUMN)
    return _weighted_terms(sql, [registration.model_label, obj.pk], using)


def _tsquery_lexeme(lexeme):
    """A lexeme quoted for tsquery input: cast as it is, never re-parsed or re-stemmed."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def retrieval_terms(terms, budget):
    """The terms whose books are looked up: the rarest first, while their estimated books add
    up to at most ``budget`` (always the rarest one). Terms with no estimate are all kept
    (each lookup is capped at the budget anyway)."""
    if budget is None:
        return set(terms)
    unknown = {term for term in terms if term.books is None}
    chosen, total = set(unknown), 0.0
    for term in sorted(set(terms) - unknown, key=lambda term: (term.books, term.lexeme)):
        if chosen and total + term.books > budget:
            break
        chosen.add(term)
        total += term.books
    return chosen


def shortlist_size(budget, limit, rescored_per_result):
    """How many books found are read and scored with every term (None: all of them, when the
    budget is off). The index gives which terms a book shares, not how often it has them."""
    return None if budget is None else limit * rescored_per_result


def keyword_ranking(registration, terms, *, candidates=None, limit=None, exclude_ids=(), budget=UNSET,
                    rescored_per_result=RESCORED_PER_RESULT):
    """The ``limit`` best objects among ``candidates`` (a queryset of the registered model) for
    these terms: [KeywordMatch(object, score, matched)], ``matched`` its strongest shared
    lexemes (at most ``MATCHED_TERMS``).

    ``budget``: see the module's docstring (default ``KEYWORD_MATCH_BUDGET``; None reads and
    scores every book sharing any term: exact, and slow on a large catalogue).
    """
    limit = limit or bookrec_settings.DEFAULT_LIMIT
    budget = bookrec_settings.KEYWORD_MATCH_BUDGET if budget is UNSET else budget
    if not terms:
        return []
    queryset = candidates if candidates is not None else registration.objects()
    connection = connections[queryset.db]
    if queryset.query.where:  # filtered: only the candidates are looked up
        candidates_sql, candidates_params = queryset.order_by().values("pk").query.sql_with_params()
        candidates_clause = f"AND b.object_id IN ({candidates_sql})"
    else:  # every object: no need to list them all
        candidates_clause, candidates_params = "", ()
    model = registration.model
    sql = _RANKING.format(
        table=table(Document, queryset.db), column=SEARCH_COLUMN, candidates=candidates_clause,
        host=connection.ops.quote_name(model._meta.db_table), host_pk=connection.ops.quote_name(model._meta.pk.column),
        matched=MATCHED_TERMS,
    )
    retrieve = retrieval_terms(terms, budget)
    params = [
        [term.lexeme for term in terms], [_tsquery_lexeme(term.lexeme) for term in terms],
        [term.weight for term in terms], [term in retrieve for term in terms],
        registration.model_label, *candidates_params, budget, list(exclude_ids),
        shortlist_size(budget, limit, rescored_per_result), limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        scores = cursor.fetchall()
    objects = objects_by_pk(queryset, [pk for pk, _, _ in scores])
    return [KeywordMatch(objects[pk], score, tuple(matched or ())) for pk, score, matched in scores if pk in objects]
