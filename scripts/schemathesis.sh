#!/usr/bin/env bash
# Property-based API testing: schemathesis over every operation of the OpenAPI schema, with
# every check, against a real server (gunicorn, DEBUG off) on its own throwaway database and
# Redis. What is excluded, and why, is in schemathesis.toml.
#
#   bash scripts/schemathesis.sh                                   # what CI runs
#   SCHEMATHESIS_MAX_EXAMPLES=200 bash scripts/schemathesis.sh     # a longer run
#   bash scripts/schemathesis.sh --include-operation-id otc_quote_create   # extra CLI args
#
# Everything runs in a network namespace of its own with nothing but loopback (so as root,
# as CI is): the fuzzer registers webhook endpoints at whatever URLs it makes up, public IP
# literals included, and the server under test must not send a single delivery off this
# machine. PostgreSQL is reached through its Unix socket; the run starts its own Redis on the
# namespace's loopback. The database (default otc_schemathesis) is made anew on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SCHEMATHESIS_IN_NETNS:-}" ]; then
  source scripts/bootstrap.sh
  exec env SCHEMATHESIS_IN_NETNS=1 unshare --net bash "$0" "$@"
fi
ip link set lo up

SOCKET_DIR=${SCHEMATHESIS_PG_SOCKET_DIR:-/var/run/postgresql}
DB_NAME=${SCHEMATHESIS_DB_NAME:-otc_schemathesis}
OUT=$PWD/test-artifacts/schemathesis  # schemathesis.toml reads its id dictionaries from here
rm -rf "$OUT" && mkdir -p "$OUT"
PY=.venv/bin/python

redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --dir "$OUT" \
  --logfile "$OUT/redis.log" &
REDIS_PID=$!
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
  kill "$REDIS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

export DJANGO_SETTINGS_MODULE=config.settings
export PGHOST=$SOCKET_DIR
export DATABASE_URL="postgres://postgres@/$DB_NAME"
export REDIS_URL=redis://127.0.0.1:6379/12
# Tasks queue in the run's own Redis and no worker takes them: run eagerly inside the
# request, a webhook delivery waiting behind an earlier event re-enqueues itself and so
# recurses until RecursionError (a real worker only re-queues). The API's own answers do not
# depend on the tasks (a buy stays debit_pending).
export CELERY_TASK_ALWAYS_EAGER=false
export OTC_VAR_DIR="$OUT/var"
# Production's settings, served over plain http on loopback.
export DEBUG=false
export SECRET_KEY=schemathesis-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz
export ALLOWED_HOSTS=127.0.0.1,localhost
export SECURE_SSL_REDIRECT=false SECURE_COOKIES=false SECURE_HSTS_SECONDS=0
# Thousands of requests a minute from one key and one address: the rate limits would answer
# most of them 429 and hide what the others would find (the limits have their own tests; the
# sign-in lockout stays on and answers its documented 429).
export OTC_API_RATE_LIMIT=100000000/min OTC_TOKEN_RATE_LIMIT=100000000/min
# Quotes that outlive the run, so that a confirm reached through a link is not refused only
# because the fuzzer took more than a minute to get there.
export OTC_QUOTE_TTL_SECONDS=3600
export OTC_PRICE_FEED=static:1.08
# Webhook URLs are not looked up at registration (there is no DNS in here), so that the
# fuzzer's endpoints exist and every endpoint operation is reached; their deliveries fail at
# once on the namespace's closed network. (The address rules have their own tests.)
export OTC_WEBHOOKS_ALLOW_PRIVATE=true
export LOG_LEVEL=${LOG_LEVEL:-WARNING}
export PYTHONUNBUFFERED=1

for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
"$PY" - "$DB_NAME" <<'EOF'
import sys

import psycopg
from psycopg import sql

name = sys.argv[1]
with psycopg.connect(dbname="postgres", user="postgres", autocommit=True) as conn:
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
EOF
"$PY" manage.py migrate --verbosity 0
# DEBUG off serves static files (and the HTML error pages' stylesheet) from the manifest.
"$PY" manage.py collectstatic --noinput --verbosity 0
"$PY" manage.py seed_demo --json > "$OUT/demo.json"
demo() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['customers']['acme'][sys.argv[2]][sys.argv[3]])" "$OUT/demo.json" "$@"; }
export SCHEMATHESIS_API_KEY=$(demo apiKeys all)
echo "\"$(demo accounts eurMaster)\"" > "$OUT/account.dict"
echo "\"$(demo wallets primary)\"" > "$OUT/wallet.dict"

PORT=$("$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
# No request-line or header-size limit of gunicorn's own: its 414/431 pages come from the HTTP
# server, not the API (a deployment's proxy has limits of its own), and would only hide what
# the application does with a long query string.
.venv/bin/gunicorn config.wsgi:application --bind "127.0.0.1:$PORT" --workers 2 --threads 4 \
  --worker-class gthread --timeout 120 --log-level warning \
  --limit-request-line 0 --limit-request-field_size 0 > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server.log"; exit 1; }
  sleep 0.5
done

set +e
.venv/bin/schemathesis --config-file schemathesis.toml run \
  "http://127.0.0.1:$PORT/api/v1/schema/?format=json" \
  --checks all \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-25}" \
  --seed "${SCHEMATHESIS_SEED:-20261202}" \
  --workers 1 \
  --no-color \
  --report junit --report-dir "$OUT" \
  "$@"
status=$?
set -e
if grep -q "Traceback" "$OUT/server.log"; then
  echo "The server logged a traceback during the run (see $OUT/server.log):"
  grep -m1 -A40 "Traceback" "$OUT/server.log"
  status=1
fi
exit $status
