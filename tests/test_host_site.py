"""bookrec installed into somebody else's site, as the README says, for each Django of the matrix.

A throwaway project (``django-admin startproject mysite``, its own app ``catalog`` and model
``catalog.Book``) in a temporary directory with its own virtualenv. The README's section
"Install into your own Django site" is read and followed word for word: its shell lines run
in the project (``path/to/bookrec`` is this checkout, ``Django==5.2.*`` the version under test), its Python blocks go into the files
their first line names. Then migrate, a real Celery worker on Redis with the local model, and
``probe.py`` asks for the host's own books through the Python API, a page with the template
tag and the API, under the host's own DRF default (``IsAuthenticated``).

``BOOKREC_HOST_DJANGO`` chooses the Django versions (default ``5.2``; ``./dev test-matrix``
runs them all).
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.processes import ROOT, Process, wait_until

README = ROOT / "README.md"
PROBE = Path(__file__).parent / "host_site" / "probe.py"
# Django 6 needs Python 3.12; the others run on the Python running the tests.
PYTHON_FOR = {"6.0": "python3.12"}
# The README's install line names the host's Django (pip would upgrade it otherwise): the
# matrix's version stands in for it.
README_DJANGO = "Django==5.2.*"

HOST_MODEL = '''
class Book(models.Model):
    title = models.CharField(max_length=200)
    author = models.CharField(max_length=200)
    isbn = models.CharField(max_length=20, blank=True)
    description = models.TextField(blank=True)

    def __str__(self):
        return self.title
'''
HOST_PAGE_TEMPLATE = """{% load bookrec %}<h1>{{ book.title }}</h1>
{% similar book limit=3 as similar_books %}
<ul id="similar">{% for item in similar_books %}<li>{{ item.object.title }}</li>{% endfor %}</ul>
"""
HOST_PAGE_URL = """
from django.views.generic import DetailView

from catalog.models import Book

urlpatterns += [path("books/<int:pk>/", DetailView.as_view(model=Book, template_name="catalog/book_detail.html"))]
"""


def django_versions():
    return os.environ.get("BOOKREC_HOST_DJANGO", "5.2").split()


def install_section():
    """The README's "Install into your own Django site", up to the next ``## `` heading."""
    text = README.read_text()
    start = text.index("## Install into your own Django site")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def code_blocks(section):
    """``[(language, code)]`` in the order the README gives them."""
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)


def python_for(version):
    name = PYTHON_FOR.get(version)
    if name is None:
        return sys.executable
    candidates = [shutil.which(name), *sorted(map(str, Path("/root/.pyenv/versions").glob(f"{name[6:]}*/bin/python")))]
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "--version"], capture_output=True).returncode == 0:  # not a pyenv shim
            return candidate
    pytest.skip(f"Django {version} needs {name}, which this machine does not have.")


class HostSite:
    def __init__(self, path, python, database, broker_db, queue):
        self.path, self.venv = path / "mysite", path / "venv"
        self.log_dir = path
        subprocess.run([python, "-m", "venv", str(self.venv)], check=True)
        # The host's shell: its virtualenv first, nothing of the test run's own settings.
        self.env = {
            name: value for name, value in os.environ.items()
            if name not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL", "CELERY_BROKER_URL", "PYTHONPATH"}
        }
        self.env.update(
            PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ['PATH']}", VIRTUAL_ENV=str(self.venv),
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        self.database, self.broker_db, self.queue = database, broker_db, queue

    def run(self, command, cwd=None, **kwargs):
        args = shlex.split(command) if isinstance(command, str) else command
        result = subprocess.run(args, cwd=cwd or self.path, env=self.env, capture_output=True, text=True, **kwargs)
        assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def create(self, django_version):
        """What the host had before bookrec: its project, its app, its model."""
        self.django_version = django_version
        self.run(f"pip install --quiet Django=={django_version}.* psycopg[binary]", cwd=self.log_dir)
        self.run("django-admin startproject mysite", cwd=self.log_dir)
        self.run("python manage.py startapp catalog")
        (self.path / "catalog" / "models.py").write_text("from django.db import models\n" + HOST_MODEL)
        settings = self.path / "mysite" / "settings.py"
        settings.write_text(
            settings.read_text()
            + '\nINSTALLED_APPS += ["catalog"]\n'
            + f"DATABASES = {{'default': {self.database!r}}}\n"
            + 'REST_FRAMEWORK = {"DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"]}\n'
        )
        templates = self.path / "catalog" / "templates" / "catalog"
        templates.mkdir(parents=True)
        (templates / "book_detail.html").write_text(HOST_PAGE_TEMPLATE)
        self.run("python manage.py makemigrations catalog")

    def follow(self, section):
        """The README's steps; returns the long-running commands (the worker) to start."""
        background = []
        for language, code in code_blocks(section):
            if language == "python":
                first, _, body = code.partition("\n")
                target = self.path / first.removeprefix("#").strip()
                assert first.startswith("# ") and target.parent.is_dir(), f"A Python block names no file: {first}"
                existing = target.read_text() if target.exists() else ""
                target.write_text(existing + "\n" + body)
            elif language == "sh":
                for line in code.splitlines():
                    command = (
                        line.split("  #")[0].strip().replace("path/to/bookrec", str(ROOT))
                        .replace(README_DJANGO, f"Django=={self.django_version}.*")
                    )
                    if not command:
                        continue
                    if command.startswith("celery "):
                        background.append(command)
                    else:
                        self.run(command)
            else:
                pytest.fail(f"The install section has a ```{language} block the test cannot follow.")
        return background

    def use_test_services(self):
        """After the README: this run's own Redis database and queue (parallel runs share Redis)."""
        settings = self.path / "mysite" / "settings.py"
        settings.write_text(
            settings.read_text()
            + f'\nCELERY_BROKER_URL = "redis://127.0.0.1:6379/{self.broker_db}"\n'
            + f'CELERY_TASK_DEFAULT_QUEUE = "{self.queue}"\n'
        )
        urls = self.path / "mysite" / "urls.py"
        urls.write_text(urls.read_text() + HOST_PAGE_URL)

    def start(self, command):
        unset = dict.fromkeys(set(os.environ) - set(self.env))
        return Process(shlex.split(command), self.log_dir / "worker.log", env={**self.env, **unset}, cwd=self.path)

    def probe(self, phase):
        shutil.copy(PROBE, self.path / "probe.py")
        return self.run(["python", "probe.py", phase], timeout=400)


@pytest.fixture
def host_database():
    """A database of its own on the test run's PostgreSQL."""
    name = f"hostsite_{uuid.uuid4().hex[:8]}"
    settings = connection.settings_dict
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield {
        "ENGINE": "django.db.backends.postgresql", "NAME": name, "USER": settings["USER"],
        "PASSWORD": settings["PASSWORD"], "HOST": settings["HOST"], "PORT": str(settings["PORT"]),
    }
    with psycopg.connect(**params, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.timeout(1200)
@pytest.mark.parametrize("django_version", django_versions())
def test_a_site_with_its_own_books_installs_bookrec_as_the_readme_says(django_version, tmp_path, host_database):
    site = HostSite(tmp_path, python_for(django_version), host_database, broker_db=13, queue=f"hostsite-{uuid.uuid4().hex[:8]}")
    site.create(django_version)
    background = site.follow(install_section())
    assert background == ["celery -A mysite worker -B"]
    site.use_test_services()

    # Installing bookrec left the host's Django alone.
    assert site.run("python -m django --version").startswith(django_version + ".")
    site.probe("seed-before")  # books the site had before the worker first started
    worker = site.start(background[0] + " --loglevel=info")
    try:
        wait_until(lambda: "ready." in worker.output() or not worker.alive(), 120, "the host's Celery worker")
        assert worker.alive(), worker.output()
        site.probe("seed-after")  # saved while the worker runs: embedded through the signals
        report = json.loads(site.probe("check"))
    finally:
        worker.stop()

    ids = report["ids"]
    assert report["django"].startswith(django_version + ".")
    # The Python API answers with the host's own objects.
    assert report["similar_types"] == ["catalog.models.Book"]
    assert report["similar"][0] == "Neural Networks from Scratch"
    assert "A Title Alone" not in report["similar"]  # no description: no vector
    assert all(0 < similarity <= 1 for similarity in report["similarities"])
    assert report["search"][0] in {"The Art of French Cooking", "Modern Cookery"}
    # The host's page with the template tag.
    assert report["page_status"] == 200
    similar_on_page = re.findall(r"<li>(.*?)</li>", report["page"])
    assert similar_on_page[0] == "Neural Networks from Scratch"
    # The API follows the host's default permission (IsAuthenticated) and answers in its ids.
    assert report["api_anonymous_status"] in {401, 403}
    assert report["api_status"] == 200, report["api"]
    results = report["api"]["results"]
    assert results[0]["object"]["id"] == ids["Neural Networks from Scratch"]
    assert set(results[0]["object"]) == {"id", "title", "author", "description"}  # its TEXT fields
