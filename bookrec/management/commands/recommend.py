from django.core.management.base import BaseCommand, CommandError

from bookrec.models import Book
from bookrec.ranking import Mode, RankingOptions, rank_similar
from bookrec.recommendations import NotEmbedded
from bookrec.search import SearchUnavailable, search_books
from bookrec.taste import ExamplesNotEmbedded, Strategy, UnknownBooks, recommend_for_taste


class Command(BaseCommand):
    help = "Print recommendations from the shell: books about a text, like a book, or for a reader's taste."

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

    def handle(self, **options):
        ranking_options = RankingOptions(
            limit=options["limit"], diversity=options["diversity"], max_per_author=options["max_per_author"]
        )
        try:
            if options["search"]:
                found = search_books(options["search"], mode=options["mode"], options=ranking_options)
            elif options["similar"]:
                book = Book.objects.filter(pk=options["similar"]).first()
                if book is None:
                    raise CommandError(f"No book with id {options['similar']}.")
                found = rank_similar(book, mode=options["mode"], options=ranking_options)
            else:
                found = recommend_for_taste(
                    options["liked"], options["disliked"], strategy=options["strategy"], options=ranking_options
                )
        except (NotEmbedded, ExamplesNotEmbedded, UnknownBooks, SearchUnavailable) as exc:
            raise CommandError(str(exc)) from exc
        if found.notice:
            self.stderr.write(found.notice)
        self.stdout.write(f"mode: {found.mode}{' (reranked)' if found.reranked else ''}")
        for item in found.results:
            similarity = "-" if item.similarity is None else f"{item.similarity:.3f}"
            self.stdout.write(f"{item.score:10.4f}  {similarity:>6}  {item.book.pk:>7}  {item.book}")
