"""Throttling of the endpoints that cost an embedding call.

A view opts in by naming one of the scopes below as its ``embedding_call_scope``
(``bookrec.api.base.BookrecView`` then adds ``EmbeddingCallThrottle`` to the site's own
throttles). Rates are DRF rates ("60/min"): a site sets them in
``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, or bookrec's ``THROTTLE_RATES`` apply.
Throttle counts live in Django's default cache: use a shared cache (Redis, Memcached) when
the site runs more than one process, or each process counts on its own.
"""

from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

from bookrec.conf import bookrec_settings

SEARCH_SCOPE = "bookrec_search"  # free-text search: embeds the query
REEMBED_SCOPE = "bookrec_reembed"  # re-embedding on request


class EmbeddingCallThrottle(ScopedRateThrottle):
    """DRF's scoped throttle (per user, or per IP for anonymous clients), with defaults."""

    # Not DRF's ``throttle_scope``: a site whose default throttles include ScopedRateThrottle
    # would otherwise look bookrec's scopes up in its own rates, and fail on a missing one.
    scope_attr = "embedding_call_scope"

    def get_rate(self):
        # Read when asked (DRF's reads its rates once, at import), so settings changes apply.
        return {**bookrec_settings.THROTTLE_RATES, **api_settings.DEFAULT_THROTTLE_RATES}.get(self.scope)
