from django.core.management.base import BaseCommand

from bookrec import schema
from bookrec.management.selection import add_model_argument, selected_registrations


class Command(BaseCommand):
    help = (
        "The HNSW index of each registered model's vectors in the current embedding space: status, "
        "drop (before a large first load, so that writing vectors does not also update the graph), "
        "build (after it). Without the index every recommendation is still right, only slower (exact search)."
    )

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["status", "drop", "build"])
        add_model_argument(parser)
        add_build_arguments(parser)

    def handle(self, action, **options):
        for registration in selected_registrations(options):
            if action == "status":
                state = "built" if schema.index_exists(registration) else "missing (run: manage.py vector_index build)"
                self.stdout.write(f"{registration.label}: {state}")
            elif action == "drop":
                dropped = schema.drop_index(registration)
                self.stdout.write(f"{registration.label}: {'dropped' if dropped else 'there was no index to drop'}.")
            else:
                build(self, registration, options)


def add_build_arguments(parser):
    parser.add_argument("--maintenance-work-mem", default="1GB",
                        help="PostgreSQL memory for the build: the graph should fit (default 1GB: ~350,000 books at 1024 dims)")
    parser.add_argument("--parallel-workers", type=int, help="parallel build processes (default: the server's setting)")


def build(command, registration, options):
    if schema.index_exists(registration):
        command.stdout.write(f"{registration.label}: the index is already built.")
        return
    command.stdout.write(f"{registration.label}: building the HNSW index ...")
    seconds = schema.build_index(registration, options["maintenance_work_mem"], options["parallel_workers"])
    command.stdout.write(f"Built in {seconds:.1f} s.")
