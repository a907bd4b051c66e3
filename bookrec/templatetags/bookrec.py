"""``{% load bookrec %}``: recommendations in templates.

    {% similar book limit=5 as books %}
    {% search "whaling voyages" model="catalog.Book" limit=5 as found %}
    {% for item in books %}{{ item.object }} {{ item.similarity|floatformat:2 }}{% endfor %}

Both take the options of ``bookrec.recommend`` as keywords (``mode``, ``filters``, ``queryset``,
``diversity``...). A page renders whether or not the data is ready: ``similar`` gives an empty
list while the object has no vector (logged at debug level), ``search`` while the text cannot be
embedded (logged as a warning), and both for a missing object or a blank text. A mistake in the
template itself (an unregistered model, an unknown option or filter) is a ``TemplateSyntaxError``.
"""

import logging
from contextlib import contextmanager

from django import template
from django.core.exceptions import ValidationError
from django.db import models

from bookrec import recommend
from bookrec.conf import bookrec_settings
from bookrec.registry import registration_for
from bookrec.search import SearchUnavailable
from bookrec.views import similar_objects

logger = logging.getLogger(__name__)
register = template.Library()


@contextmanager
def template_mistakes(tag):
    """An unregistered model or a bad option, said as the template's mistake."""
    try:
        yield
    except (LookupError, ValueError, ValidationError) as exc:  # NotRegistered is a LookupError
        raise template.TemplateSyntaxError(f"{{% {tag} %}}: {exc}") from exc


@register.simple_tag(name="similar")
def similar_tag(obj, *, limit=None, filters=None, mode=None, diversity=0.0, max_per_author=None,
                min_similarity=None, rerank=None, queryset=None):
    if not obj:  # a variable the context does not have
        return []
    if not isinstance(obj, models.Model):
        raise template.TemplateSyntaxError(f"{{% similar %}} needs a model instance, not {obj!r}.")
    with template_mistakes("similar"):
        return similar_objects(
            obj, limit=limit, filters=filters, mode=mode, diversity=diversity, max_per_author=max_per_author,
            min_similarity=min_similarity, rerank=rerank, queryset=queryset,
        )


@register.simple_tag(name="search")
def search_tag(text, *, model, limit=None, filters=None, mode=None, diversity=0.0, max_per_author=None,
               min_similarity=None, rerank=None, queryset=None):
    text = str(text or "").strip()[: bookrec_settings.MAX_QUERY_CHARS]
    with template_mistakes("search"):
        registration_for(model)  # an unregistered model is a mistake, even with nothing to search for
        if not text:
            return []
        try:
            return recommend.search(
                model, text, limit=limit, filters=filters, mode=mode, diversity=diversity,
                max_per_author=max_per_author, min_similarity=min_similarity, rerank=rerank, queryset=queryset,
            )
        except SearchUnavailable as exc:
            logger.warning("No search results shown: %s", exc)
            return []
