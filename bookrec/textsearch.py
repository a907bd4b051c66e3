"""Keyword ranking with PostgreSQL full-text search.

``Book.search_document`` is a stored ``tsvector`` (title, author, summary) with a GIN index.
A query — free text, or a whole book for "similar books" — becomes its weighted terms; the
index finds the books sharing any of them, and each book is scored in SQL as

    sum over shared terms t of  (1 + ln tf_query(t)) * idf(t)^2   /  sqrt(distinct terms in the book)

a TF-IDF cosine with binary document weights. PostgreSQL's ``ts_rank`` has no inverse document
frequency, so a query as long as a book's summary would be ranked by its commonest words.
Document frequencies come from PostgreSQL's own statistics of the column
(``pg_stats.most_common_elems``, kept by ANALYZE and autovacuum; the migration raises the
column's statistics target so that up to 100,000 lexemes are counted): nothing to maintain.
"""

import math
import re
from dataclasses import dataclass

from django.db import connections, transaction
from django.db.models.sql import Query

from bookrec.conf import bookrec_settings
from bookrec.documents import full_text_expression
from bookrec.models import Book

SEARCH_COLUMN = "search_document"

_STATISTICS = """
    SELECT most_common_elems::text::text[], most_common_elem_freqs
      FROM pg_stats
     WHERE schemaname = current_schema() AND tablename = %s AND attname = %s AND NOT inherited
"""
_LAST_ANALYSED = "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables WHERE relid = %s::regclass"
_TEXT_TERMS = "SELECT lexeme, coalesce(cardinality(positions), 1) FROM unnest(to_tsvector(%s::regconfig, %s))"
_BOOK_TERMS = (
    "SELECT t.lexeme, coalesce(cardinality(t.positions), 1)"
    " FROM {table} AS b, unnest(b.{column}) AS t WHERE b.id = %s"
)
# Term at a time, as search engines do: the GIN index gives each term's books, their
# weights add up per book; only the books that scored are read, once, for their length.
_RANKING = """
    WITH terms(query, weight) AS (SELECT q::tsquery, w FROM unnest(%s::text[], %s::float8[]) AS t(q, w)),
    hits AS (
        SELECT found.id, sum(terms.weight) AS total
          FROM terms CROSS JOIN LATERAL (
                   -- OFFSET 0 keeps this a per-term GIN index lookup (never flattened into a join)
                   SELECT b.id FROM {table} AS b WHERE b.{column} @@ terms.query OFFSET 0
               ) AS found
         GROUP BY found.id
    )
    SELECT hits.id, hits.total / sqrt(greatest(length(b.{column}), 1)) AS score
      FROM hits JOIN {table} AS b ON b.id = hits.id
     WHERE hits.id IN ({candidates}) AND NOT hits.id = ANY(%s)
     ORDER BY score DESC, hits.id
     LIMIT %s
"""


@dataclass(frozen=True)
class Term:
    lexeme: str
    weight: float  # (1 + ln tf in the query) * idf^2: what a book sharing it scores


@dataclass(frozen=True)
class LexemeStatistics:
    """Document frequencies of lexemes as PostgreSQL's ANALYZE counted them."""

    frequencies: dict
    rarest: float | None  # the smallest frequency listed; None when never analysed

    def idf(self, lexeme):
        # Unlisted lexemes are rarer than the rarest listed one; with no statistics at
        # all, every term counts the same.
        frequency = self.frequencies.get(lexeme) or self.rarest
        return math.log(1.0 / frequency) if frequency else 1.0


_statistics_cache = {}  # database alias -> (when analysed, LexemeStatistics)


def lexeme_statistics(using="default"):
    """The column's lexeme statistics, read again only after the table was analysed again."""
    table = Book._meta.db_table
    with connections[using].cursor() as cursor:
        cursor.execute(_LAST_ANALYSED, [table])
        analysed = cursor.fetchone()
        cached = _statistics_cache.get(using)
        if cached and cached[0] == analysed and analysed is not None and any(analysed):
            return cached[1]
        cursor.execute(_STATISTICS, [table, SEARCH_COLUMN])
        row = cursor.fetchone()
    if row is None or row[0] is None:
        statistics = LexemeStatistics({}, None)
    else:
        lexemes, frequencies = row
        # For tsvector columns the last two frequencies are the minimum and the maximum.
        statistics = LexemeStatistics(dict(zip(lexemes, frequencies)), frequencies[-2])
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
    terms = [Term(lexeme, (1.0 + math.log(tf)) * statistics.idf(lexeme) ** 2) for lexeme, tf in counts]
    terms.sort(key=lambda term: (-term.weight, term.lexeme))
    return terms[: bookrec_settings.KEYWORD_QUERY_TERMS]


def text_terms(text, using="default"):
    """The weighted terms of a free-text query, normalised by ``TEXT_SEARCH_CONFIG``."""
    return _weighted_terms(_TEXT_TERMS, [bookrec_settings.TEXT_SEARCH_CONFIG, text], using)


def book_terms(book, using="default"):
    """The weighted terms of a book's own full-text document (for "similar books")."""
    table = connections[using].ops.quote_name(Book._meta.db_table)
    return _weighted_terms(_BOOK_TERMS.format(table=table, column=SEARCH_COLUMN), [book.pk], using)


def _tsquery_lexeme(lexeme):
    """A lexeme quoted for tsquery input: cast as it is, never re-parsed or re-stemmed."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def keyword_ranking(terms, *, candidates=None, limit=None, exclude_ids=()):
    """The ``limit`` best books among ``candidates`` for these terms: [(book, score)]."""
    limit = limit or bookrec_settings.DEFAULT_LIMIT
    if not terms:
        return []
    queryset = candidates if candidates is not None else Book.objects.all()
    connection = connections[queryset.db]
    candidates_sql, candidates_params = queryset.order_by().values("pk").query.sql_with_params()
    sql = _RANKING.format(
        table=connection.ops.quote_name(Book._meta.db_table), column=SEARCH_COLUMN, candidates=candidates_sql
    )
    params = [
        [_tsquery_lexeme(term.lexeme) for term in terms], [term.weight for term in terms],
        *candidates_params, list(exclude_ids), limit,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        scores = cursor.fetchall()
    books = queryset.in_bulk([pk for pk, _ in scores])
    return [(books[pk], score) for pk, score in scores]


# -- the column's text-search configuration ------------------------------------------------


def column_configuration(using="default"):
    """The text-search configuration the database's generated column uses, or None."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d"
            " JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum"
            " WHERE d.adrelid = to_regclass(%s) AND a.attname = %s",
            [Book._meta.db_table, SEARCH_COLUMN],
        )
        row = cursor.fetchone()
    found = re.search(r"to_tsvector\('([^']+)'::regconfig", row[0]) if row else None
    return found.group(1) if found else None


def search_document_field(config):
    """``Book.search_document`` as it would be with another configuration."""
    field = Book._meta.get_field(SEARCH_COLUMN).clone()
    field.expression = full_text_expression(config)
    field.set_attributes_from_name(SEARCH_COLUMN)
    field.model = Book
    field._query = Query(model=Book, alias_cols=False)  # what contribute_to_class would set
    return field


@transaction.atomic
def rebuild_search_document(config, using="default"):
    """Recreate the generated column (and its GIN index) with ``config``."""
    index = next(index for index in Book._meta.indexes if index.fields == [SEARCH_COLUMN])
    connection = connections[using]
    with connection.schema_editor() as editor:
        editor.remove_field(Book, Book._meta.get_field(SEARCH_COLUMN))
        editor.add_field(Book, search_document_field(config))
        editor.add_index(Book, index)
        editor.execute(
            f"ALTER TABLE {editor.quote_name(Book._meta.db_table)} ALTER COLUMN {SEARCH_COLUMN} SET STATISTICS 10000"
        )
    forget_statistics()
