from itertools import islice

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bookrec.catalogue import TITLE_MAX_LENGTH, import_books, read_rows


class Command(BaseCommand):
    help = (
        "Import books from a JSON Lines or CSV catalogue (optionally .gz), upserting on the "
        "external id. Changed and new books are queued for embedding; unchanged ones are not."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="catalogue.jsonl[.gz] or catalogue.csv[.gz]")
        parser.add_argument("--limit", type=int, help="import only the first N records")
        parser.add_argument("--batch-size", type=int, default=500, help="books written per transaction")

    def handle(self, path, limit=None, batch_size=500, **options):
        try:  # a first pass counts the records (a CSV record may span lines) for the progress bar
            total = sum(1 for _ in islice(read_rows(path), limit))
        except (OSError, EOFError, ValueError) as exc:  # missing, unreadable, truncated .gz, unknown format
            raise CommandError(f"{path}: {exc}") from exc
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
