"""Errors bookrec's views answer themselves, as JSON, whatever the site's exception handler.

- A 503, not a 500, while the database cannot be reached: while PostgreSQL restarts or fails
  over, clients get a 503 that says so and when to try again (``Retry-After``).
- A 413, not Django's HTML 400 page, for a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (JSON
  bodies included: Django checks only the ones it parses), and a 400 for a form with too many
  fields or files.

bookrec's views do it themselves (``database_aware`` around the site's own ``EXCEPTION_HANDLER``,
in ``bookrec.api.base``): the site sets nothing. ``exception_handler`` is the same for a site
that wants it on its own views too
(``REST_FRAMEWORK["EXCEPTION_HANDLER"] = "bookrec.api.exceptions.exception_handler"``).
"""

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.db import InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.views import exception_handler as drf_exception_handler

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The catalogue's database cannot be reached just now; try again shortly."
    default_code = "database_unavailable"


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the site accepts (DATA_UPLOAD_MAX_MEMORY_SIZE)."
    default_code = "payload_too_large"


def database_aware(handler):
    """``handler`` (a DRF exception handler), answering a lost database with a 503 and
    ``Retry-After``, and a body Django refuses with a 413 or 400; everything else is left to it."""

    def handle(exc, context):
        if isinstance(exc, RequestDataTooBig):
            return handler(PayloadTooLarge(), context)
        if isinstance(exc, (TooManyFieldsSent, TooManyFilesSent)):
            return handler(ParseError(str(exc)), context)
        if not isinstance(exc, (OperationalError, InterfaceError)):
            return handler(exc, context)
        response = handler(DatabaseUnavailable(), context)
        if response is not None:
            response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    return handle


exception_handler = database_aware(drf_exception_handler)
