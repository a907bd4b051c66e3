# The example site's image, used by docker-compose.yml for the web server, the worker and
# the migration step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
RUN useradd --create-home bookrec && mkdir -p var && chown bookrec var
USER bookrec

EXPOSE 8000
CMD ["gunicorn", "library_site.wsgi", "--bind", "0.0.0.0:8000", "--workers", "2", "--access-logfile", "-"]
