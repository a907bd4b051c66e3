"""Settings of the example library site, read from the environment.

DATABASE_URL        PostgreSQL with pgvector >= 0.8; unset: the embedded PostgreSQL
CELERY_BROKER_URL   Redis or RabbitMQ URL; unset: local Redis if it answers, else kombu's
                    filesystem transport in var/broker (library_site.defaults)
EMBEDDING_BASE_URL  OpenAI-compatible server, e.g. http://sglang:30000/v1; unset: local model
EMBEDDING_API_KEY, EMBEDDING_MODEL, EMBEDDING_DIMENSIONS   for that server
BOOKREC_TASK_MAX_RETRIES, BOOKREC_TASK_RETRY_BACKOFF_MAX, BOOKREC_TASK_SOFT_TIME_LIMIT,
BOOKREC_TASK_TIME_LIMIT, BOOKREC_EMBEDDING_MAX_RETRIES, BOOKREC_EMBEDDING_TIMEOUT
                    the retry policy and time limits, in whole seconds (unset: bookrec's defaults)
CELERY_VISIBILITY_TIMEOUT, CELERY_BROKER_KEY_PREFIX   Redis broker: redelivery delay, key namespace
DATABASE_CONN_MAX_AGE   seconds a database connection is kept for reuse (default 600)
DJANGO_DEBUG        true for Django's debug pages (`./dev up --debug`); off by default
DJANGO_NUM_PROXIES  how many proxies of the site's own stand in front of it (default 0):
                    throttles then read the client's address from X-Forwarded-For
"""

import os
from pathlib import Path

import dj_database_url

from library_site import defaults, embedded_postgres

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name, default=False):
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name):
    value = os.environ.get(name, "").strip()
    return int(value) if value else None


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "insecure-dev-key-change-me")
# Off unless asked for (`./dev up --debug`): DEBUG pages list every URL and dump the settings.
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "bookrec",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "bookrec.middleware.DatabaseUnavailableMiddleware",  # admin pages: a 503, not a 500, while the database is away
]

ROOT_URLCONF = "library_site.urls"
WSGI_APPLICATION = "library_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "library_site" / "templates"],  # the example pages (library_site.views)
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if not os.environ.get("DATABASE_URL"):
    embedded_postgres.start()
# Persistent connections: a new PostgreSQL connection per request (a backend process
# forked, pgvector loaded) costs more than the whole similar-books query. Health checks
# replace a connection that died (a database restart) before a request uses it.
CONN_MAX_AGE = env_int("DATABASE_CONN_MAX_AGE")
DATABASES = {
    "default": dj_database_url.parse(
        os.environ["DATABASE_URL"], conn_max_age=600 if CONN_MAX_AGE is None else CONN_MAX_AGE,
        conn_health_checks=True,
    )
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise serves from here after collectstatic
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"bookrec": {"handlers": ["console"], "level": os.environ.get("BOOKREC_LOG_LEVEL", "INFO")}},
}

if not os.environ.get("CELERY_BROKER_URL"):
    os.environ.update(defaults.embedded_broker_environment())

# -- bookrec -------------------------------------------------------------------------
BOOKREC = {
    "CELERY_QUEUE": os.environ.get("BOOKREC_CELERY_QUEUE") or None,
    "EMBEDDING_BASE_URL": os.environ.get("EMBEDDING_BASE_URL", ""),
    "EMBEDDING_API_KEY": os.environ.get("EMBEDDING_API_KEY", ""),
    "EMBEDDING_MODEL": os.environ.get("EMBEDDING_MODEL", "Qwen/Qwen3-Embedding-0.6B"),
    "EMBEDDING_DIMENSIONS": env_int("EMBEDDING_DIMENSIONS"),
}
for _name in (
    "TASK_MAX_RETRIES", "TASK_RETRY_BACKOFF_MAX", "TASK_SOFT_TIME_LIMIT", "TASK_TIME_LIMIT", "EMBEDDING_MAX_RETRIES",
    "EMBEDDING_TIMEOUT",
):
    if env_int(f"BOOKREC_{_name}") is not None:
        BOOKREC[_name] = env_int(f"BOOKREC_{_name}")

# -- Celery --------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]
CACHES = {"default": defaults.shared_cache(CELERY_BROKER_URL)}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = defaults.broker_dir()
    _broker_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        # Broadcast (remote control) messages; kombu's default is ./control in the cwd.
        "control_folder": str(_broker_dir / "control"),
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # How long an unacknowledged task waits before Redis hands it to another worker: longer
        # than a worker may hold one (BOOKREC's TASK_RETRY_BACKOFF_MAX + TASK_TIME_LIMIT, 270 s).
        "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", 300)),
        # Every worker looks for such tasks every 10 s (kombu: every 100 s), so that a killed
        # worker's batch is handed out again within visibility_timeout + 10 s.
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # Sites (or test runs) sharing one Redis database keep their keys apart.
        "global_keyprefix": os.environ.get("CELERY_BROKER_KEY_PREFIX", ""),
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}

# -- REST framework ------------------------------------------------------------------
# bookrec's views follow these defaults. The site's policy: anyone reads and asks for
# recommendations; writes need the book permissions, which bookrec requires of every write
# whatever the policy. bookrec needs no DEFAULT_SCHEMA_CLASS nor EXCEPTION_HANDLER.
REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # Basic first: bad credentials are then a 401 (DRF answers 403 when the first class
    # has no WWW-Authenticate challenge, as session authentication has none).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "library_site.authentication.BasicAuthentication",  # DRF's, safe against NUL bytes
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Clients are told apart by the connection's address, unless this many proxies of the
    # site's own stand in front (then by X-Forwarded-For, which a client could set itself).
    "NUM_PROXIES": env_int("DJANGO_NUM_PROXIES") or 0,
    "DEFAULT_THROTTLE_RATES": {"bookrec_search": os.environ.get("BOOKREC_SEARCH_RATE", "60/min")},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "bookrec API",
    "DESCRIPTION": "Books, and books like them: semantic recommendations on PostgreSQL + pgvector.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
