"""HTTP Basic for scripts, refusing credentials no account can have before they reach the
database, and throttling password guessing."""

import drf_spectacular.authentication
from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework import authentication, exceptions
from rest_framework.throttling import BaseThrottle

# Django's password hashers refuse longer passwords too (a hash of megabytes is a DoS).
MAX_PASSWORD_CHARS = 4096
# Failed logins allowed per account and per client address in a window of this many seconds;
# past them every attempt, the right password included, is a 429 until the window ends.
FAILURES_ALLOWED = 10
FAILURE_WINDOW = 15 * 60


class BasicAuthentication(authentication.BasicAuthentication):
    """DRF's Basic authentication, answering 401 at once for a username or password with a NUL
    byte or longer than any account has (DRF's own passes a NUL to PostgreSQL, which cannot
    store or compare it, and the error page, a 500, echoes the password), and 429 after
    ``FAILURES_ALLOWED`` failures for the account or from the address (counts in the default
    cache, which the example site shares between its processes)."""

    def authenticate_credentials(self, userid, password, request=None):
        user_model = get_user_model()
        max_username = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length or MAX_PASSWORD_CHARS
        if "\x00" in userid + password or len(userid) > max_username or len(password) > MAX_PASSWORD_CHARS:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        counters = failure_counters(userid, request)
        if any((cache.get(counter) or 0) >= FAILURES_ALLOWED for counter in counters):
            raise exceptions.Throttled(FAILURE_WINDOW, "Too many failed logins for this account or address; try again later.")
        try:
            return super().authenticate_credentials(userid, password, request)
        except exceptions.AuthenticationFailed:
            for counter in counters:
                cache.add(counter, 0, FAILURE_WINDOW)  # the window starts at the first failure
                cache.incr(counter)
            raise


def failure_counters(userid, request):
    """The cache keys of the failures for this account and for the client's address (read as
    DRF's throttles read it: ``NUM_PROXIES``)."""
    keys = [f"login-failures:user:{userid}"]
    if request is not None:
        keys.append(f"login-failures:address:{BaseThrottle().get_ident(request)}")
    return keys


class BasicScheme(drf_spectacular.authentication.BasicScheme):
    """The schema's ``basicAuth``, for this class too (drf-spectacular matches by class)."""

    target_class = BasicAuthentication
