from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bookrec.catalogue import catalogue_format, import_books, read_rows


def count_records(path):
    from bookrec.catalogue import open_text

    with open_text(path) as handle:
        return sum(1 for line in handle if line.strip())


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
        try:
            catalogue_format(path)
            total = count_records(path)
        except (OSError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        if limit is not None:
            total = min(total, limit)
        rows = (row for index, row in enumerate(read_rows(path)) if limit is None or index < limit)
        disable = options["verbosity"] == 0
        with tqdm(total=total, unit="book", desc="Importing", disable=disable) as progress:
            report = import_books(rows, batch_size=batch_size, progress=progress)
        for number, reason in report.rejected:
            self.stderr.write(f"line {number}: rejected: {reason}")
        self.stdout.write(
            f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
            f"{len(report.rejected)} rejected; {report.queued} queued for embedding."
        )
