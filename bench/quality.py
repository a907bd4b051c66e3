"""Recommendation quality on a real catalogue: P@10 of "similar books" per ranking mode.

    python bench/quality.py CATALOGUE.jsonl[.gz] [--json] [--limit N]

Imports the catalogue into a scratch database (created here, dropped at the end) on the
server of DATABASE_URL, or on the embedded PostgreSQL when it is unset; embeds it with the
local multilingual model (vectors are cached in var/bench-cache by model and text hash, so a
rerun embeds nothing again); then, for every book, takes its top-10 similar books in each mode
and counts the fraction sharing a label with it (P@10), over two label sets:

- ``subjects``: the catalogue's subjects without the broad form/nationality shelves;
- ``lcsh``: main Library of Congress headings (the part before `` -- ``);

each with every other book as a candidate (``all``) and with the book's own author's books
removed from the candidates (``excl_author``: summaries name their author). Baselines from the
same run: TF-IDF cosine (1-2-grams, sublinear tf, English stop words) and random neighbours.
See ../shared/data/README.md for the label definitions and docs/quality.md for results.
"""

import argparse
import json
import os
import signal
import sys
import time
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOP = 10
MODES = ["vector", "keyword", "hybrid", "hybrid_diverse", "tfidf", "random"]
LABEL_SETS = ["subjects", "lcsh"]
VARIANTS = ["all", "excl_author"]
BROAD_SUBJECTS = {
    "Novels", "British Literature", "American Literature", "French Literature", "German Literature",
    "Russian Literature", "Classics of Literature", "Literature - Other", "Short Stories",
}
# What "hybrid_diverse" asks for on top of hybrid.
DIVERSITY = 0.3
MAX_PER_AUTHOR = 2


def log(message):
    print(message, file=sys.stderr, flush=True)


# -- labels ----------------------------------------------------------------------------


def subject_labels(record):
    return frozenset(record.get("subjects") or []) - BROAD_SUBJECTS


def lcsh_labels(record):
    return frozenset(heading.split(" -- ")[0].strip() for heading in record.get("lcsh") or [])


def read_labels(path):
    """external id -> {label set: labels}, read from the catalogue itself."""
    from bookrec.catalogue import read_rows

    labels = {}
    for _, record in read_rows(path):
        if isinstance(record, dict) and record.get("id") is not None:
            labels[str(record["id"])] = {"subjects": subject_labels(record), "lcsh": lcsh_labels(record)}
    return labels


def precision_table(neighbours, books, labels):
    """P@10 per label set and variant, averaged over the books that have labels of that set.

    ``neighbours``: {variant: {book id: [neighbour ids]}}.
    """
    table = {}
    for label_set in LABEL_SETS:
        table[label_set] = {}
        for variant, found_by_book in neighbours.items():
            scores = []
            for pk, found in found_by_book.items():
                own = labels[books[pk].external_id][label_set]
                if not own:
                    continue
                hits = sum(1 for other in found[:TOP] if labels[books[other].external_id][label_set] & own)
                scores.append(hits / TOP)
            table[label_set][variant] = round(float(np.mean(scores)), 3) if scores else None
    return table


# -- the scratch database ----------------------------------------------------------------


def with_database(url, name):
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def create_scratch_database():
    """Create an empty database on the configured (or embedded) server; return its URL."""
    import psycopg

    if not os.environ.get("DATABASE_URL"):
        from library_site import embedded_postgres

        embedded_postgres.start()
    server_url = os.environ["DATABASE_URL"]
    name = f"bookrec_quality_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return server_url, name


def drop_scratch_database(server_url, name):
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- the app's rankings --------------------------------------------------------------------


def app_neighbours(books, progress, workers=2):
    """Top-10 per mode and variant through the app's own ranking functions, in ``workers``
    processes (each with its own database connection) over chunks of the books."""
    import multiprocessing

    from django.db import connections
    from tqdm import tqdm

    global _books, _by_author
    _books = books
    _by_author = {}
    for book in books.values():
        if book.author:
            _by_author.setdefault(book.author, set()).add(book.pk)
    pks = list(books)
    chunks = [pks[start : start + 50] for start in range(0, len(pks), 50)]
    neighbours = {mode: {variant: {} for variant in VARIANTS} for mode in MODES[:4]}
    connections.close_all()  # no connection may cross the fork: each worker opens its own
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        with tqdm(total=len(pks), desc="Ranking", unit="book", disable=not progress) as bar:
            for found in pool.imap_unordered(rank_chunk, chunks):
                for mode, variants in found.items():
                    for variant, lists in variants.items():
                        neighbours[mode][variant].update(lists)
                bar.update(len(next(iter(found["vector"].values()))))
    return neighbours


# Set before the worker processes fork: the books, and the ids of each author's books.
_books = {}
_by_author = {}


def rank_chunk(pks):
    """Per book, the first-stage lists are computed once, over every other book, ``pool`` long
    plus the number of the book's author's other books; removing those books gives the
    excl_author lists exactly as the service computes them with that filter (each book's
    vector and keyword scores do not depend on the other candidates)."""
    from bookrec import ranking, textsearch
    from bookrec.models import Book
    from bookrec.recommendations import StoredVector
    from bookrec.registry import registration_for

    books = _books
    neighbours = {mode: {variant: {} for variant in VARIANTS} for mode in MODES[:4]}
    registration = registration_for(Book)
    candidates = registration.objects()
    plain = ranking.RankingOptions(limit=TOP)
    diverse = ranking.RankingOptions(limit=TOP, diversity=DIVERSITY, max_per_author=MAX_PER_AUTHOR)
    pool = ranking.candidate_pool_size(TOP, ranking.Mode.HYBRID, plain)
    for pk in pks:
        book = books[pk]
        query = ranking.Query(
            vector=StoredVector(registration, book), terms=textsearch.object_terms(registration, book),
            text=registration.render(book), exclude_ids=(book.pk,),
        )
        same_author = _by_author.get(book.author, set()) - {pk}
        by_vector = ranking.vector_stage(query, registration, candidates, pool + len(same_author))
        by_keyword = ranking.keyword_stage(query, registration, candidates, pool + len(same_author))
        for variant in VARIANTS:
            removed = same_author if variant == "excl_author" else set()
            vector_list = [item for item in by_vector if item.object.pk not in removed][:pool]
            keyword_list = [item for item in by_keyword if item.object.pk not in removed][:pool]
            fused = ranking.fused(vector_list, keyword_list)
            shaped = {
                "vector": ranking.shape(vector_list, query, registration, mode="vector", options=plain),
                "keyword": ranking.shape(keyword_list, query, registration, mode="keyword", options=plain),
                "hybrid": ranking.shape(fused, query, registration, mode="hybrid", options=plain),
                "hybrid_diverse": ranking.shape(fused, query, registration, mode="hybrid", options=diverse),
            }
            for mode, found in shaped.items():
                neighbours[mode][variant][pk] = [item.object.pk for item in found.results]
    return neighbours


# -- baselines -----------------------------------------------------------------------------


def top_excluding(scores, excluded):
    scores = scores.copy()
    scores[list(excluded)] = -np.inf
    top = np.argpartition(-scores, TOP)[:TOP]
    return top[np.argsort(-scores[top])]


def baseline_neighbours(books):
    """TF-IDF cosine over the summaries (as ../shared/data/README.md defines it) and random
    neighbours, over the same books."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = list(books)
    index = {pk: i for i, pk in enumerate(ids)}
    authors = {}
    for pk in ids:
        if books[pk].author:
            authors.setdefault(books[pk].author, []).append(index[pk])
    matrix = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, stop_words="english").fit_transform(
        [books[pk].summary for pk in ids]
    )
    similarity = (matrix @ matrix.T).toarray()
    rng = np.random.default_rng(0)
    result = {"tfidf": {v: {} for v in VARIANTS}, "random": {v: {} for v in VARIANTS}}
    for i, pk in enumerate(ids):
        for variant in VARIANTS:
            excluded = {i} | (set(authors.get(books[pk].author, [])) if variant == "excl_author" else set())
            result["tfidf"][variant][pk] = [ids[j] for j in top_excluding(similarity[i], excluded)]
            allowed = np.setdiff1d(np.arange(len(ids)), list(excluded))
            result["random"][variant][pk] = [ids[j] for j in rng.choice(allowed, TOP, replace=False)]
    return result


# -- the run -------------------------------------------------------------------------------


@contextmanager
def imported_catalogue(path, progress, limit=None):
    """Django set up on a scratch database (dropped at the end, also when interrupted) holding
    the catalogue, imported and embedded through the app with the local model, and analysed.
    Yields (the embedded books that have labels, by pk; labels by external id; timings)."""
    # The bench embeds in this process with the local model and queues nothing: an in-memory
    # broker takes (and forgets) the tasks that saving books sends.
    os.environ["CELERY_BROKER_URL"] = "memory://"
    os.environ["EMBEDDING_BASE_URL"] = ""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_site.settings")
    # A stopped run (Ctrl-C, SIGTERM) still drops its scratch database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server_url, name = create_scratch_database()
    os.environ["DATABASE_URL"] = with_database(server_url, name)
    import django

    django.setup()
    try:
        yield load_catalogue(path, progress, limit)
    finally:
        drop_scratch_database(server_url, name)


def load_catalogue(path, progress, limit):
    from django.core.management import call_command
    from django.db import connection

    from bench.embedding import embed_pending
    from bookrec.catalogue import import_books, read_rows
    from bookrec.indexing import table
    from bookrec.models import Book, Document
    from bookrec.recommendations import current_vectors
    from bookrec.registry import registration_for

    timings = {}
    started = time.monotonic()
    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)  # the site's cache (query vectors) without Redis
    report = import_books(islice(read_rows(path), limit))
    log(f"Imported {report.created} books ({len(report.rejected)} rejected: "
        + "; ".join(f"line {n}: {reason}" for n, reason in report.rejected[:5]) + ")")
    timings["import_s"] = round(time.monotonic() - started, 1)

    started = time.monotonic()
    cached, computed = embed_pending(progress=progress)
    timings["embed_s"] = round(time.monotonic() - started, 1)
    log(f"Vectors: {cached} from the cache, {computed} computed in {timings['embed_s']} s.")
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {table(Document)}")  # the lexeme statistics keyword ranking reads

    labels = read_labels(path)
    embedded = current_vectors(registration_for(Book)).values("object_id")
    books = Book.objects.filter(pk__in=embedded).in_bulk()
    books = {pk: book for pk, book in sorted(books.items()) if book.external_id in labels}
    return books, labels, timings


def run(books, labels, timings, progress):
    started = time.monotonic()
    neighbours = app_neighbours(books, progress)
    timings["rank_s"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    neighbours |= baseline_neighbours(books)
    timings["baselines_s"] = round(time.monotonic() - started, 1)
    results = {mode: precision_table(neighbours[mode], books, labels) for mode in MODES}
    return results, {"books": len(books), **timings}


def print_table(results, info, catalogue):
    print(f"P@{TOP} on {Path(catalogue).name}: {info['books']} books "
          f"(import {info['import_s']} s, embedding {info['embed_s']} s, ranking {info['rank_s']} s, "
          f"baselines {info['baselines_s']} s)\n")
    print("| mode | subjects, all | subjects, excl. author | LCSH, all | LCSH, excl. author |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for mode in MODES:
        cells = [results[mode][label_set][variant] for label_set in LABEL_SETS for variant in VARIANTS]
        print(f"| {mode} | " + " | ".join("-" if c is None else f"{c:.3f}" for c in cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("catalogue", help="JSON Lines catalogue (optionally .gz), e.g. ../shared/data/gutenberg-dev.jsonl.gz")
    parser.add_argument("--json", action="store_true", help='print {"<mode>": {"<label set>": {"all": P, "excl_author": P}}}')
    parser.add_argument("--limit", type=int, help="import only the first N books (a quick check, not a result)")
    args = parser.parse_args(argv)
    if not Path(args.catalogue).exists():
        parser.error(f"{args.catalogue}: no such file")

    progress = not args.json or sys.stderr.isatty()
    with imported_catalogue(args.catalogue, progress, args.limit) as (books, labels, timings):
        results, info = run(books, labels, timings, progress)
    if args.json:
        print(json.dumps(results))
    else:
        print_table(results, info, args.catalogue)


if __name__ == "__main__":
    main()
