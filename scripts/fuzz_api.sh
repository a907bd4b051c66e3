#!/usr/bin/env bash
# Schemathesis against the OpenAPI schema with many more examples than the test suite
# runs: FUZZ_EXAMPLES per operation (default 500; 10 operations: about 5,000 requests).
# Every generated request must get an answer below 500. Prints Hypothesis' statistics
# (examples run per operation) after the test.
set -euo pipefail
cd "$(dirname "$0")/.."
export FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-500}
exec ./dev test tests/test_api_fuzzing.py -q -p no:randomly --hypothesis-show-statistics "$@"
