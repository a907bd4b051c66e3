"""A 503, not a 500, when the database cannot be reached.

While PostgreSQL restarts or fails over, clients get a 503 that says so and when to try again,
instead of a 500 with a traceback. bookrec's views do it themselves (``database_aware`` around
the site's own ``EXCEPTION_HANDLER``, in ``bookrec.api.base``): the site sets nothing.
``exception_handler`` is the same for a site that wants it on its own views too
(``REST_FRAMEWORK["EXCEPTION_HANDLER"] = "bookrec.api.exceptions.exception_handler"``).
"""

from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.views import exception_handler as drf_exception_handler

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The catalogue's database cannot be reached just now; try again shortly."
    default_code = "database_unavailable"


def database_aware(handler):
    """``handler`` (a DRF exception handler), answering a lost database with a 503 and
    ``Retry-After``; everything else is left to it."""

    def handle(exc, context):
        if not isinstance(exc, (OperationalError, InterfaceError)):
            return handler(exc, context)
        response = handler(DatabaseUnavailable(), context)
        if response is not None:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    return handle


exception_handler = database_aware(drf_exception_handler)
