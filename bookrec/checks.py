"""System checks: the registered models must make sense, and the database must have what the
queries need."""

from django.core.checks import Error, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, models

from bookrec import schema
from bookrec.conf import bookrec_settings
from bookrec.registry import REGISTRATION_KEYS, registrations, template_fields

MIN_PGVECTOR = (0, 8)
INTEGER_KEYS = (models.AutoField, models.BigAutoField, models.SmallAutoField, models.IntegerField)


@register()
def check_database(app_configs, **kwargs):
    try:
        version = schema.pgvector_version()
        missing = [
            registration for registration in registrations().values()
            if schema.tables_exist() and registration_model(registration) is not None
            and not schema.index_exists(registration)
        ]
    except DatabaseError:
        return []  # no database to look at (yet): nothing to compare
    problems = []
    if version is not None and tuple(int(p) for p in version.split(".")[:2]) < MIN_PGVECTOR:
        problems.append(Error(
            f"pgvector {version} is installed; bookrec needs 0.8 or newer (halfvec, iterative index scans).",
            hint="Upgrade the extension: ALTER EXTENSION vector UPDATE;",
            id="bookrec.E002",
        ))
    for registration in missing:
        problems.append(Warning(
            f"{registration.label} has no vector index for the current embedding model: similarity "
            "queries are exact, and slow on a large catalogue.",
            hint="Run `python manage.py vector_index build` (migrate builds it too).",
            id="bookrec.W001",
        ))
    return problems


def registration_model(registration):
    try:
        return registration.model
    except (LookupError, ValueError):
        return None


def has_field(model, name):
    try:
        model._meta.get_field(name)
    except FieldDoesNotExist:
        return hasattr(model, name) and not callable(getattr(model, name))  # a property reads as text too
    return True


@register()
def check_registered_models(app_configs, **kwargs):
    """``BOOKREC["MODELS"]``: each model installed, with an integer primary key, and every field
    its declaration names."""
    if not isinstance(bookrec_settings.MODELS, dict):
        return [Error("BOOKREC['MODELS'] must be a dict of 'app_label.ModelName' to options.", id="bookrec.E010")]
    problems = []
    for registration in registrations().values():
        label, options = registration.label, registration.options
        model = registration_model(registration)
        if model is None:
            problems.append(Error(f"BOOKREC['MODELS'] names {label!r}, which is not an installed model.",
                                  hint="Use 'app_label.ModelName' of an app in INSTALLED_APPS.", id="bookrec.E010"))
            continue
        for key in sorted(set(options) - REGISTRATION_KEYS):
            problems.append(Error(f"BOOKREC['MODELS'][{label!r}] has an unknown key {key!r}.",
                                  hint=f"Known keys: {', '.join(sorted(REGISTRATION_KEYS))}.", id="bookrec.E011"))
        if not isinstance(model._meta.pk, INTEGER_KEYS):
            problems.append(Error(f"{label} has a {type(model._meta.pk).__name__} primary key; bookrec needs an integer one.",
                                  id="bookrec.E012"))
        if not registration.text_fields:
            problems.append(Error(f"BOOKREC['MODELS'][{label!r}] has no TEXT: the fields whose text is embedded.",
                                  hint='For example "TEXT": ["title", "description"].', id="bookrec.E013"))
        named = {
            "TEXT": registration.text_fields,
            "TEMPLATE": template_fields(registration.template),
            "REQUIRED": registration.required_fields,
            "AUTHOR": [registration.author_field] if registration.author_field else [],
        }
        for key, names in named.items():
            for name in names:
                if not has_field(model, name):
                    problems.append(Error(f"BOOKREC['MODELS'][{label!r}][{key!r}] names {name!r}, which {label} does not have.",
                                          id="bookrec.E014"))
        try:
            registration.filterset_class.base_filters
        except Exception as exc:  # django-filter's own message names the field
            problems.append(Error(f"BOOKREC['MODELS'][{label!r}] filters cannot be built: {exc}", id="bookrec.E015"))
    return problems
