"""For a site's own pages: ``SimilarObjectsMixin`` for a DetailView, and ``similar_objects()``,
which the mixin and the ``{% similar %}`` template tag share.

A page renders whether or not its object has a vector yet: while it has none (just saved, or its
text has no summary), the page shows no similar objects instead of failing.
"""

import logging

from bookrec import recommend
from bookrec.recommendations import NotEmbedded

logger = logging.getLogger(__name__)


def similar_objects(obj, **options):
    """``recommend.similar(obj, **options)``, or an empty list while ``obj`` has no vector (logged
    at debug level)."""
    try:
        return recommend.similar(obj, **options)
    except NotEmbedded as exc:
        logger.debug("No similar objects shown: %s", exc)
        return []


class SimilarObjectsMixin:
    """For a DetailView of a registered model: ``similar_objects`` in the context, the objects
    most like ``self.object`` (an empty list while it has no vector).

    ``similar_limit`` and ``similar_mode`` (None: ``DEFAULT_LIMIT``, ``SIMILAR_MODE``) set the
    usual options; override ``get_similar_options()`` for the others (``queryset``, ``filters``...).
    """

    similar_limit = None
    similar_mode = None

    def get_similar_options(self):
        return {"limit": self.similar_limit, "mode": self.similar_mode}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["similar_objects"] = similar_objects(self.object, **self.get_similar_options())
        return context
