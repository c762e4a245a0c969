#!/usr/bin/env bash
# Run the test suite against PostgreSQL and Redis (the local services by default).
# Extra arguments go to pytest, e.g. scripts/test.sh -k idempotency
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/otc}
export REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/15}
export CELERY_TASK_ALWAYS_EAGER=true
export OTC_VAR_DIR=${OTC_VAR_DIR:-$PWD/var/test}
exec .venv/bin/python -m pytest "$@"
