"""System checks: the settings and the database must agree on the vectors."""

from django.core.checks import Error, Warning, register
from django.db import DatabaseError

MIN_PGVECTOR = (0, 8)


@register()
def check_vector_column(app_configs, **kwargs):
    from bookrec.conf import bookrec_settings
    from bookrec.schema import column_dimensions, pgvector_version

    try:
        version = pgvector_version()
        actual = column_dimensions()
    except DatabaseError:
        return []  # no database to look at (yet): nothing to compare
    problems = []
    if version is not None and tuple(int(p) for p in version.split(".")[:2]) < MIN_PGVECTOR:
        problems.append(Error(
            f"pgvector {version} is installed; bookrec needs 0.8 or newer (halfvec, iterative index scans).",
            hint="Upgrade the extension: ALTER EXTENSION vector UPDATE;",
            id="bookrec.E002",
        ))
    expected = bookrec_settings.dimensions
    if actual is not None and actual != expected:
        problems.append(Warning(
            f"The embedding column holds {actual}-dimensional vectors but the settings ask for "
            f"{expected} (embedder {bookrec_settings.EMBEDDER.__name__}). Vectors cannot be written.",
            hint="Run `python manage.py embed --resize-column` to change the column and re-embed every book.",
            id="bookrec.W001",
        ))
    return problems


@register()
def check_text_search_configuration(app_configs, **kwargs):
    from bookrec.conf import bookrec_settings
    from bookrec.textsearch import column_configuration

    try:
        actual = column_configuration()
    except DatabaseError:
        return []
    expected = bookrec_settings.TEXT_SEARCH_CONFIG
    if actual is not None and actual != expected:
        return [Warning(
            f"The full-text column uses the {actual!r} text-search configuration but the settings ask for "
            f"{expected!r}: keyword and hybrid queries would not match the stored lexemes.",
            hint="Run `python manage.py rebuild_search_document`.",
            id="bookrec.W002",
        )]
    return []
