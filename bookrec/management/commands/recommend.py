from django.core.management.base import BaseCommand, CommandError

from bookrec import recommend
from bookrec.management.selection import add_model_argument, selected_registrations
from bookrec.ranking import Mode
from bookrec.recommendations import NotEmbedded
from bookrec.search import SearchUnavailable
from bookrec.taste import ExamplesNotEmbedded, Strategy


class Command(BaseCommand):
    help = (
        "Print recommendations from the shell: objects about a text, like an object, or for a reader's "
        "taste (--model when more than one model is registered)."
    )

    def add_arguments(self, parser):
        what = parser.add_mutually_exclusive_group(required=True)
        what.add_argument("--search", metavar="TEXT", help="books about this text")
        what.add_argument("--similar", type=int, metavar="ID", help="books like this one")
        what.add_argument("--liked", type=int, nargs="+", metavar="ID", help="books for a reader who liked these")
        parser.add_argument("--disliked", type=int, nargs="+", default=[], metavar="ID", help="...and disliked these")
        parser.add_argument("--strategy", choices=Strategy.values, help="for --liked (default: TASTE_STRATEGY)")
        parser.add_argument("--mode", choices=Mode.values, help="for --search and --similar (default: the setting)")
        parser.add_argument("--limit", type=int, default=10)
        parser.add_argument("--diversity", type=float, default=0.0, help="maximal marginal relevance, 0..1")
        parser.add_argument("--max-per-author", type=int)
        add_model_argument(parser)

    def handle(self, **options):
        ranking_options = {
            "limit": options["limit"], "diversity": options["diversity"], "max_per_author": options["max_per_author"]
        }
        registrations = selected_registrations(options)
        if len(registrations) != 1:
            raise CommandError("Several models are registered: name one with --model.")
        model = registrations[0].model
        try:
            if options["search"]:
                found = recommend.search(model, options["search"], mode=options["mode"], **ranking_options)
            elif options["similar"]:
                obj = model._default_manager.filter(pk=options["similar"]).first()
                if obj is None:
                    raise CommandError(f"No {model._meta.verbose_name} with id {options['similar']}.")
                found = recommend.similar(obj, mode=options["mode"], **ranking_options)
            else:
                found = recommend.for_taste(
                    options["liked"], options["disliked"], model=model, strategy=options["strategy"],
                    **ranking_options,
                )
        except (NotEmbedded, ExamplesNotEmbedded, SearchUnavailable, ValueError) as exc:  # UnknownBooks: a ValueError
            raise CommandError(str(exc)) from exc
        if found.notice:
            self.stderr.write(found.notice)
        self.stdout.write(f"mode: {found.mode}{' (reranked)' if found.reranked else ''}")
        for item in found:
            similarity = "-" if item.similarity is None else f"{item.similarity:.3f}"
            self.stdout.write(f"{item.score:10.4f}  {similarity:>6}  {item.object.pk:>7}  {item.object}")
