from django.core.management.base import BaseCommand

from bookrec import schema


class Command(BaseCommand):
    help = (
        "The HNSW index of the vectors: status, drop (before a large first load, so that writing "
        "vectors does not also update the graph), build (after it). Without the index every "
        "recommendation is still right, only slower (exact search)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "drop", "build"])
        add_build_arguments(parser)

    def handle(self, action, **options):
        if action == "status":
            self.stdout.write("built" if schema.index_exists() else "missing (run: manage.py vector_index build)")
        elif action == "drop":
            self.stdout.write("Dropped." if schema.drop_index() else "There was no index to drop.")
        else:
            build(self, options)


def add_build_arguments(parser):
    parser.add_argument("--maintenance-work-mem", default="1GB",
                        help="PostgreSQL memory for the build: the graph should fit (default 1GB: ~350,000 books at 1024 dims)")
    parser.add_argument("--parallel-workers", type=int, help="parallel build processes (default: the server's setting)")


def build(command, options):
    if schema.index_exists():
        command.stdout.write("The index is already built.")
        return
    command.stdout.write("Building the HNSW index ...")
    seconds = schema.build_index(options["maintenance_work_mem"], options["parallel_workers"])
    command.stdout.write(f"Built in {seconds:.1f} s.")
