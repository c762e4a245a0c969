#!/usr/bin/env bash
# Set up and run the whole desk: migrate, demo data, web (gunicorn), Celery workers (one for
# settlement, one for webhooks) and beat.
# With no environment it uses a local SQLite file and an embedded broker (./var); set
# DATABASE_URL / REDIS_URL to use PostgreSQL and Redis. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
PORT=${PORT:-8000}
export PATH="$PWD/.venv/bin:$PATH"

python manage.py migrate --noinput
python manage.py collectstatic --noinput >/dev/null
python manage.py seed_demo --json > var/demo.json
python - <<'PY'
import json
d = json.load(open("var/demo.json"))
print("\nDemo data (full JSON in var/demo.json):")
for slug, c in d["customers"].items():
    print(f"  {slug}: write key {c['apiKeys']['write']}  portal {c['user']['username']} / {c['user']['password']}")
print(f"  operator: {d['operator']['username']} / {d['operator']['password']}\n")
PY

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

# One pool for the money (settlement) and housekeeping (default), one for webhook deliveries,
# so a slow receiver never waits in front of a settlement.
celery -A config worker --queues=settlement,default --loglevel=INFO --concurrency=2 \
  --hostname="settlement@%h" &
pids+=($!)
celery -A config worker --queues=webhooks --loglevel=INFO --concurrency=2 \
  --hostname="webhooks@%h" &
pids+=($!)
celery -A config beat --loglevel=INFO &
pids+=($!)
gunicorn config.wsgi --bind "127.0.0.1:${PORT}" --workers 2 --threads 4 --access-logfile - &
pids+=($!)
echo "Desk running: portal http://127.0.0.1:${PORT}/  ops http://127.0.0.1:${PORT}/ops/  API docs http://127.0.0.1:${PORT}/api/v1/docs/"
wait -n
