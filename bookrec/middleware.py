"""A 503 page, not a 500, for a page that lost the database (the admin's, the site's own).

bookrec's API answers 503 by itself (``bookrec.api.exceptions``); HTML pages go through the
site's middleware, so a site that wants the same for them adds
``"bookrec.middleware.DatabaseUnavailableMiddleware"`` to ``MIDDLEWARE``.
"""

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

from bookrec.api.exceptions import RETRY_AFTER_SECONDS

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Back shortly</title></head>
<body><h1>Back shortly</h1>
<p>The catalogue's database cannot be reached just now. Nothing you saved is lost; try again in a few seconds.</p>
</body></html>
"""


class DatabaseUnavailableMiddleware:
    """Answers a view that could not reach the database with a 503 and ``Retry-After``."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        response = HttpResponse(PAGE, status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
