"""The main job: from nothing to a running library site with real books, embedded.

    python -m library_site.launcher [--catalogue PATH] [--limit N] [--port 8000]

Starts the embedded defaults for whatever is not configured, migrates, creates the
librarian's login, imports the catalogue (skipped when it was already imported), starts
the web server and a Celery worker, shows embedding progress, and stops everything
cleanly on Ctrl-C. ``./dev up`` runs it inside the project's virtualenv.
"""

import argparse
import ctypes
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from library_site import defaults
from library_site.embedded_postgres import data_dir

ROOT = Path(__file__).resolve().parent.parent


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, terminal closed


class Stop(Exception):
    """Ctrl-C, SIGTERM or SIGHUP: shut everything down."""


def raise_stop(signum, frame):
    raise Stop


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="./dev up", description=__doc__.split("\n\n")[0])
    parser.add_argument("--catalogue", type=Path, help="JSON Lines or CSV catalogue (default: Gutenberg demo data or the bundled sample)")
    parser.add_argument("--limit", type=int, help="import only the first N books (see it work sooner)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--debug", action="store_true", help="serve Django's debug pages (never on a public address)")
    parser.add_argument("--exit-when-embedded", action="store_true", help="stop once every book is embedded (for benchmarks)")
    parser.add_argument("--timings", type=Path, help="write the phase timings to this JSON file")
    return parser.parse_args(argv)


class Phases:
    def __init__(self):
        self.seconds = {}

    def run(self, name, function, *args, **kwargs):
        started = time.monotonic()
        result = function(*args, **kwargs)
        self.seconds[name] = round(time.monotonic() - started, 2)
        return result


def port_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def librarian_login():
    """The admin login: from BOOKREC_ADMIN_USER/PASSWORD, or made once and kept in var/."""
    from django.contrib.auth import get_user_model

    username = os.environ.get("BOOKREC_ADMIN_USER", "librarian")
    password_file = data_dir() / "admin-password"
    password = os.environ.get("BOOKREC_ADMIN_PASSWORD")
    if not password and password_file.exists():
        password = password_file.read_text().strip()
    if not password:
        password = secrets.token_urlsafe(12)
        password_file.write_text(password)
        password_file.chmod(0o600)
    user, _ = get_user_model().objects.get_or_create(username=username, defaults={"is_staff": True, "is_superuser": True})
    if not user.check_password(password):
        user.set_password(password)
        user.save()
    return username, password


def import_catalogue(path, limit):
    """Import unless this very file (and limit) was imported into this database before."""
    from django.core.management import CommandError, call_command
    from django.db import connection

    from bookrec.models import Book

    stat = path.stat()
    stamp = {
        "path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "limit": limit,
        "database": {key: connection.settings_dict[key] for key in ("NAME", "HOST", "PORT")},
    }
    stamp_file = data_dir() / "imported.json"
    if stamp_file.exists() and json.loads(stamp_file.read_text()) == stamp and Book.objects.exists():
        print(f"Catalogue {path.name} was imported before: not importing again.")
        return
    print(f"Importing {path} ...")
    try:
        call_command("import_books", str(path), limit=limit)
    except CommandError as exc:
        sys.exit(f"Could not import the catalogue: {exc}")
    stamp_file.write_text(json.dumps(stamp))


def stop_with_launcher():
    """In a child, before exec: get SIGTERM when the launcher dies, even by SIGKILL (Linux)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def start_children(port):
    from bookrec.conf import bookrec_settings

    logs = data_dir() / "log"
    logs.mkdir(exist_ok=True)
    local_model = bookrec_settings.EMBEDDER.__name__ == "LocalE5Embedder"
    # The local model already uses every core in one process; a server is I/O-bound.
    pool = ["--pool=solo"] if local_model else ["--pool=threads", "--concurrency=8"]
    queue = ["-Q", bookrec_settings.CELERY_QUEUE] if bookrec_settings.CELERY_QUEUE else []
    commands = {
        "worker": [sys.executable, "-m", "celery", "-A", "library_site", "worker", *pool, *queue,
                   "--without-mingle", "--without-gossip", "-l", "info", "-n", "library@%h"],
        "web": [sys.executable, "-m", "gunicorn", "library_site.wsgi", "-b", f"127.0.0.1:{port}", "-w", "2", "--threads", "4"],
    }
    children = {}
    for name, command in commands.items():
        with open(logs / f"{name}.log", "ab") as log:
            # Their own session: Ctrl-C reaches the launcher only, which stops them in order.
            children[name] = subprocess.Popen(
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=stop_with_launcher,
            )
    wait_for_web(port, children)
    print(f"Started the web server and a Celery worker (logs in {logs}).")
    return children


def wait_for_web(port, children, timeout=60):
    """Wait until the web server accepts connections, so the printed links work."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and children["web"].poll() is None:
        if not port_free(port):
            return
        time.sleep(0.2)


def stop_children(children, timeout=30):
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # the worker finishes its batch first
    deadline = time.monotonic() + timeout
    for child in children.values():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the child and whatever it started
            child.wait()


def embedding_counts():
    from django.db.models import Count

    from bookrec import indexing
    from bookrec.models import Book, EmbeddingStatus
    from bookrec.registry import registration_for

    rows = indexing.active_embeddings(registration_for(Book))
    by_status = dict(rows.values_list("status").annotate(n=Count("id")).order_by())
    return by_status, by_status.get(EmbeddingStatus.EMBEDDED, 0)


def show_progress(children):
    """A progress bar until no book is pending; returns False if a child died."""
    from tqdm import tqdm

    by_status, current = embedding_counts()
    total = sum(n for status, n in by_status.items() if status != "skipped")
    with tqdm(total=total, initial=current, unit="book", desc="Embedding", dynamic_ncols=True) as bar:
        while True:
            by_status, current = embedding_counts()
            bar.update(current - bar.n)
            bar.set_postfix(failed=by_status.get("failed", 0), refresh=False)
            if not by_status.get("pending"):
                if by_status.get("failed"):
                    print(f"\n{by_status['failed']} books failed to embed: the admin lists them with the reason"
                          " (filter by embedding status); `./manage.py embed --failed` retries them.")
                return True
            for name, child in children.items():
                if child.poll() is not None:
                    print(f"\nThe {name} stopped (exit code {child.returncode}); see var/log/{name}.log.")
                    return False
            time.sleep(1)


EXAMPLE_LANGUAGES = {"en": "English", "zh": "Chinese"}


def example_requests(port, limited):
    """One similar-books request per example language, or why there is none."""
    from bookrec.models import Book
    from bookrec.recommendations import current_vectors
    from bookrec.registry import registration_for

    embedded = current_vectors(registration_for(Book)).values("object_id")
    lines = []
    for language, name in EXAMPLE_LANGUAGES.items():
        book = Book.objects.filter(language=language, pk__in=embedded).order_by("id").first()
        if book:
            lines.append(f"  curl 'http://127.0.0.1:{port}/api/books/{book.pk}/similar/?limit=5'   # {book.title}")
        else:
            hint = "; --limit N imports only the first N rows of the catalogue: try a larger N" if limited else ""
            lines.append(f"  (no {name} book is embedded{hint})")
    return lines


def main(argv=None):
    args = parse_args(argv)
    for signum in STOP_SIGNALS:
        signal.signal(signum, raise_stop)
    phases = Phases()
    children = {}
    try:
        if not port_free(args.port):
            sys.exit(f"Port {args.port} is taken: pass --port, or stop what runs there.")
        catalogue = args.catalogue or defaults.default_catalogue()
        if not catalogue.is_file():
            sys.exit(f"No catalogue at {catalogue}: pass --catalogue with a .jsonl or .csv file (optionally .gz).")
        if args.debug:
            os.environ["DJANGO_DEBUG"] = "true"  # the web server inherits it
        print(phases.run("database_start", defaults.choose_database))
        print(defaults.choose_broker())
        print(defaults.choose_embedder())
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "library_site.settings")
        import django
        from django.core.management import call_command

        django.setup()
        phases.run("migrate", call_command, "migrate", verbosity=0)
        call_command("createcachetable")  # the shared cache, when it is the database's
        username, password = librarian_login()
        phases.run("import", import_catalogue, catalogue, args.limit)
        children = phases.run("start_site", start_children, args.port)
        base = f"http://127.0.0.1:{args.port}"
        print(f"\nThe site is up while books embed:\n  books     {base}/books/\n"
              f"  admin     {base}/admin/   (login: {username} / {password})\n"
              f"  API docs  {base}/api/docs/\n  API       {base}/api/books/\n")
        embedded = phases.run("embedding", show_progress, children)
        if embedded:
            print("Every book with a summary is embedded. Try:")
            print("\n".join(example_requests(args.port, limited=args.limit is not None)))
        if args.timings:
            args.timings.write_text(json.dumps(phases.seconds, indent=2))
        print("Timings (s): " + ", ".join(f"{k} {v}" for k, v in phases.seconds.items()))
        if args.exit_when_embedded:
            return 0 if embedded else 1
        print("\nPress Ctrl-C to stop.")
        while all(child.poll() is None for child in children.values()):
            time.sleep(1)
        print("A process stopped; shutting down (see var/log/).")
        return 1
    except Stop:
        print("\nStopping (the worker first finishes the batch it is embedding) ...")
        return 0
    finally:
        for signum in STOP_SIGNALS:  # a second Ctrl-C must not orphan anything
            signal.signal(signum, signal.SIG_IGN)
        stop_children(children)
        # The embedded PostgreSQL (if this process started it) stops at exit.


if __name__ == "__main__":
    sys.exit(main())
