"""The ``--model`` option the management commands share."""

from django.core.management.base import CommandError

from bookrec.registry import installed_registrations, registration_for


def add_model_argument(parser):
    parser.add_argument(
        "--model", metavar="APP_LABEL.MODEL",
        help="one registered model (default: every model in BOOKREC['MODELS'])",
    )


def selected_registrations(options):
    if not options.get("model"):
        return installed_registrations()
    try:
        return [registration_for(options["model"])]
    except (LookupError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
