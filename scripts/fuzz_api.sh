#!/usr/bin/env bash
# Schemathesis against the OpenAPI schema with many more examples than the test suite
# runs: FUZZ_EXAMPLES per operation and profile (default 500; 13 operations, a librarian and an
# anonymous client: about 13,000 requests), with every check schemathesis has (--checks all):
# every answer below 500 and documented (status, headers and body), a schema-invalid request
# refused and a schema-valid one accepted. Prints Hypothesis' statistics after the test.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-500}
exec ./dev test tests/test_api_fuzzing.py -q -p no:randomly --hypothesis-show-statistics "$@"
