"""The HNSW index: build time and size (vector vs halfvec), and what m, ef_construction,
ef_search and iterative scans give in recall@10 and query time, measured in SQL.

    .venv/bin/python bench/index.py --books 100000 [--json]

Works on a copy of the similar-books scratch database's vectors (bench/similar.py builds
it when missing) in a table of its own, so the app's index is left alone. Query times
are medians over the sampled books, one connection, in SQL (no HTTP): compare them with
each other, not with bench/similar.py's end-to-end figures.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scratch  # noqa: E402
from bench.similar import LIMIT, exact_neighbours, prepare_database, say, stored_vectors  # noqa: E402
from bench.synthetic import FILTER_SUBJECTS, Shape  # noqa: E402

TABLE = "bench_sweep"
BUILDS = [(16, 64), (16, 32), (16, 128), (8, 64), (32, 64)]  # (m, ef_construction); the first is the app's
EF_SEARCH = [10, 20, 40, 64, 100, 200]
ITERATIVE = ["off", "strict_order", "relaxed_order"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--books", type=int, required=True)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def copy_table(conn, column_type):
    """The books' current vectors (as the app reads them) as ``column_type``, kept in the row
    like the app's (STORAGE MAIN)."""
    table = sql.Identifier(TABLE)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
    conn.execute(sql.SQL(
        "CREATE TABLE {} (id bigint PRIMARY KEY, subjects varchar(200)[], embedding {} STORAGE MAIN)"
    ).format(table, sql.SQL(column_type)))
    query, params = scratch.vectors_query(subjects=True)
    conn.execute(sql.SQL("INSERT INTO {} SELECT v.object_id, v.subjects, v.embedding::{} FROM ({}) AS v").format(
        table, sql.SQL(column_type), sql.SQL(query)), params)
    conn.execute(sql.SQL("VACUUM ANALYZE {}").format(table))


def build(conn, opclass, m, ef_construction):
    conn.execute(sql.SQL("DROP INDEX IF EXISTS bench_sweep_hnsw"))
    seconds = scratch.build_index(conn, sql.SQL(
        "CREATE INDEX bench_sweep_hnsw ON {} USING hnsw (embedding {}) WITH (m = {}, ef_construction = {})"
    ).format(sql.Identifier(TABLE), sql.SQL(opclass), sql.Literal(m), sql.Literal(ef_construction)))
    return {"m": m, "ef_construction": ef_construction, "build_seconds": round(seconds, 1),
            "index_mb": round(scratch.relation_bytes(conn, "bench_sweep_hnsw") / 2**20, 1)}


def search(conn, truth, *, ef_search, iterative="off", subject=None):
    """Median ms, recall@10 and fewest rows over the books of ``truth``."""
    where = "id <> %s" + (" AND subjects @> ARRAY[%s]::varchar[]" if subject else "")
    query = (f"SELECT id FROM {TABLE} WHERE {where}"
             f" ORDER BY embedding <=> (SELECT embedding FROM {TABLE} WHERE id = %s) LIMIT {LIMIT}")
    times, recalls, rows = [], [], []
    for book_id, expected in truth.items():
        params = [book_id, subject, book_id] if subject else [book_id, book_id]
        started = time.perf_counter()
        with conn.transaction():
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', %s, true)",
                         [str(ef_search), iterative])
            found = [row[0] for row in conn.execute(query, params).fetchall()]
        times.append(time.perf_counter() - started)
        recalls.append(len(set(found) & expected) / LIMIT)
        rows.append(len(found))
    return {"ef_search": ef_search, "iterative_scan": iterative, "median_ms": round(float(np.median(times)) * 1000, 2),
            "recall_at_10": round(float(np.mean(recalls)), 4), "rows_min": min(rows)}


def uses_index(conn):
    plan = conn.execute(f"EXPLAIN SELECT id FROM {TABLE} ORDER BY embedding <=> (SELECT embedding FROM {TABLE}"
                        f" LIMIT 1) LIMIT {LIMIT}").fetchall()
    return any("bench_sweep_hnsw" in line[0] for line in plan)


def main(argv=None):
    args = parse_args(argv)
    results = {"run": {"books": args.books, "uptime_before": "load average: %.2f, %.2f, %.2f" % os.getloadavg()}}
    url = prepare_database(scratch.server_url(), Shape(books=args.books))
    ids, matrix, subjects = stored_vectors(url)
    rows = np.random.default_rng(11).choice(len(ids), size=min(args.queries, len(ids)), replace=False)
    truth = exact_neighbours(ids, matrix, rows)
    filtered = {}
    for label, (prefix, _) in FILTER_SUBJECTS.items():
        allowed = np.fromiter((prefix + "3" in s for s in subjects), dtype=bool, count=len(ids))
        filtered[label] = (prefix + "3", exact_neighbours(ids, matrix, rows, allowed))
    del matrix
    with scratch.connect(url, autocommit=True) as conn:
        results["vector_vs_halfvec"] = {}
        for column_type, opclass in [("vector(1024)", "vector_cosine_ops"), ("halfvec(1024)", "halfvec_cosine_ops")]:
            say(f"{column_type}: copying, building m=16 ef_construction=64 ...")
            copy_table(conn, column_type)
            figures = build(conn, opclass, 16, 64)
            figures["table_mb"] = round(scratch.relation_bytes(conn, TABLE) / 2**20, 1)  # no TOAST: MAIN
            figures.update(search(conn, truth, ef_search=40))
            results["vector_vs_halfvec"][column_type.split("(")[0]] = figures
        # The halfvec copy and its (16, 64) index stay for the query-side sweeps.
        assert uses_index(conn), "the planner does not use the HNSW index on the copy"
        say("ef_search sweep ...")
        results["ef_search"] = [search(conn, truth, ef_search=ef) for ef in EF_SEARCH]
        say("iterative scan sweep (filtered) ...")
        results["iterative_scan"] = {
            label: [search(conn, ftruth, ef_search=40, iterative=mode, subject=subject) for mode in ITERATIVE]
            for label, (subject, ftruth) in filtered.items()
        }
        results["builds"] = []
        for m, ef_construction in BUILDS[1:]:
            say(f"build m={m} ef_construction={ef_construction} ...")
            figures = build(conn, "halfvec_cosine_ops", m, ef_construction)
            figures["search"] = [search(conn, truth, ef_search=ef) for ef in (40, 100)]
            results["builds"].append(figures)
        conn.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(TABLE)))
    results["run"]["uptime_after"] = "load average: %.2f, %.2f, %.2f" % os.getloadavg()
    print(json.dumps(results, indent=2 if args.json else None))


if __name__ == "__main__":
    main()
