"""Keyword ranking at scale: what bounding its work costs in time and changes in the
answers, on real texts (Project Gutenberg summaries).

    .venv/bin/python bench/keyword_ranking.py [--books 57984] [--budgets 1000 2000 5000] [--rescored 4 10] [--json]

Imports the catalogue into a scratch database (reused when complete; no embedding: the
keyword stage reads no vectors), then, in one run, for the same random books:

- ``similar``: the keyword stage of "similar books" (the book's own weighted terms, the
  book excluded, 50 candidates as hybrid ranking asks);
- ``search``: a free-text query (the book's title, its first words);

first with the query the app ran before the budget existed (``before``: every book sharing
any term read and scored with the scoring of that time: binary documents, idf^2), then with
the app's ``keyword_ranking`` unbounded (``exact``: ``KEYWORD_MATCH_BUDGET`` None, every book
sharing any term read and scored) and for every ``KEYWORD_MATCH_BUDGET`` ×
``RESCORED_PER_RESULT``. Median and p95 ms in SQL (one connection, no HTTP), and overlap@10 /
overlap@50 of each answer with the exact one.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scratch  # noqa: E402

CATALOGUE = scratch.ROOT.parent / "shared" / "data" / "gutenberg-scale.jsonl.gz"
POOL = 50  # what hybrid ranking asks of each stage (CANDIDATE_POOL)
# The app's keyword query before KEYWORD_MATCH_BUDGET (commit 095ce35): every book sharing any
# term is read and scored. Kept here as the same-run baseline and the exact ranking, on the
# documents' table where the full-text terms now live (the benchmark settings register the
# books alone: every document is a book's).
BEFORE = """
    WITH terms(query, weight) AS (SELECT q::tsquery, w FROM unnest(%s::text[], %s::float8[]) AS t(q, w)),
    hits AS (
        SELECT found.id, sum(terms.weight) AS total
          FROM terms CROSS JOIN LATERAL (
                   SELECT d.id FROM {documents} AS d
                    WHERE d.search_document @@ terms.query OFFSET 0
               ) AS found
         GROUP BY found.id
    )
    SELECT d.object_id, hits.total / sqrt(greatest(length(d.search_document), 1)) AS score
      FROM hits JOIN {documents} AS d ON d.id = hits.id
     WHERE NOT d.object_id = ANY(%s)
     ORDER BY score DESC, d.object_id
     LIMIT %s
"""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--books", type=int, default=57_984, help="records of the catalogue to import")
    parser.add_argument("--budgets", type=int, nargs="*", default=[1000, 2000, 5000])
    parser.add_argument("--rescored", type=int, nargs="*", default=[4, 10], help="RESCORED_PER_RESULT values")
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def say(message):
    print(message, file=sys.stderr, flush=True)


def prepare_database(server, args):
    """The scratch database of ``args.books`` imported books (Django is set up on it in this
    process)."""
    name = f"bookrec_bench_keyword_{args.books}"
    url = scratch.database_url(server, name)
    # The import queues embedding tasks; an in-memory broker lets them vanish with it.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    scratch.use_database(url)
    if scratch.is_complete(server, name):
        say(f"Reusing the scratch database {name}.")
        return url
    say(f"Importing {args.books} books into {name} ...")
    url = scratch.recreate(server, name)
    subprocess.run([sys.executable, "manage.py", "import_books", str(args.catalogue), "--limit", str(args.books),
                    "--verbosity", "0"], cwd=scratch.ROOT, env=scratch.bench_env(url), check=True)
    from bookrec.indexing import table
    from bookrec.models import Book, Document

    with scratch.connect(url, autocommit=True) as conn:
        for model in (Book, Document):  # keyword ranking reads the documents' lexeme statistics
            conn.execute(f"ANALYZE {table(model)}")
    scratch.mark_complete(url, books=args.books)
    return url


def timed(function):
    started = time.perf_counter()
    result = function()
    return result, (time.perf_counter() - started) * 1000


def overlap(found, reference, top):
    if not reference[:top]:
        return None
    return len(set(found[:top]) & set(reference[:top])) / len(reference[:top])


def summary(times, overlaps_10, overlaps_50):
    def mean(values):
        values = [v for v in values if v is not None]
        return round(float(np.mean(values)), 3) if values else None

    return {
        "median_ms": round(statistics.median(times), 2),
        "p95_ms": round(float(np.percentile(times, 95)), 2),
        "overlap_at_10": mean(overlaps_10),
        "overlap_at_50": mean(overlaps_50),
    }


def main(argv=None):
    args = parse_args(argv)
    load_before = "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())
    prepare_database(scratch.server_url(), args)
    from bookrec import textsearch
    from bookrec.indexing import table
    from bookrec.models import Book, Document

    registration = scratch.book_registration()

    ids = list(Book.objects.exclude(summary="").values_list("id", flat=True))
    rng = np.random.default_rng(11)
    sample = Book.objects.in_bulk([int(i) for i in rng.choice(ids, size=min(args.queries, len(ids)), replace=False)])
    queries = {
        "similar": [(textsearch.object_terms(registration, book), (book.pk,)) for book in sample.values()],
        "search": [(textsearch.text_terms(" ".join(book.title.split()[:6])), ()) for book in sample.values()],
    }
    def before(terms, exclude):
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(BEFORE.format(documents=table(Document)), [
                [textsearch._tsquery_lexeme(t.lexeme) for t in terms], [t.weight for t in terms], list(exclude), POOL,
            ])
            return [row[0] for row in cursor.fetchall()]

    def bounded(budget, rescored):
        def run(terms, exclude):
            found = textsearch.keyword_ranking(registration, terms, limit=POOL, exclude_ids=exclude, budget=budget,
                                               rescored_per_result=rescored)
            return [book.pk for book, *_ in found]
        return run

    variants = [("before", before), ("exact", bounded(None, 1))] + [
        (f"budget {budget}, rescored {rescored}x", bounded(budget, rescored))
        for budget in args.budgets for rescored in args.rescored
    ]
    results = {}
    for kind, cases in queries.items():
        exact = {}
        for label, rank in variants:
            times, overlaps_10, overlaps_50 = [], [], []
            for index, (terms, exclude) in enumerate(cases):
                ids_found, ms = timed(lambda: rank(terms, exclude))
                times.append(ms)
                if label == "exact":
                    exact[index] = ids_found
                if label != "before":  # scored otherwise: no overlap to compare
                    overlaps_10.append(overlap(ids_found, exact[index], 10))
                    overlaps_50.append(overlap(ids_found, exact[index], 50))
            results.setdefault(kind, {})[label] = summary(times, overlaps_10, overlaps_50)
            say(f"{kind:8} {label:>26}: {results[kind][label]}")
    results["run"] = {
        "books": Book.objects.count(), "queries": len(sample), "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'':10} {'':>26} {'median ms':>10} {'p95 ms':>8} {'overlap@10':>11} {'overlap@50':>11}")
        for kind in queries:
            for label, row in results[kind].items():
                print(f"{kind:10} {label:>26} {row['median_ms']:10.2f} {row['p95_ms']:8.2f} "
                      f"{row['overlap_at_10'] if row['overlap_at_10'] is not None else '':>11} "
                      f"{row['overlap_at_50'] if row['overlap_at_50'] is not None else '':>11}")
        print("run:", results["run"])


if __name__ == "__main__":
    main()
