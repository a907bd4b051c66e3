from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from bookrec import indexing, pipeline, tasks
from bookrec.conf import bookrec_settings
from bookrec.embedders import EmbeddingUnavailable, get_embedder
from bookrec.management.selection import add_model_argument, selected_registrations
from bookrec.models import EmbeddingStatus


class Command(BaseCommand):
    help = (
        "Embed registered objects now, in this process, with a progress bar (or --queue them for "
        "the Celery workers). Default: every object that is pending, failed, or has no vector from "
        "the current model."
    )

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--stale", action="store_true", help="pending, failed or other-model objects (default)")
        which.add_argument("--failed", action="store_true", help="only objects whose embedding failed")
        which.add_argument("--all", action="store_true", help="every object with text")
        which.add_argument("--ids", type=int, nargs="+", metavar="ID", help="these objects (with --model)")
        parser.add_argument("--queue", action="store_true", help="send to the Celery workers instead")
        add_model_argument(parser)

    def selection(self, registration, options):
        """The pks to embed (their records synced first)."""
        if options["failed"]:
            return list(
                indexing.active_embeddings(registration).filter(status=EmbeddingStatus.FAILED)
                .order_by("object_id").values_list("object_id", flat=True)
            )
        if options["all"]:
            return pipeline.mark_for_embedding(registration, registration.objects())
        if options["ids"]:
            return pipeline.mark_for_embedding(registration, registration.objects().filter(pk__in=options["ids"]))
        return pipeline.needing_embedding(registration)

    def handle(self, **options):
        registrations = selected_registrations(options)
        if options["ids"] and len(registrations) > 1:
            raise CommandError("--ids needs --model: the ids of which model?")
        for registration in registrations:
            self.embed(registration, options)

    def embed(self, registration, options):
        pks = self.selection(registration, options)
        # Objects named explicitly (--all, --ids) are embedded again even when their vector is
        # current, as the admin's "re-embed selected" does; the sweeps take only what needs it.
        force = bool(options["all"] or options["ids"])
        if options["queue"]:
            queued = tasks.queue_embedding(registration, pks, force=force)
            self.stdout.write(f"{registration.label}: queued {queued} of {len(pks)} objects for the workers.")
            return
        embedder = get_embedder()
        embedded = failed = 0
        disable = options["verbosity"] == 0
        description = f"Embedding {registration.label} ({embedder.model_name})"
        with tqdm(total=len(pks), unit="object", desc=description, disable=disable) as bar:
            for chunk in pipeline.chunked(pks, bookrec_settings.TASK_BATCH_SIZE):
                try:
                    report = pipeline.embed_objects(registration, chunk, embedder=embedder, force=force)
                except EmbeddingUnavailable as exc:
                    raise CommandError(f"{exc} {embedded} objects were embedded; the rest stay pending.") from exc
                embedded += len(report.embedded)
                failed += len(report.failed)
                bar.update(len(chunk))
        self.stdout.write(
            f"{registration.label}: embedded {embedded}; {failed} failed (see their embedding error)."
        )
