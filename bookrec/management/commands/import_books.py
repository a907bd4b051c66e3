import time
from itertools import islice

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bookrec import indexing, schema
from bookrec.catalogue import TITLE_MAX_LENGTH, import_books, read_rows
from bookrec.management.commands.vector_index import add_build_arguments, build
from bookrec.models import Book, EmbeddingStatus
from bookrec.registry import registration_for

WAITING_HINT_AFTER = 30  # seconds without progress before asking whether a worker runs


class Command(BaseCommand):
    help = (
        "Import books from a JSON Lines or CSV catalogue (optionally .gz), upserting on the "
        "external id. Changed and new books are queued for embedding; unchanged ones are not."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="catalogue.jsonl[.gz] or catalogue.csv[.gz]")
        parser.add_argument("--limit", type=int, help="import only the first N records")
        parser.add_argument("--batch-size", type=int, default=500, help="books written per transaction")
        parser.add_argument(
            "--defer-index", action="store_true",
            help="for a large first load: drop the HNSW index, import, wait for the workers to embed "
                 "every book, then build the index once (several times faster than keeping it up)",
        )
        add_build_arguments(parser)

    def handle(self, path, limit=None, batch_size=500, **options):
        try:  # a first pass counts the records (a CSV record may span lines) for the progress bar
            total = sum(1 for _ in islice(read_rows(path), limit))
        except (OSError, EOFError, ValueError) as exc:  # missing, unreadable, truncated .gz, unknown format
            raise CommandError(f"{path}: {exc}") from exc
        registration = registration_for(Book)
        if options["defer_index"] and schema.drop_index(registration):
            self.stdout.write("Dropped the HNSW index; it is built again once every book is embedded.")
        rows = islice(read_rows(path), limit)
        disable = options["verbosity"] == 0
        with tqdm(total=total, unit="book", desc="Importing", disable=disable) as progress:
            report = import_books(rows, batch_size=batch_size, progress=progress)
        for number, reason in report.rejected:
            self.stderr.write(f"line {number}: rejected: {reason}")
        if report.shortened:
            lines = ", ".join(map(str, report.shortened))
            self.stdout.write(f"{len(report.shortened)} titles longer than {TITLE_MAX_LENGTH} characters were shortened (lines {lines}).")
        self.stdout.write(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.rejected)} rejected; {report.queued} queued for embedding."
        )
        if options["defer_index"]:
            try:
                self.wait_for_embedding(registration, disable)
            except KeyboardInterrupt:
                raise CommandError(
                    "Interrupted: the HNSW index is not built (recommendations are exact, and slow, "
                    "without it). Run `manage.py vector_index build` once the books are embedded."
                ) from None
            build(self, registration, options)

    def wait_for_embedding(self, registration, disable):
        """Until no book is pending (embedded, failed or skipped: each is recorded on the book)."""
        pending = indexing.active_embeddings(registration).filter(status=EmbeddingStatus.PENDING)
        remaining = pending.count()
        last_progress = time.monotonic()
        with tqdm(total=remaining, unit="book", desc="Embedding (workers)", disable=disable) as progress:
            while remaining:
                time.sleep(1)
                now_remaining = pending.count()
                if now_remaining < remaining:
                    last_progress = time.monotonic()
                elif time.monotonic() - last_progress > WAITING_HINT_AFTER:
                    progress.write("No book embedded for a while: is a Celery worker running? (Ctrl-C stops waiting.)")
                    last_progress = time.monotonic()
                progress.update(max(remaining - now_remaining, 0))
                remaining = now_remaining
