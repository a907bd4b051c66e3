"""DRF's exception handler, plus a 503 when the database cannot be reached.

Set ``REST_FRAMEWORK["EXCEPTION_HANDLER"] = "bookrec.api.exceptions.exception_handler"``:
while PostgreSQL restarts or fails over, clients get a 503 that says so and when to try
again, instead of a 500 with a traceback.
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


def exception_handler(exc, context):
    if isinstance(exc, (OperationalError, InterfaceError)):
        response = drf_exception_handler(DatabaseUnavailable(), context)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return drf_exception_handler(exc, context)
