"""Similar books at scale: the app's API against three baselines, in one run, through the
same HTTP stack (gunicorn on loopback, load from wrk).

    .venv/bin/python bench/similar.py --books 100000 [--json]

Builds (or reuses) a scratch database of N synthetic books (bench/synthetic.py) on the
site's PostgreSQL, starts gunicorn with the benchmark settings (bench/settings.py), and
measures GET /api/books/<id>/similar/ against
  (a) exact_sql           the same view with index scans off (exact search in SQL),
  (b) numpy_in_memory     all vectors in each worker's memory, cosine over all of them,
  (c) naive_per_request   all vectors loaded through the ORM per request, then NumPy,
and the API filtered to 5 % and 0.5 % of the catalogue. p50/p95 come from one connection
(end-to-end latency); requests/s from several; recall@10 against exact neighbours
computed here in NumPy from the stored vectors.
"""

import argparse
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import load, scratch, servers  # noqa: E402
from bench.synthetic import FILTER_SUBJECTS, Shape, load_books  # noqa: E402

LIMIT = 10
VECTOR = "/api/books/%d/similar/?mode=vector"  # what recall@10 against exact neighbours measures
# Other ranking endpoints, latency only (their answers are not nearest vectors by design):
# (name, path, JSON body for a POST or None). Synthetic books have titles and no summaries,
# so the keyword side of hybrid ranking has little to match: a light case for it.
OTHER_ENDPOINTS = [
    ("similar_hybrid_default", "/api/books/%d/similar/", None),
    ("search_hybrid", "/api/search/?q=synthetic+book+%d", None),
    ("taste", "/api/recommendations/", '{"liked": [%d]}'),
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--books", type=int, required=True, help="catalogue size (synthetic books)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default: one per core)")
    parser.add_argument("--queries", type=int, default=200, help="books whose answers are checked for recall")
    parser.add_argument("--seconds", type=int, default=10, help="upper bound of each load run")
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections of the requests/s run")
    parser.add_argument("--only", nargs="+", metavar="ROW",
                        help="measure only these rows (e.g. api book_detail_floor): for quick reruns while tuning")
    parser.add_argument("--naive-max-books", type=int, default=100_000,
                        help="skip (c) above this size: it holds every vector as Python floats (~32 bytes each)")
    return parser.parse_args(argv)


STARTED = time.monotonic()


def say(message):
    print(f"[{time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def prepare_database(server, shape):
    """The scratch database for ``shape`` (Django is set up on it in this process): reused when
    complete, else built the app's first-load way: `manage.py vector_index drop`, a binary COPY
    of the books and one of their vectors (bookrec_embedding, the active space) with the
    documents written between them by the app, `manage.py vector_index build` (its time
    includes starting the command, about a second)."""
    name = f"bookrec_bench_similar_{shape.books}_{shape.digest()}"
    url = scratch.database_url(server, name)
    scratch.use_database(url)
    if scratch.is_complete(server, name):
        say(f"Reusing the scratch database {name}.")
        return url
    say(f"Building the scratch database {name} ({shape.books} books) ...")
    url = scratch.recreate(server, name)
    vector_index = [sys.executable, "manage.py", "vector_index"]
    model = ["--model", scratch.book_registration().label]
    servers.run([*vector_index, "drop", *model], scratch.bench_env(url))
    with scratch.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        load_books(conn, shape)
        load_seconds = time.perf_counter() - started
        say(f"  loaded in {load_seconds:.1f}s; building the HNSW index ...")
        started = time.perf_counter()
        servers.run([*vector_index, "build", *model, "--maintenance-work-mem", "4GB", "--parallel-workers", "2"],
                    scratch.bench_env(url))
        index_seconds = time.perf_counter() - started
        say(f"  index built in {index_seconds:.1f}s")
        scratch.mark_complete(
            url, load_seconds=round(load_seconds, 1), index_seconds=round(index_seconds, 1),
            index_bytes=scratch.relation_bytes(conn, scratch.hnsw_index()),
            table_bytes=scratch.relation_bytes(conn, "bookrec_embedding"),
            books_table_bytes=scratch.relation_bytes(conn, "bookrec_book"),
        )
    return url


def stored_vectors(url):
    """ids, unit float32 rows of the app's current (halfvec) vectors, and subject membership."""
    from django.db import connections

    query, params = scratch.vectors_query(subjects=True)
    connections.close_all()  # no connection may cross the load generator's fork
    with scratch.connect(url) as conn:
        ids, matrix, (subjects,) = scratch.unit_vectors(conn, query, params, extra_columns=1)
    return ids, matrix, [set(s) for s in subjects]


def exact_neighbours(ids, matrix, rows, allowed=None):
    """For each row index in ``rows``: the ids of its LIMIT nearest books (itself excluded)."""
    truth = {}
    for row in rows:
        scores = matrix @ matrix[row]
        scores[row] = -np.inf
        if allowed is not None:
            scores[~allowed] = -np.inf
        top = np.argpartition(-scores, LIMIT)[:LIMIT]
        truth[int(ids[row])] = set(int(i) for i in ids[top])
    return truth


def fetch_ids(url):
    with urllib.request.urlopen(url, timeout=600) as response:
        return [item["book"]["id"] for item in json.load(response)["results"]]


def recall_and_rows(base, path_format, truth, sample):
    """Mean recall@10 and the fewest rows over the first ``sample`` books of ``truth``."""
    recalls, rows = [], []
    for book_id in list(truth)[:sample]:
        found = fetch_ids(base + path_format % book_id)
        rows.append(len(found))
        recalls.append(len(set(found) & truth[book_id]) / LIMIT)
    return round(float(np.mean(recalls)), 4), min(rows)


def measure(base, path_format, cycle_ids, truth, *, sample, latency_requests, rps_requests, args, seconds=None):
    """Latency (one connection), requests/s (``--connections``), recall and rows."""
    recall, rows_min = recall_and_rows(base, path_format, truth, sample)
    latency = load.run(base, path_format, cycle_ids, connections=1, max_requests=latency_requests,
                       seconds=seconds or args.seconds)
    figures = {"p50_ms": latency["p50_ms"], "p95_ms": latency["p95_ms"]}
    if rps_requests:
        throughput = load.run(base, path_format, cycle_ids, connections=args.connections,
                              max_requests=rps_requests, seconds=args.seconds)
        figures["rps"] = throughput["rps"]
        runs = [latency, throughput]
    else:  # too slow to load concurrently: requests/s of the one connection
        figures["rps"] = latency["rps"]
        runs = [latency]
    figures["recall_at_10"] = recall
    figures["requests"] = sum(run["requests"] for run in runs)
    figures["non_200"] = sum(run["non_200"] for run in runs)
    figures["rows_returned_min"] = min([rows_min] + [run["rows_returned_min"] for run in runs])
    return figures


def index_used(base, book_id, query=""):
    """Whether the plan of the API's query (bench/views.py: explain) scans the app's HNSW index."""
    with urllib.request.urlopen(f"{base}/bench/explain/{book_id}/{query}", timeout=60) as response:
        return any(scratch.hnsw_index() in line for line in json.load(response)["plan"])


def load_average():
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_steal_seconds():
    """CPU time the hypervisor gave to others (Linux /proc/stat; None elsewhere): on a shared
    virtual machine it moves every figure, so each run records how much there was."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def main(argv=None):
    args = parse_args(argv)
    started = time.monotonic()
    uptime_before = load_average()
    steal_before = cpu_steal_seconds()
    server = scratch.server_url()
    shape = Shape(books=args.books)
    url = prepare_database(server, shape)
    say("Computing exact neighbours in NumPy ...")
    ids, matrix, subjects = stored_vectors(url)
    rng = np.random.default_rng(7)
    query_rows = rng.choice(len(ids), size=min(args.queries, len(ids)), replace=False)
    cycle_ids = ids[rng.choice(len(ids), size=min(2000, len(ids)), replace=False)]
    truth = exact_neighbours(ids, matrix, query_rows)
    filtered_truth = {}
    for label, (prefix, _) in FILTER_SUBJECTS.items():
        subject = prefix + "3"
        allowed = np.fromiter((subject in s for s in subjects), dtype=bool, count=len(ids))
        filtered_truth[label] = (subject, exact_neighbours(ids, matrix, query_rows, allowed), allowed.mean())
    del matrix

    results = {}
    log_path = Path(scratch.ROOT) / "var" / "log" / "bench-gunicorn.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with servers.gunicorn(scratch.bench_env(url), log_path, workers=args.workers) as base:
        say(f"gunicorn ({args.workers} workers) at {base}; warming up ...")
        for path in (VECTOR, "/bench/exact-sql/%d/?mode=vector", "/bench/numpy-in-memory/%d/"):
            load.run(base, path, cycle_ids, connections=args.workers * 2, max_requests=40, seconds=300)
        plans = [  # name, path, recall sample, latency requests, requests/s requests, seconds
            ("api", VECTOR, args.queries, 2000, 4000, None),
            ("exact_sql", "/bench/exact-sql/%d/?mode=vector", 20, 200, 400, None),
            ("numpy_in_memory", "/bench/numpy-in-memory/%d/", 50, 1000, 2000, None),
        ]
        if args.books <= args.naive_max_books:
            # Seconds per request: one connection, a few requests, long enough for them.
            plans.append(("naive_per_request", "/bench/naive-per-request/%d/", 1, 3, 0, 12 * args.seconds))
        wanted = set(args.only or [])

        def skipped(name):
            return bool(wanted) and name not in wanted

        for name, path, sample, latency_requests, rps_requests, seconds in plans:
            if skipped(name):
                continue
            say(f"Measuring {name} ...")
            results[name] = measure(base, path, cycle_ids, truth, sample=sample, latency_requests=latency_requests,
                                    rps_requests=rps_requests, args=args, seconds=seconds)
        if not skipped("book_detail_floor"):
            say("Measuring the stack's floor: GET /api/books/<id>/ (one query, one serializer) ...")
            results["book_detail_floor"] = load.run(base, "/api/books/%d/", cycle_ids, connections=1,
                                                    max_requests=2000, seconds=args.seconds)
        results["hnsw_index_used"] = {
            name: index_used(base, int(cycle_ids[0]), query)
            for name, query in [("api", ""), *[(f"filtered_{label.replace('.', '_')}", f"?subject={subject}")
                                               for label, (subject, _, _) in filtered_truth.items()]]
        }
        for label, (subject, ftruth, share) in filtered_truth.items():
            if skipped(f"filtered_{label.replace('.', '_')}"):
                continue
            say(f"Measuring similar books filtered to {label} ...")
            path = f"{VECTOR}&subject={subject}&limit={LIMIT}"
            figures = measure(base, path, cycle_ids, ftruth, sample=args.queries,
                              latency_requests=2000, rps_requests=0, args=args)
            figures["selectivity"] = round(float(share), 4)
            results[f"filtered_{label.replace('.', '_')}"] = figures
        for name, path, body in OTHER_ENDPOINTS:
            if skipped(name):
                continue
            say(f"Measuring {name} ...")
            results[name] = load.run(base, path, cycle_ids, connections=1, max_requests=2000,
                                     seconds=args.seconds, body_format=body)
    results["ratios"] = {
        f"{name}_p50_over_api": round(results[name]["p50_ms"] / results["api"]["p50_ms"], 1)
        for name in ("exact_sql", "numpy_in_memory", "naive_per_request") if name in results and "api" in results
    }
    results["run"] = {
        "books": args.books, "dimensions": shape.dimensions, "workers": args.workers,
        "database": scratch.facts(url), "server": scratch.server_facts(url), "seconds": round(time.monotonic() - started, 1),
        "cpus": os.cpu_count(), "uptime_before": uptime_before, "uptime_after": load_average(),
        "cpu_steal_seconds": None if steal_before is None else round(cpu_steal_seconds() - steal_before, 1),
        "hnsw_ef_search": os.environ.get("BOOKREC_HNSW_EF_SEARCH") or "the app's default",
    }
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results)


def print_table(results):
    rows = [name for name in ("api", "exact_sql", "numpy_in_memory", "naive_per_request", "filtered_5pct",
                              "filtered_0_5pct", "book_detail_floor", *[e[0] for e in OTHER_ENDPOINTS])
            if name in results]
    print(f"{'':22} {'p50 ms':>9} {'p95 ms':>9} {'req/s':>8} {'recall@10':>10} {'rows min':>9}")
    for name in rows:
        r = results[name]
        print(f"{name:22} {r['p50_ms']:9.2f} {r['p95_ms']:9.2f} {r['rps']:8.1f} "
              f"{r.get('recall_at_10', float('nan')):10.3f} {str(r.get('rows_returned_min') or ''):>9}")
    print("p50 ratios to the API:", results["ratios"])
    print("HNSW index in the plan:", results["hnsw_index_used"])
    print("run:", results["run"])


if __name__ == "__main__":
    main()
