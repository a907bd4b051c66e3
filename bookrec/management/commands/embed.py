from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bookrec import pipeline, schema
from bookrec.conf import bookrec_settings
from bookrec.embedders import EmbeddingUnavailable, get_embedder
from bookrec.models import Book, EmbeddingStatus


class Command(BaseCommand):
    help = (
        "Embed books now, in this process, with a progress bar (or --queue them for the "
        "Celery workers). Default: every book that is stale, pending or failed."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--stale", action="store_true", help="pending, failed or other-model books (default)")
        which.add_argument("--failed", action="store_true", help="only books whose embedding failed")
        which.add_argument("--all", action="store_true", help="every book with a summary")
        which.add_argument("--ids", type=int, nargs="+", metavar="ID", help="these books")
        parser.add_argument("--queue", action="store_true", help="send to the Celery workers instead")
        parser.add_argument(
            "--resize-column", action="store_true",
            help="first change the vector column to the configured width (drops every vector), then embed all",
        )

    def selection(self, options):
        if options["all"] or options["resize_column"]:
            return Book.objects.all()
        if options["failed"]:
            return Book.objects.filter(embedding_status=EmbeddingStatus.FAILED)
        if options["ids"]:
            return Book.objects.filter(pk__in=options["ids"])
        return Book.objects.needing_embedding()

    def handle(self, **options):
        if options["resize_column"]:
            schema.resize_column(bookrec_settings.dimensions)
            self.stdout.write(f"The vector column now holds {bookrec_settings.dimensions} dimensions.")
        ids = pipeline.mark_for_embedding(self.selection(options))
        # Books named explicitly (--all, --ids) are embedded again even when their vector is
        # current, as the admin's "re-embed selected" does; the sweeps take only what needs it.
        force = bool(options["all"] or options["ids"])
        if options["queue"]:
            queued = pipeline.queue_embedding(ids, force=force)
            self.stdout.write(f"Queued {queued} of {len(ids)} books for the workers.")
            return
        embedder = get_embedder()
        embedded = failed = 0
        disable = options["verbosity"] == 0
        with tqdm(total=len(ids), unit="book", desc=f"Embedding ({embedder.model_name})", disable=disable) as bar:
            for chunk in pipeline.chunked(ids, bookrec_settings.TASK_BATCH_SIZE):
                try:
                    report = pipeline.embed_books(chunk, embedder=embedder, force=force)
                except EmbeddingUnavailable as exc:
                    raise CommandError(f"{exc} {embedded} books were embedded; the rest stay pending.") from exc
                embedded += len(report.embedded)
                failed += len(report.failed)
                bar.update(len(chunk))
        self.stdout.write(f"Embedded {embedded} books; {failed} failed (see their embedding_error).")
