"""Baselines for bench/similar.py, served through the same stack as the API (gunicorn,
Django, DRF, the same serializers) so that only the way of finding neighbours differs.

Benchmark-only: mounted by bench/urls.py, never by the app.

- exact_sql:          the API's own similar-books view with index scans turned off
                      (``SET LOCAL enable_indexscan = off``): exact search in SQL.
- numpy_in_memory:    every vector held in the worker's memory, cosine over all of them.
- naive_per_request:  what a Django app written from the tutorial does: load every
                      vector through the ORM on each request, then cosine in NumPy.
- explain:            the plan PostgreSQL uses for the API's own query (index check).
"""

from functools import lru_cache

import numpy as np
import psycopg
from django.db import connection, transaction
from django.http import Http404, JsonResponse
from django.test.utils import CaptureQueriesContext
from django.shortcuts import get_object_or_404
from rest_framework.decorators import api_view
from rest_framework.response import Response

from bench.scratch import book_registration, unit_vectors, vectors_query
from bookrec.api.serializers import BookSummarySerializer, LimitSerializer, ranking_serializer_class
from bookrec.api.filters import BookFilterSet
from bookrec.api.views import BOOK_ENDPOINT, SimilarView, validated
from bookrec.models import Book
from bookrec.ranking import Mode, Ranking, rank_similar
from bookrec.recommendations import Recommendation, apply_search_settings, current_vectors

api_similar = SimilarView.as_view(**BOOK_ENDPOINT)


def exact_sql(request, pk):
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_indexscan = off")  # HNSW only does index scans
        return api_similar(request, pk=pk)


def ranked_response(found):
    """The API's own response shape and serializer."""
    serializer = ranking_serializer_class(BOOK_ENDPOINT["noun"], BookSummarySerializer)
    return Response(serializer(Ranking(results=found, mode=Mode.VECTOR)).data)


def top_books(ids, matrix, query, exclude_id, limit):
    """The ``limit`` rows of ``matrix`` (unit rows) most cosine-similar to ``query``."""
    scores = matrix @ (query / np.linalg.norm(query))
    scores[ids == exclude_id] = -np.inf
    top = np.argpartition(-scores, limit)[:limit]
    top = top[np.argsort(-scores[top])]
    books = Book.objects.in_bulk([int(i) for i in ids[top]])
    return [Recommendation(books[int(ids[i])], float(scores[i])) for i in top]


def limit_of(request):
    return validated(LimitSerializer, request.query_params).get("limit") or 10


@lru_cache(maxsize=1)
def vectors_in_memory():
    """Every current vector (the app's own query of them: ``current_vectors``), unit length,
    loaded once per worker process (binary COPY-speed fetch on a connection of its own, so the
    ORM's connection keeps its type adapters)."""
    query, params = vectors_query()
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"], host=settings["HOST"] or None, port=settings["PORT"] or None,
        user=settings["USER"] or None, password=settings["PASSWORD"] or None,
    ) as conn:
        ids, matrix, _ = unit_vectors(conn, query, params)
    return ids, matrix


@api_view(["GET"])
def numpy_in_memory(request, pk):
    ids, matrix = vectors_in_memory()
    row = np.searchsorted(ids, pk)
    if row >= len(ids) or ids[row] != pk:
        raise Http404
    return ranked_response(top_books(ids, matrix, matrix[row].copy(), pk, limit_of(request)))


@api_view(["GET"])
def naive_per_request(request, pk):
    book = get_object_or_404(Book, pk=pk)
    rows = list(current_vectors(book_registration()).values_list("object_id", "embedding"))
    ids = np.array([row[0] for row in rows])
    matrix = np.array([row[1] for row in rows], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    query = matrix[np.flatnonzero(ids == book.pk)[0]].copy()  # the book's own vector, among the rest
    return ranked_response(top_books(ids, matrix, query, pk, limit_of(request)))


def explain(request, pk):
    """EXPLAIN of the exact SQL the API runs (``mode=vector``) for this book and the request's filters."""
    book = get_object_or_404(Book, pk=pk)
    with CaptureQueriesContext(connection) as queries:
        rank_similar(book, mode=Mode.VECTOR, candidates=BookFilterSet(request.GET, queryset=Book.objects.all()).qs)
    query = next(q["sql"] for q in queries.captured_queries if "<=>" in q["sql"])
    with transaction.atomic(), connection.cursor() as cursor:
        apply_search_settings(cursor)
        cursor.execute("EXPLAIN " + query)
        return JsonResponse({"plan": [row[0] for row in cursor.fetchall()]})
