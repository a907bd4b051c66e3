"""docker-compose.yml, as Docker Compose itself reads it (``docker-compose config`` needs no
engine). Skipped only where the binary is missing outside CI; in CI (CI set) it must run."""

import os
import re
import shutil
import subprocess

import pytest
import yaml

from tests.processes import ROOT

COMPOSE = shutil.which("docker-compose")
LONG_RUNNING = {"postgres", "redis", "sglang", "web", "worker"}
ONE_SHOT = {"migrate"}  # others wait for it to finish (service_completed_successfully)

if COMPOSE is None and not os.environ.get("CI"):
    pytest.skip(
        "docker-compose is not installed (apt-get install --no-install-recommends docker-compose)",
        allow_module_level=True,
    )


@pytest.fixture(scope="module")
def services():
    assert COMPOSE, "CI must have docker-compose: .ci/run installs it"
    result = subprocess.run(
        [COMPOSE, "-f", "docker-compose.yml", "config"], cwd=ROOT, capture_output=True, text=True,
        env={k: v for k, v in os.environ.items() if k not in {"POSTGRES_PASSWORD", "DJANGO_SECRET_KEY", "HF_TOKEN"}},
    )
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)["services"]


def settings_source():
    return (ROOT / "library_site" / "settings.py").read_text()


def test_the_services_are_all_there(services):
    assert set(services) == LONG_RUNNING | ONE_SHOT


@pytest.mark.parametrize("name", sorted(LONG_RUNNING))
def test_every_long_running_service_has_a_healthcheck(services, name):
    test = services[name]["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and len(test) > 1


def test_postgres_has_pgvector(services):
    assert services["postgres"]["image"] == "pgvector/pgvector:pg17"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


def test_sglang_serves_qwen3_embedding_on_port_30000(services):
    sglang = services["sglang"]
    assert sglang["image"].startswith("lmsysorg/sglang:")
    command = sglang["command"] if isinstance(sglang["command"], str) else " ".join(sglang["command"])
    assert "sglang.launch_server" in command and "--is-embedding" in command
    assert "--model-path Qwen/Qwen3-Embedding-0.6B" in command and "--port 30000" in command
    assert "http://localhost:30000/health" in " ".join(sglang["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["migrate", "web", "worker"])
def test_the_site_points_at_the_other_services(services, name):
    environment = services[name]["environment"]
    assert environment["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["CELERY_BROKER_URL"] == "redis://redis:6379/0"
    assert environment["EMBEDDING_BASE_URL"] == "http://sglang:30000/v1"
    assert environment["EMBEDDING_MODEL"] == "Qwen/Qwen3-Embedding-0.6B"
    assert str(environment["EMBEDDING_DIMENSIONS"]) == "1024"
    source = settings_source()
    unread = [variable for variable in environment if f'"{variable}"' not in source]
    assert unread == [], "variables library_site/settings.py does not read"


def test_the_site_starts_after_its_dependencies_are_ready(services):
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("web", "worker"):
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}
        assert depends_on["redis"] == {"condition": "service_healthy"}
    assert services["worker"]["depends_on"]["sglang"] == {"condition": "service_healthy"}
    assert "manage.py migrate --noinput && python manage.py createcachetable" in services["migrate"]["command"]
    assert re.match(r"gunicorn library_site\.wsgi\b", services["web"]["command"])
    assert services["worker"]["command"].startswith("celery -A library_site worker")


def test_the_site_image_is_built_from_the_checkout(services):
    assert (ROOT / "Dockerfile").exists()
    for name in ("migrate", "web", "worker"):
        assert services[name]["build"]["context"] == str(ROOT)
