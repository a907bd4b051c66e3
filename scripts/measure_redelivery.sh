#!/usr/bin/env bash
# How long a killed worker's batch waits before another worker gets it, with the example
# site's broker settings (visibility timeout 300 s, a look for such messages every 10 s):
# tests/test_faults.py's kill test with that timeout instead of its 3 s. Prints the time.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDELIVERY_VISIBILITY_TIMEOUT=${REDELIVERY_VISIBILITY_TIMEOUT:-300}
exec ./dev test tests/test_faults.py -k killed_mid_batch -p no:randomly -s -q --timeout 900 "$@"
