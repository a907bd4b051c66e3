"""Which models bookrec recommends, and how each turns into text.

A site declares its models in ``BOOKREC["MODELS"]`` (bookrec's own ``Book`` is declared there by
default), keyed by ``"app_label.ModelName"``::

    "catalog.Book": {
        "TEXT": ["title", "author", "description"],   # embedded and searched, most telling first
        "TEMPLATE": "{title}\\n{author}\\n\\n{description}",  # optional: how the text reads
        "REQUIRED": ["description"],  # optional: no vector for an object without these
        "FILTERS": {"language": ["exact"], "year": ["gte", "lte"]},  # django-filter's Meta.fields
        "AUTHOR": "author",  # optional: the field the per-author cap counts
        "SUBJECTS": "tags",  # optional: a list or many-to-many field; results say which they share
        "SERIALIZER": "catalog.api.BookSerializer",  # optional: how the API shows one (DRF)
    }

Registrations are read from settings when first asked for (never at import) and dropped when
the settings change; the system checks (``bookrec.checks``) validate them.
"""

import hashlib
import string
from dataclasses import dataclass
from functools import cached_property

from django.apps import apps
from django.core.signals import setting_changed
from django.db import models
from django.utils.module_loading import import_string
from django_filters.filterset import filterset_factory

from bookrec.conf import bookrec_settings
from bookrec.filtering import FilterSet

REGISTRATION_KEYS = {"TEXT", "TEMPLATE", "REQUIRED", "FILTERS", "FILTERSET", "AUTHOR", "SUBJECTS", "SERIALIZER"}
# PostgreSQL has four full-text weights: the TEXT fields in order, the rest share the last.
FULL_TEXT_WEIGHTS = "ABCD"


class NotRegistered(LookupError):
    def __init__(self, model):
        super().__init__(
            f"{model} is not registered with bookrec: add it to BOOKREC['MODELS'] (see the README)."
        )


def template_fields(template):
    """The field names a ``str.format`` template refers to."""
    return [name.split(".")[0].split("[")[0] for _, name, _, _ in string.Formatter().parse(template) if name]


def field_values(obj, name):
    """A field's value as texts: one per item of a list or of related objects, the value itself
    otherwise, none for None."""
    value = getattr(obj, name, None)
    if value is None:
        return []
    if isinstance(value, models.Manager):  # a many-to-many or reverse relation
        return [str(item) for item in value.all()]
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return [str(value)]


def field_text(obj, name):
    """A field's value as text: lists and related objects joined by commas, None as blank."""
    return ", ".join(field_values(obj, name))


def document_hash(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Registration:
    label: str  # "app_label.ModelName", as declared
    options: dict

    @cached_property
    def model(self):
        return apps.get_model(self.label)

    @cached_property
    def installed_model(self):
        """The model, or None when the label names no installed model (the system check
        ``bookrec.E010`` says so): one bad label must not break the others."""
        try:
            return self.model
        except (LookupError, ValueError):  # ValueError: a label without "app_label."
            return None

    @property
    def model_label(self):
        """What bookrec's records name the model by: ``app_label.modelname``."""
        return self.model._meta.label_lower

    @property
    def text_fields(self):
        return list(self.options.get("TEXT") or [])

    @property
    def template(self):
        return self.options.get("TEMPLATE") or "\n\n".join("{%s}" % name for name in self.text_fields)

    @property
    def required_fields(self):
        return list(self.options.get("REQUIRED") or [])

    @property
    def author_field(self):
        return self.options.get("AUTHOR")

    @property
    def subjects_field(self):
        return self.options.get("SUBJECTS")

    @property
    def serializer(self):
        """The dotted path of the DRF serializer the API shows an object with; None: its id and
        TEXT fields (``bookrec.api.serializers``)."""
        return self.options.get("SERIALIZER")

    @cached_property
    def filterset_class(self):
        """The django-filter FilterSet of this model's filters (``FILTERSET``, or one built
        from ``FILTERS``)."""
        if self.options.get("FILTERSET"):
            return import_string(self.options["FILTERSET"])
        return filterset_factory(self.model, filterset=FilterSet, fields=self.options.get("FILTERS") or [])

    def objects(self):
        return self.model._default_manager.all()

    def has_text(self, obj):
        """Whether ``obj`` has what it takes to be embedded: every required field has text (a
        title alone would place a book among neighbours by its name), and so does the whole."""
        if any(not field_text(obj, name).strip() for name in self.required_fields):
            return False
        return bool(self.render(obj))

    def render(self, obj):
        """The text embedded for ``obj``: the template over its fields, stripped, cut to size."""
        values = {name: field_text(obj, name) for name in template_fields(self.template)}
        return self.template.format(**values).strip()[: bookrec_settings.EMBEDDING_MAX_CHARS]

    def content_hash(self, obj):
        """The fingerprint of what would be embedded now; blank when nothing would be."""
        return document_hash(self.render(obj)) if self.has_text(obj) else ""

    def weighted_texts(self, obj):
        """The TEXT fields as four texts, for full-text weights A, B, C and D."""
        texts = [field_text(obj, name) for name in self.text_fields]
        last = len(FULL_TEXT_WEIGHTS) - 1
        return texts[:last] + [""] * (last - len(texts[:last])) + ["\n".join(texts[last:])]

    def __str__(self):
        return self.label


_registrations = None


def registrations():
    """Every registered model's Registration, by label."""
    global _registrations
    if _registrations is None:
        _registrations = {label: Registration(label, dict(options)) for label, options in bookrec_settings.MODELS.items()}
    return _registrations


def installed_registrations():
    """The registrations whose model is installed: what everything but the system checks uses."""
    return [registration for registration in registrations().values() if registration.installed_model is not None]


def registration_for(model_or_object):
    """The Registration of a model, an instance of it, or an ``"app_label.ModelName"``."""
    if isinstance(model_or_object, str):
        model = apps.get_model(model_or_object)
    else:
        model = model_or_object if isinstance(model_or_object, type) else type(model_or_object)
    model = model._meta.concrete_model
    for registration in installed_registrations():
        if registration.model is model:
            return registration
    raise NotRegistered(model._meta.label)


def registered_models():
    return [registration.model for registration in installed_registrations()]


def forget_registrations(*, setting, **kwargs):
    global _registrations
    if setting == "BOOKREC":
        _registrations = None


setting_changed.connect(forget_registrations)
