"""What every bookrec endpoint shares: the site's rules, read per request.

- Permissions, authentication and throttles are the site's ``REST_FRAMEWORK`` defaults, unless
  ``BOOKREC`` names others (``API_PERMISSION_CLASSES``, ``API_AUTHENTICATION_CLASSES``,
  ``API_THROTTLE_CLASSES``). Both are read when a request comes, never at import, so
  ``override_settings`` and the site's settings always win (DRF's own class attributes are
  fixed when ``rest_framework.views`` is imported).
- A view adds what it always needs on top: the model permissions of a write
  (``required_permission_classes``), the throttle of an endpoint that costs an embedding call
  (``embedding_call_scope``).
- The site's exception handler answers, with a 503 while the database cannot be reached.
- Bodies are JSON, read by bookrec's own parser (``bookrec.api.parsers``).
- The schema is drf-spectacular's, whatever the site's ``DEFAULT_SCHEMA_CLASS``.
"""

from rest_framework.permissions import DjangoModelPermissions
from rest_framework.settings import api_settings

from bookrec.api.exceptions import database_aware
from bookrec.api.openapi import BookrecAutoSchema
from bookrec.api.parsers import JSONParser
from bookrec.api.throttling import EmbeddingCallThrottle
from bookrec.conf import bookrec_settings


def policy_classes(bookrec_key, drf_key):
    """The classes ``BOOKREC[bookrec_key]`` names, or (None) the site's ``REST_FRAMEWORK[drf_key]``."""
    classes = getattr(bookrec_settings, bookrec_key)
    return getattr(api_settings, drf_key) if classes is None else classes


class ChangePermission(DjangoModelPermissions):
    """Re-embedding (a POST) changes what bookrec holds about an object: it needs the change
    permission, not the add one."""

    perms_map = {**DjangoModelPermissions.perms_map, "POST": ["%(app_label)s.change_%(model_name)s"]}


class BookrecView:
    """A mixin for bookrec's APIViews and ViewSets (first among the bases)."""

    schema = BookrecAutoSchema()
    # JSON only: a form cannot say a list of subjects or a filters object without ambiguity
    # ("{}" became a subject), and the browsable API posts JSON too.
    parser_classes = [JSONParser]
    embedding_call_scope = None  # a scope of bookrec.api.throttling: the call costs an embedding

    def required_permission_classes(self):
        """Permission classes this request needs whatever the site's policy."""
        return []

    def get_permissions(self):
        classes = [*policy_classes("API_PERMISSION_CLASSES", "DEFAULT_PERMISSION_CLASSES"), *self.required_permission_classes()]
        return [permission() for permission in classes]

    def get_authenticators(self):
        return [authenticator() for authenticator in policy_classes("API_AUTHENTICATION_CLASSES", "DEFAULT_AUTHENTICATION_CLASSES")]

    def get_throttles(self):
        classes = policy_classes("API_THROTTLE_CLASSES", "DEFAULT_THROTTLE_CLASSES")
        if self.embedding_call_scope:
            classes = [*classes, EmbeddingCallThrottle]
        return [throttle() for throttle in classes]

    def get_exception_handler(self):
        return database_aware(super().get_exception_handler())
