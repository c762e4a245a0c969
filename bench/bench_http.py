"""The desk's quote + confirm flow over HTTP against a floor app on the same stack (issue 12).

    .venv/bin/python bench/bench_http.py            # full run (about 6 minutes)
    .venv/bin/python bench/bench_http.py --quick    # under 2 minutes

It drops and creates the databases ``otc_bench`` and ``otc_bench_floor`` on the PostgreSQL
server, flushes its Redis database (5), migrates, makes demo data, and starts two gunicorns
(the desk and the floor: 2 workers x 4 threads, gthread, DEBUG off) and a Celery worker; then
drives them alternately with one closed-loop client, measures the rest in process, prints a
report, and stops what it started. See README, "Benchmark".
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT = ROOT / "var" / "bench"
SCENARIOS = {
    "a": "one customer, N concurrent flows",
    "b": "many customers at once (each flow its own customer)",
    "c": "order list of one customer with many orders",
    "d": "stale-quote sweep against a raw SQL UPDATE",
}
# Issue 12, item 3.
TARGET_RATIO = 0.25
TARGET_QUOTE_STATEMENTS = 6
TARGET_CONFIRM_STATEMENTS = 12
TARGET_SWEEP_FACTOR = 3.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a run of under two minutes")
    parser.add_argument("--seconds", type=float, help="length of one measured round (10; quick 4)")
    parser.add_argument("--rounds", type=int, help="alternating rounds (3; quick 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent flows (8)")
    parser.add_argument(
        "--scenarios", default="abcd", help="which of a, b, c, d to run, e.g. 'ab' (all)"
    )
    parser.add_argument("--customers", type=int, default=50, help="customers in scenario b (50)")
    parser.add_argument("--list-orders", type=int, default=10_000, help="orders in scenario c")
    parser.add_argument(
        "--sweep-quotes", type=int, help="stale quotes in scenario d (100000; quick 2000)"
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="also profile N in-process flows"
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="otc_bench")
    parser.add_argument("--floor-database", default="otc_bench_floor")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    args = parser.parse_args(argv)
    quick = args.quick
    args.seconds = args.seconds or (4.0 if quick else 10.0)
    args.rounds = args.rounds or (2 if quick else 3)
    args.sweep_quotes = args.sweep_quotes or (2_000 if quick else 100_000)
    args.warmup = 1.5 if quick else 3.0
    args.repeats = 10 if quick else 30
    args.statement_runs = 5 if quick else 10
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios: {''.join(sorted(unknown))}")
    return args


def desk_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-not-a-secret-0123456789abcdefghijklmnopqrstuvwxyz",
        "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
        # Plain http on loopback: production's https redirect would answer every request 301.
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "DATABASE_URL": f"{args.server}/{args.database}",
        "REDIS_URL": args.redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "OTC_API_RATE_LIMIT": "100000000/min",
        "OTC_PRICE_FEED": "simulated",
        "OTC_VAR_DIR": str(OUT / "var"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def floor_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.floor.settings",
        "FLOOR_DATABASE_URL": f"{args.server}/{args.floor_database}",
        "PYTHONUNBUFFERED": "1",
    }


# --- statistics and printing ----------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def say(line: str = "") -> None:
    print(line, flush=True)


def heading(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 92 - len(title)))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- the worker's queue -------------------------------------------------------------------


def drain_queue(redis_url: str, timeout: float = 120.0) -> float:
    """Wait until the Celery worker consumed every task (queue and unacked both empty)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if client.llen("celery") == 0 and client.hlen("unacked") == 0:
            break
        time.sleep(0.1)
    return time.monotonic() - started


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = desk_env(args)
    os.environ.update(env)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    import warnings

    import django

    # No collectstatic for a benchmark: WhiteNoise's note about the missing folder is noise.
    warnings.filterwarnings("ignore", "No directory at", UserWarning)
    django.setup()

    import httpx
    import redis
    from django.core.management import call_command

    from bench import data, inprocess, load
    from bench.locks import LockSampler, LockWaits
    from bench.stack import Stack, peak_rss_mib, recreate_database

    started_at = time.monotonic()
    results: dict = {"args": {k: v for k, v in vars(args).items()}}
    say(
        f"bench_http: scenarios {args.scenarios}, {args.rounds} rounds x {args.seconds:g} s, "
        f"{args.concurrency} concurrent, databases {args.database} / {args.floor_database}, "
        f"Redis {args.redis_url}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )

    # The databases and Redis are the benchmark's own: start from nothing.
    for name in (args.database, args.floor_database):
        recreate_database(args.server, name)
    redis.Redis.from_url(args.redis_url).flushdb()
    call_command("migrate", verbosity=0)
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--verbosity", "0"],
        cwd=ROOT,
        env=floor_env(args),
        check=True,
    )
    call_command("seed_demo", "--json", stdout=io.StringIO())  # the desk's treasury
    solo = data.make_customer("bench-solo")
    many = [data.make_customer(f"bench-{i:03d}") for i in range(args.customers)]
    elapsed = time.monotonic() - started_at
    say(f"setup: databases migrated, {1 + len(many)} customers ({elapsed:.1f} s)")

    stack = Stack(OUT / "logs")
    try:
        desk = stack.gunicorn("desk", "config.wsgi:application", env)
        floor = stack.gunicorn("floor", "bench.floor.wsgi:application", floor_env(args))
        celery = stack.celery_worker(env)
        stack.wait_http(desk, "/healthz")
        stack.wait_http(floor, "/hit")
        say(f"stack: desk {desk.url} {desk.workers}, floor {floor.url} {floor.workers}")

        flow_scenarios = [s for s in "ab" if s in args.scenarios]
        groups = {
            desk.process.pid: "desk",
            floor.process.pid: "floor",
            celery.process.pid: "celery",
        }
        role_ms: dict[str, dict[str, list[float]]] = {}
        units = {
            "floor": (floor.url, load.floor_unit),
            "a": (desk.url, load.CustomerPool([solo]).run),
            "b": (desk.url, load.CustomerPool(many).run),
        }

        if flow_scenarios:
            heading(
                f"Throughput: closed loop, {args.concurrency} concurrent, "
                f"{args.rounds} rounds x {args.seconds:g} s, alternating"
            )
            for name in ["floor", *flow_scenarios]:  # warm every worker thread
                url, unit = units[name]
                load.drive(url, unit, concurrency=args.concurrency, seconds=args.warmup)
            drain_queue(args.redis_url)
            rounds: list[dict] = []
            latencies: dict[str, list[float]] = {}
            waits = {s: LockWaits() for s in flow_scenarios}
            errors: dict[str, list[str]] = {}
            for number in range(1, args.rounds + 1):
                row: dict = {}
                for name in ["floor", *flow_scenarios]:
                    url, unit = units[name]
                    roles_before = load.cpu_by_role(groups)
                    if name == "floor":
                        tally = load.drive(
                            url, unit, concurrency=args.concurrency, seconds=args.seconds
                        )
                    else:
                        with LockSampler(env["DATABASE_URL"], args.database) as sampler:
                            tally = load.drive(
                                url,
                                unit,
                                concurrency=args.concurrency,
                                seconds=args.seconds,
                            )
                        waits[name].add(sampler.result)
                        row[f"{name}_drain_s"] = drain_queue(args.redis_url)
                    row[name] = tally.rate
                    # Until the worker has drained the round's tasks: their CPU is the flows'.
                    roles_after = load.cpu_by_role(groups)
                    if tally.units:
                        for role, after in roles_after.items():
                            cpu = after - roles_before.get(role, 0.0)
                            role_ms.setdefault(name, {}).setdefault(role, []).append(
                                cpu * 1000 / tally.units
                            )
                    row[f"{name}_client_cpu"] = tally.client_cpu
                    row[f"{name}_machine_cpu"] = tally.machine_cpu
                    row[f"{name}_errors"] = tally.errors
                    if tally.first_errors:
                        errors.setdefault(name, []).extend(tally.first_errors)
                    for label, values in tally.latencies.items():
                        key = label if name == "floor" else f"{name} {label}"
                        latencies.setdefault(key, []).extend(values)
                rounds.append(row)
                parts = [f"floor {row['floor']:7.1f} req/s"]
                for name in flow_scenarios:
                    parts.append(
                        f"{name}: {row[name]:6.1f} flows/s (ratio {row[name] / row['floor']:.3f}, "
                        f"errors {row[f'{name}_errors']}, worker drained in "
                        f"{row[f'{name}_drain_s']:.1f} s)"
                    )
                say(f"round {number}: " + "; ".join(parts))
            summary = {"floor": statistics.median(r["floor"] for r in rounds)}
            for name in flow_scenarios:
                summary[name] = statistics.median(r[name] for r in rounds)
                summary[f"{name}_ratio"] = statistics.median(r[name] / r["floor"] for r in rounds)
            say()
            say(f"{'':<36}{'median':>10}")
            say(f"{'floor (INSERT + COMMIT) req/s':<36}{summary['floor']:>10.1f}")
            for name in flow_scenarios:
                say(f"{f'({name}) quote+confirm flows/s':<36}{summary[name]:>10.1f}")
                say(f"{f'({name}) ratio flow/floor':<36}{summary[f'{name}_ratio']:>10.3f}")
            if "a" in summary and "b" in summary:
                summary["b_over_a"] = summary["b"] / summary["a"] if summary["a"] else 0.0
                say(f"{'(b)/(a) flows/s':<36}{summary['b_over_a']:>10.3f}")
            say(
                "client CPU (cores) / machine busy: "
                + "; ".join(
                    f"{name} {statistics.median(r[f'{name}_client_cpu'] for r in rounds):.2f} / "
                    f"{statistics.median(r[f'{name}_machine_cpu'] for r in rounds):.0%}"
                    for name in ["floor", *flow_scenarios]
                )
            )
            for name, messages in errors.items():
                say(f"errors in {name}: {messages[:3]}")
            say("machine CPU per unit (ms; a flow for a and b, a request for the floor), median:")
            cpu_split = {}
            for name, per_role in role_ms.items():
                medians = {r: statistics.median(v) for r, v in per_role.items()}
                cpu_split[name] = medians
                ordered = sorted(medians.items(), key=lambda kv: -kv[1])
                say(
                    f"  {name:<6} total {sum(medians.values()):6.2f}: "
                    + ", ".join(f"{r} {ms:.2f}" for r, ms in ordered if ms >= 0.01)
                )

            heading("Latency over HTTP, all rounds (ms)")
            say(f"{'request':<20}{'n':>8}{'p50':>9}{'p95':>9}{'p99':>9}")
            for label, values in latencies.items():
                say(
                    f"{label:<20}{len(values):>8}{pct(values, 50):>9.1f}{pct(values, 95):>9.1f}"
                    f"{pct(values, 99):>9.1f}"
                )

            heading("Lock waits during the flow rounds (pg_stat_activity sampled every 50 ms)")
            names = ledger_account_names(
                [i for w in waits.values() for i, _ in w.ids.most_common(10)]
            )
            for name in flow_scenarios:
                for number, line in enumerate(waits[name].describe(names)):
                    say(f"{f'({name})' if number == 0 else '':<5}{line}")
            results["throughput"] = {"rounds": rounds, "summary": summary}
            results["cpu_ms_per_unit"] = cpu_split
            results["latency_ms"] = {
                k: {"n": len(v), "p50": pct(v, 50), "p95": pct(v, 95)} for k, v in latencies.items()
            }
            results["lock_waits"] = {k: v.as_dict() for k, v in waits.items()}

        # --- statements per request, in process -------------------------------------------
        heading(
            "SQL statements per request (in process, CaptureQueriesContext, BEGIN/COMMIT "
            "counted; the floor's is 3)"
        )
        statements = inprocess.flow_statements(solo, args.statement_runs)
        settled, settle_cpu_ms = inprocess.settlement_measures(
            data.make_customer("bench-settle"), args.statement_runs
        )
        statements["settled debit (worker)"] = settled
        few = data.make_customer("bench-few")
        for _ in range(3):
            data.confirmed_order(few)
        statements |= {
            f"{k} (3 orders)": v
            for k, v in inprocess.read_statements(few, (10, 50, 100), args.statement_runs).items()
        }
        list_customer = None
        if "c" in args.scenarios:
            list_customer = data.make_customer("bench-list")
            template = data.confirmed_order(list_customer)
            clone_started = time.monotonic()
            data.clone_orders(template, args.list_orders - 1)
            say(
                f"(c) {args.list_orders} orders for {list_customer.slug} "
                f"(cloned in {time.monotonic() - clone_started:.1f} s)"
            )
            statements |= {
                f"{k} ({args.list_orders} orders)": v
                for k, v in inprocess.read_statements(
                    list_customer,
                    (10, 50, 100),
                    args.statement_runs,
                    late_page=-(-args.list_orders // 100),
                ).items()
            }
        for label, counted in statements.items():
            say(f"{label:<40}{counted.describe()}")
        cpu_ms = inprocess.flow_cpu_ms(solo, args.statement_runs * 3)
        say(f"{'quote + confirm CPU in process':<40}{cpu_ms:.1f} ms (median)")
        say(f"{'settled debit CPU in process':<40}{settle_cpu_ms:.1f} ms (median)")
        results["statements"] = {
            k: {
                "typical": v.typical,
                "min": min(v.counts),
                "max": max(v.counts),
                "kinds": dict(v.kinds),
            }
            for k, v in statements.items()
        }
        results["flow_cpu_ms"] = cpu_ms
        results["settle_cpu_ms"] = settle_cpu_ms
        (OUT / "statements.json").write_text(
            json.dumps({k: v.sample for k, v in statements.items()}, indent=1)
        )

        # --- (c) the order list over HTTP ---------------------------------------------------
        if list_customer is not None:
            heading(f"(c) Order list of one customer with {args.list_orders} orders, over HTTP")
            say(f"{'request':<30}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'statements':>12}")
            listing: dict = {}
            with httpx.Client(
                base_url=desk.url, headers={"x-api-key": list_customer.api_key}, timeout=60
            ) as client:
                last_page = -(-args.list_orders // 100)
                order_id = client.get("/api/v1/otc-exchanges?limit=1").json()["data"][0]["id"]
                requests = [
                    (f"list limit={n}", f"/api/v1/otc-exchanges?limit={n}") for n in (10, 50, 100)
                ]
                requests.append(
                    (
                        f"list limit=100 page={last_page}",
                        f"/api/v1/otc-exchanges?limit=100&page={last_page}",
                    )
                )
                requests.append(("detail", f"/api/v1/otc-exchanges/{order_id}"))
                for label, path in requests:
                    client.get(path)
                    timings = []
                    for _ in range(args.repeats):
                        t0 = time.perf_counter()
                        response = client.get(path)
                        timings.append((time.perf_counter() - t0) * 1000)
                        assert response.status_code == 200, response.text
                    counted = statements.get(f"{label} ({args.list_orders} orders)")
                    listing[label] = {"p50": pct(timings, 50), "p95": pct(timings, 95)}
                    say(
                        f"{label:<30}{len(timings):>6}{pct(timings, 50):>9.1f}"
                        f"{pct(timings, 95):>9.1f}{counted.typical if counted else '':>12}"
                    )
            results["list_ms"] = listing

        # --- (d) the stale-quote sweep ------------------------------------------------------
        if "d" in args.scenarios:
            heading(f"(d) Stale-quote sweep of {args.sweep_quotes} expired quotes")
            sweep = sweep_against_raw_update(data, args.sweep_quotes, args.rounds)
            say(
                f"{'round':<8}{'raw UPDATE s':>14}{'quotes_expire s':>17}{'batches':>9}{'ratio':>8}"
            )
            for number, timed in enumerate(sweep["rounds"], 1):
                say(
                    f"{number:<8}{timed['raw_s']:>14.2f}{timed['sweep_s']:>17.2f}"
                    f"{timed['batches']:>9}{timed['factor']:>7.1f}x"
                )
            rows = {(t["raw_rows"], t["sweep_rows"]) for t in sweep["rounds"]}
            say(f"rows (raw, sweep) {sorted(rows)}; median ratio sweep/raw {sweep['factor']:.2f}x")
            results["sweep"] = sweep

        # --- memory -------------------------------------------------------------------------
        heading("Peak RSS per gunicorn worker (VmHWM from /proc)")
        results["rss_mib"] = {}
        for service in (desk, floor):
            for pid in service.workers:
                peak, now = peak_rss_mib(pid)
                results["rss_mib"][f"{service.name}:{pid}"] = peak
                say(f"{service.name:<6} worker {pid:<8} peak {peak:7.1f} MiB  now {now:7.1f} MiB")
    finally:
        stack.close()

    # --- targets ------------------------------------------------------------------------
    heading("Targets (issue 12, item 3)")
    rows = []
    summary = results.get("throughput", {}).get("summary", {})
    if "a_ratio" in summary:
        rows.append(
            (
                f"flow ratio (a) >= {TARGET_RATIO}",
                f"{summary['a_ratio']:.3f}",
                summary["a_ratio"] >= TARGET_RATIO,
            )
        )
    st = results["statements"]
    rows.append(
        (
            f"quote <= {TARGET_QUOTE_STATEMENTS} statements",
            st["quote"]["typical"],
            st["quote"]["typical"] <= TARGET_QUOTE_STATEMENTS,
        )
    )
    rows.append(
        (
            f"confirm <= {TARGET_CONFIRM_STATEMENTS} statements",
            st["confirm"]["typical"],
            st["confirm"]["typical"] <= TARGET_CONFIRM_STATEMENTS,
        )
    )
    if "b_over_a" in summary:
        rows.append(
            ("(b) flows/s >= (a) flows/s", f"{summary['b_over_a']:.3f}", summary["b_over_a"] >= 1.0)
        )
    # The typical count: an API key's last-used stamp adds one UPDATE once a minute.
    list_counts = {v["typical"] for k, v in st.items() if k.startswith("list ")}
    rows.append(
        (
            "list statements constant",
            ",".join(str(c) for c in sorted(list_counts)),
            len(list_counts) == 1,
        )
    )
    if "sweep" in results:
        factor = results["sweep"]["factor"]
        rows.append(
            (
                f"sweep <= {TARGET_SWEEP_FACTOR:g}x raw UPDATE",
                f"{factor:.1f}x",
                factor <= TARGET_SWEEP_FACTOR,
            )
        )
    for label, value, ok in rows:
        say(f"{label:<36}{value!s:>12}  {verdict(ok)}")
    results["targets"] = {label: {"value": str(value), "ok": ok} for label, value, ok in rows}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    say()
    say(
        f"done in {time.monotonic() - started_at:.0f} s (load average {os.getloadavg()[0]:.2f}); "
        f"results in {OUT / 'results.json'}"
    )

    if args.profile:
        text = inprocess.profile_flows(solo, args.profile, OUT / "profile.html")
        (OUT / "profile.txt").write_text(text)
        heading(
            f"pyinstrument, {args.profile} in-process flows (full tree: {OUT / 'profile.html'})"
        )
        say("\n".join(text.splitlines()[:150]))
    return 0


def ledger_account_names(ids: list[str]) -> dict[str, str]:
    """Ids named in waiting statements -> the ledger account's code, with the owner and label
    of the EUR account it belongs to (so the treasury and a customer's account read as such)."""
    from accounts.models import FiatAccount, LedgerAccount

    names = {
        str(pk): code
        for pk, code in LedgerAccount.objects.filter(pk__in=ids).values_list("pk", "code")
    }
    owned = FiatAccount.objects.filter(ledger_account_id__in=ids).values_list(
        "ledger_account_id", "customer__slug", "label"
    )
    for pk, slug, label in owned:
        names[str(pk)] = f"{slug} {label!r}"
    return names


def sweep_against_raw_update(data, count: int, rounds: int) -> dict:
    """Time a raw UPDATE of ``count`` stale quotes and the service's sweep of the same rows
    (in its batches, until it finds none), alternating, ``rounds`` times each: after each
    timing the rows are put back as they were and what the sweep wrote (timeline rows,
    events) is deleted, so every timing starts from the same rows. The factor is the median
    of the rounds' sweep/raw ratios (this machine's speed drifts between rounds)."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from otc import services
    from otc.models import OPEN_QUOTE, Order, OrderTransition, Status
    from otc.webhooks.models import Event

    who = data.make_customer("bench-sweep")
    template = data.quote(who)
    Order.objects.filter(pk=template.pk).update(
        ttl_expires_at=timezone.now() - timedelta(minutes=1)
    )
    data.clone_orders(
        template,
        count - 1,
        overrides={"ttl_expires_at": "t.ttl_expires_at - n.g * interval '1 millisecond'"},
    )
    table = connection.ops.quote_name(Order._meta.db_table)
    written = [
        connection.ops.quote_name(model._meta.db_table) for model in (OrderTransition, Event)
    ]

    def vacuum() -> None:
        # Each timing starts from the same state: the tables vacuumed and analysed.
        with connection.cursor() as cursor:
            for name in (table, *written):
                cursor.execute(f"VACUUM ANALYZE {name}")

    with connection.cursor() as cursor:
        # The rows as they are, to put them back exactly (their ``updated_at`` too: the sweep
        # trusts an order's last event only while the order's ``updated_at`` is still the one
        # that event shows); and where the timeline and the events end now.
        cursor.execute(
            "CREATE TEMP TABLE bench_sweep_rows AS "  # noqa: S608
            f"SELECT id, status, updated_at FROM {table} WHERE customer_id = %s",
            [who.customer_id],
        )
        cursor.execute(f"SELECT coalesce(max(id), 0) FROM {written[0]}")  # noqa: S608
        (last_transition,) = cursor.fetchone()
        cursor.execute(f"SELECT coalesce(max(txid), 0) FROM {written[1]}")  # noqa: S608
        (last_txid,) = cursor.fetchone()

    def put_back() -> None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} o SET status = b.status, updated_at = b.updated_at "  # noqa: S608
                "FROM bench_sweep_rows b WHERE o.id = b.id"
            )
            cursor.execute(
                f"DELETE FROM {written[0]} WHERE id > %s",  # noqa: S608
                [last_transition],
            )
            # No endpoints, so no deliveries: the events are all the sweep wrote.
            cursor.execute(
                f"DELETE FROM {written[1]} WHERE customer_id = %s AND txid > %s",  # noqa: S608
                [who.customer_id, last_txid],
            )

    measured = []
    for _ in range(rounds):
        vacuum()
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = %s, updated_at = now() "  # noqa: S608
                "WHERE status = ANY(%s) AND ttl_expires_at <= now()",
                [Status.EXPIRED, list(OPEN_QUOTE)],
            )
            raw_rows = cursor.rowcount
        raw_s = time.perf_counter() - started
        put_back()

        vacuum()
        started = time.perf_counter()
        swept = batches = 0
        while True:
            done = services.quotes_expire()  # its own batch size
            if not done:
                break
            swept += done
            batches += 1
        sweep_s = time.perf_counter() - started
        put_back()
        measured.append(
            {
                "raw_s": raw_s,
                "raw_rows": raw_rows,
                "sweep_s": sweep_s,
                "sweep_rows": swept,
                "batches": batches,
                "factor": sweep_s / raw_s if raw_s else float("inf"),
            }
        )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_sweep_rows")
    return {"rounds": measured, "factor": statistics.median(m["factor"] for m in measured)}


if __name__ == "__main__":
    sys.exit(main())
