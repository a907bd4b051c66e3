from django.core.management.base import BaseCommand, CommandError

from bookrec import spaces
from bookrec.management.selection import add_model_argument, selected_registrations


class Command(BaseCommand):
    help = (
        "The embedding spaces (the model, and width, that made a set of vectors) each registered model has "
        "vectors in: status (rows by status, coverage, index; the active space serves every query), "
        "drop SPACE (delete a space's vectors and index, to free their storage; never the active one)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "drop"])
        parser.add_argument("space", nargs="?", help="the space to drop, as status names it")
        add_model_argument(parser)

    def handle(self, action, space=None, **options):
        registrations = selected_registrations(options)
        if action == "status":
            if space:
                raise CommandError("status takes no space.")
            for summary in spaces.summaries(registrations):
                self.write_summary(summary)
            return
        if not space:
            raise CommandError("Name the space to drop (embedding_space status lists them).")
        found = spaces.summaries(registrations)
        holding = [summary for summary in found if summary.space == space]
        if not holding:
            known = ", ".join(sorted({summary.space for summary in found}))
            raise CommandError(f"No registered model has a space {space!r}; there are: {known}.")
        for summary in holding:
            try:
                deleted = spaces.drop_space(summary.registration, space)
            except spaces.ActiveSpaceError as exc:
                raise CommandError(f"{exc} Configure another model first.") from exc
            self.stdout.write(f"{summary.registration.label}: dropped {space!r} ({deleted} rows, and its index).")

    def write_summary(self, summary):
        coverage = "no object with text" if summary.coverage is None else f"{summary.coverage:.1%} embedded"
        counts = ", ".join(f"{count} {status}" for status, count in sorted(summary.counts.items())) or "no rows"
        self.stdout.write(
            f"{summary.registration.label}  {summary.space}{'  (active)' if summary.active else ''}: {coverage}"
            f" ({counts}); index {'built' if summary.indexed else 'missing'}"
        )
