"""Keyword ranking at scale: what bounding its work (``KEYWORD_MATCH_BUDGET``) costs in
time and changes in the answers, on real texts (Project Gutenberg summaries).

    .venv/bin/python bench/keyword_ranking.py [--books 57984] [--budgets 1000 2000 5000 10000] [--json]

Imports the catalogue into a scratch database (reused when complete; no embedding: the
keyword stage reads no vectors), then, in one run, for the same random books:

- ``similar``: the keyword stage of "similar books" (the book's own weighted terms, the
  book excluded, 50 candidates as hybrid ranking asks);
- ``search``: a free-text query (the book's title, its first words);

with every budget and without one (``unbounded``: every book sharing any term is read,
as before the budget existed). Median and p95 ms in SQL (one connection, no HTTP), and
overlap@10 / overlap@50 of each bounded answer with the unbounded one.
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--books", type=int, default=57_984, help="records of the catalogue to import")
    parser.add_argument("--budgets", type=int, nargs="*", default=[1000, 2000, 5000, 10000, 20000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def say(message):
    print(message, file=sys.stderr, flush=True)


def prepare_database(server, args):
    name = f"bookrec_bench_keyword_{args.books}"
    if scratch.is_complete(server, name):
        say(f"Reusing the scratch database {name}.")
        return scratch.database_url(server, name)
    say(f"Importing {args.books} books into {name} ...")
    url = scratch.recreate(server, name)
    # The import queues embedding tasks; an in-memory broker lets them vanish with it.
    env = scratch.bench_env(url, CELERY_BROKER_URL="memory://")
    subprocess.run([sys.executable, "manage.py", "import_books", str(args.catalogue), "--limit", str(args.books),
                    "--verbosity", "0"], cwd=scratch.ROOT, env=env, check=True)
    with scratch.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE bookrec_book")
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
    url = prepare_database(scratch.server_url(), args)
    os.environ.update(scratch.bench_env(url, CELERY_BROKER_URL="memory://"))
    import django

    django.setup()
    from bookrec import textsearch
    from bookrec.models import Book

    ids = list(Book.objects.exclude(summary="").values_list("id", flat=True))
    rng = np.random.default_rng(11)
    sample = Book.objects.in_bulk([int(i) for i in rng.choice(ids, size=min(args.queries, len(ids)), replace=False)])
    queries = {
        "similar": [(textsearch.book_terms(book), (book.pk,)) for book in sample.values()],
        "search": [(textsearch.text_terms(" ".join(book.title.split()[:6])), ()) for book in sample.values()],
    }
    budgets = [None, *args.budgets]
    results = {}
    for kind, cases in queries.items():
        reference = {}
        for budget in budgets:
            times, overlaps_10, overlaps_50 = [], [], []
            for index, (terms, exclude) in enumerate(cases):
                found, ms = timed(lambda: textsearch.keyword_ranking(
                    terms, limit=POOL, exclude_ids=exclude, budget=budget))
                ids_found = [book.pk for book, _ in found]
                times.append(ms)
                if budget is None:
                    reference[index] = ids_found
                else:
                    overlaps_10.append(overlap(ids_found, reference[index], 10))
                    overlaps_50.append(overlap(ids_found, reference[index], 50))
            label = "unbounded" if budget is None else str(budget)
            results.setdefault(kind, {})[label] = summary(times, overlaps_10, overlaps_50)
            say(f"{kind:8} budget {label:>9}: {results[kind][label]}")
    results["run"] = {
        "books": Book.objects.count(), "queries": len(sample), "cpus": os.cpu_count(),
        "load_before": load_before,
        "load_after": "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"{'':10} {'budget':>10} {'median ms':>10} {'p95 ms':>8} {'overlap@10':>11} {'overlap@50':>11}")
        for kind in queries:
            for label, row in results[kind].items():
                print(f"{kind:10} {label:>10} {row['median_ms']:10.2f} {row['p95_ms']:8.2f} "
                      f"{row['overlap_at_10'] if row['overlap_at_10'] is not None else '':>11} "
                      f"{row['overlap_at_50'] if row['overlap_at_50'] is not None else '':>11}")
        print("run:", results["run"])


if __name__ == "__main__":
    main()
