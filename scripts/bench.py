"""Benchmark of the customer API's hot paths, in process (no network), on the configured
database. Prints latency percentiles, queries per request and peak memory.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/otc_bench .venv/bin/python scripts/bench.py

It migrates that database and adds demo data to it; point it at a scratch database.
"""

import io
import json
import os
import resource
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("OTC_API_RATE_LIMIT", "1000000/min")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "200"))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def measure(label: str, fn, rounds: int) -> None:
    timings, queries = [], []
    for _ in range(rounds):
        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            fn()
            timings.append((time.perf_counter() - started) * 1000)
        queries.append(len(ctx.captured_queries))
    print(
        f"{label:<34} n={rounds:<5} p50={statistics.median(timings):7.2f} ms  "
        f"p95={percentile(timings, 95):7.2f} ms  max={max(timings):7.2f} ms  "
        f"queries={min(queries)}..{max(queries)}"
    )


def main() -> None:
    call_command("migrate", verbosity=0)
    out = io.StringIO()
    call_command("seed_demo", "--json", stdout=out)
    demo = json.loads(out.getvalue())["customers"]["acme"]
    client = Client(HTTP_X_API_KEY=demo["apiKeys"]["write"])
    buy = {
        "side": "buy",
        "sourceFrAccountId": demo["accounts"]["eurMaster"],
        "destinationUtilaWalletId": demo["wallets"]["primary"],
        "sourceAmountEur": "10.00",
    }
    quotes: list[str] = []

    def quote() -> None:
        response = client.post("/api/v1/otc-exchanges/quote", buy, content_type="application/json")
        assert response.status_code == 200, response.content
        quotes.append(response.json()["data"]["quoteId"])

    def confirm() -> None:
        response = client.post(
            "/api/v1/otc-exchanges",
            {"quoteId": quotes.pop()},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content

    def list_page() -> None:
        assert client.get("/api/v1/otc-exchanges?limit=100").status_code == 200

    def detail() -> None:
        order_id = client.get("/api/v1/otc-exchanges?limit=1").json()["data"][0]["id"]
        assert client.get(f"/api/v1/otc-exchanges/{order_id}").status_code == 200

    def accounts() -> None:
        assert client.get("/api/v1/otc-exchanges/accounts").status_code == 200

    print(f"database: {connection.vendor}  rounds: {ROUNDS}")
    measure("POST /otc-exchanges/quote", quote, ROUNDS)
    measure("POST /otc-exchanges (confirm buy)", confirm, ROUNDS)
    measure("GET /otc-exchanges?limit=100", list_page, ROUNDS)
    measure("GET /otc-exchanges/{id} (+list)", detail, ROUNDS)
    measure("GET /otc-exchanges/accounts", accounts, ROUNDS)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {peak_mb:.1f} MiB")


if __name__ == "__main__":
    main()
