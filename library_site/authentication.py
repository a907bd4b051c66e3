"""HTTP Basic for scripts, refusing credentials no account can have before they reach the
database."""

import drf_spectacular.authentication
from django.contrib.auth import get_user_model
from rest_framework import authentication, exceptions

# Django's password hashers refuse longer passwords too (a hash of megabytes is a DoS).
MAX_PASSWORD_CHARS = 4096


class BasicAuthentication(authentication.BasicAuthentication):
    """DRF's Basic authentication, answering 401 at once for a username or password with a NUL
    byte or longer than any account has: DRF's own passes a NUL to PostgreSQL, which cannot
    store or compare it, and the error page (a 500) echoes the password."""

    def authenticate_credentials(self, userid, password, request=None):
        user_model = get_user_model()
        max_username = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length or MAX_PASSWORD_CHARS
        if "\x00" in userid + password or len(userid) > max_username or len(password) > MAX_PASSWORD_CHARS:
            raise exceptions.AuthenticationFailed("Invalid username/password.")
        return super().authenticate_credentials(userid, password, request)


class BasicScheme(drf_spectacular.authentication.BasicScheme):
    """The schema's ``basicAuth``, for this class too (drf-spectacular matches by class)."""

    target_class = BasicAuthentication
