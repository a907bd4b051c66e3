"""System checks: the settings and the registered models must make sense, and the database must
have what the queries need."""

import difflib

from django.core.checks import Error, Warning, register
from django.core.exceptions import FieldDoesNotExist
from django.db import DatabaseError, models
from django.utils.module_loading import import_string

from bookrec import schema
from bookrec.conf import DEFAULTS, IMPORT_STRINGS, bookrec_settings
from bookrec.registry import REGISTRATION_KEYS, registrations, template_fields

MIN_PGVECTOR = (0, 8)
INTEGER_KEYS = (models.AutoField, models.BigAutoField, models.SmallAutoField, models.IntegerField)


@register()
def check_database(app_configs, **kwargs):
    try:
        version = schema.pgvector_version()
        missing = [
            registration for registration in registrations().values()
            if schema.tables_exist() and registration.installed_model is not None
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


@register()
def check_settings(app_configs, **kwargs):
    """``BOOKREC``: every key known (a misspelt one would silently keep its default), every
    dotted path importable, and a vector width the index can hold."""
    if not isinstance(bookrec_settings.user_settings, dict):
        return [Error("BOOKREC must be a dict of settings.", id="bookrec.E003")]
    problems = []
    for key in sorted(set(bookrec_settings.user_settings) - set(DEFAULTS)):
        close = difflib.get_close_matches(key, DEFAULTS, n=1)
        problems.append(Error(
            f"BOOKREC has an unknown key {key!r}: it changes nothing.",
            hint=f"Did you mean {close[0]!r}?" if close else "The keys are those of bookrec.conf.DEFAULTS (see the README).",
            id="bookrec.E003",
        ))
    unimportable = set()
    for key in sorted(IMPORT_STRINGS):
        try:
            getattr(bookrec_settings, key)
        except ImportError as exc:
            unimportable.add(key)
            problems.append(Error(f"BOOKREC[{key!r}] names something that cannot be imported: {exc}", id="bookrec.E005"))
    if "EMBEDDER" not in unimportable:  # the embedder knows its own width
        dimensions = bookrec_settings.dimensions
        if isinstance(dimensions, int) and dimensions > schema.MAX_INDEXED_DIMENSIONS:
            problems.append(Error(
                f"Vectors of {dimensions} dimensions are configured; pgvector's HNSW index on halfvec holds "
                f"at most {schema.MAX_INDEXED_DIMENSIONS}.",
                hint=f"Set BOOKREC['EMBEDDING_DIMENSIONS'] to {schema.MAX_INDEXED_DIMENSIONS} or fewer "
                "(Matryoshka truncation).",
                id="bookrec.E004",
            ))
    return problems


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
        model = registration.installed_model
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
            "SUBJECTS": [registration.subjects_field] if registration.subjects_field else [],
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
        problems.extend(serializer_problems(registration, model))
    return problems


def serializer_problems(registration, model):
    """``SERIALIZER``: an importable DRF serializer class (checked by its interface: bookrec's
    core does not import DRF), of this model if it is a ModelSerializer."""
    if not registration.serializer:
        return []
    where = f"BOOKREC['MODELS'][{registration.label!r}]['SERIALIZER']"
    try:
        serializer = import_string(registration.serializer)
    except ImportError as exc:
        return [Error(f"{where} cannot be imported: {exc}", id="bookrec.E016")]
    if not (isinstance(serializer, type) and callable(getattr(serializer, "to_representation", None))):
        return [Error(f"{where} names {registration.serializer!r}, which is not a serializer class.",
                      hint="A subclass of rest_framework.serializers.Serializer.", id="bookrec.E016")]
    serialized = getattr(getattr(serializer, "Meta", None), "model", None)
    if isinstance(serialized, type) and not issubclass(model, serialized):
        return [Error(f"{where} serializes {serialized._meta.label}, not {registration.label}.", id="bookrec.E016")]
    return []
