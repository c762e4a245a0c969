"""The closed-loop client: ``concurrency`` threads, each with its own keep-alive httpx client,
each starting its next flow as soon as the last one ended, for a fixed number of seconds."""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import psutil

from .data import BenchCustomer, buy_quote_body


@dataclass
class Tally:
    """What one round measured: completed units (flows or floor requests), latencies per
    request label (ms), and errors."""

    units: int = 0
    seconds: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    client_cpu: float = 0.0  # this process's CPU over the round, in cores
    machine_cpu: float = 0.0  # the whole machine's busy share over the round, 0..1

    def merge(self, other: Tally) -> None:
        self.units += other.units
        for label, values in other.latencies.items():
            self.latencies[label].extend(values)
        self.errors += other.errors
        self.first_errors.extend(other.first_errors[: 3 - len(self.first_errors)])

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds else 0.0


class Failed(Exception):
    pass


def _timed(tally: Tally, label: str, call: Callable[[], httpx.Response], expect: int):
    started = time.perf_counter()
    response = call()
    tally.latencies[label].append((time.perf_counter() - started) * 1000)
    if response.status_code != expect:
        raise Failed(f"{label}: {response.status_code} {response.text[:300]}")
    return response


def floor_unit(client: httpx.Client, tally: Tally) -> None:
    _timed(tally, "floor", lambda: client.post("/hit"), 201)


def flow_unit(client: httpx.Client, tally: Tally, who: BenchCustomer) -> None:
    """One quote + confirm of a buy, as an API customer does it."""
    headers = {"x-api-key": who.api_key}
    quote = _timed(
        tally,
        "quote",
        lambda: client.post(
            "/api/v1/otc-exchanges/quote", json=buy_quote_body(who), headers=headers
        ),
        200,
    )
    quote_id = quote.json()["data"]["quoteId"]
    _timed(
        tally,
        "confirm",
        lambda: client.post(
            "/api/v1/otc-exchanges",
            json={"side": "buy", "quoteId": quote_id},
            headers={**headers, "Idempotency-Key": str(uuid.uuid4())},
        ),
        201,
    )


class CustomerPool:
    """Hands each flow a customer no other flow in progress is using (FIFO, so all of them
    take turns). With one customer every flow shares it."""

    def __init__(self, customers: list[BenchCustomer]) -> None:
        self.shared = customers[0] if len(customers) == 1 else None
        self.free: queue.Queue[BenchCustomer] = queue.Queue()
        for who in customers:
            self.free.put(who)

    def run(self, client: httpx.Client, tally: Tally) -> None:
        if self.shared is not None:
            flow_unit(client, tally, self.shared)
            return
        who = self.free.get()
        try:
            flow_unit(client, tally, who)
        finally:
            self.free.put(who)


def _role(process: psutil.Process, groups: dict[int, str], me: int) -> str:
    if process.pid == me:
        return "client"
    try:
        pgid = os.getpgid(process.pid)
        name = process.name()
    except (psutil.Error, ProcessLookupError):
        return "other"
    if pgid in groups:
        return groups[pgid]
    if name.startswith("postgres"):
        return "postgres"
    if name.startswith("redis"):
        return "redis"
    return "other"


def cpu_by_role(groups: dict[int, str]) -> dict[str, float]:
    """CPU seconds (user + system, reaped children included, so PostgreSQL's backends that
    ended count on the postmaster) of every process on the machine, summed per role. ``groups``
    names the process groups the benchmark started (desk, floor, celery)."""
    me = os.getpid()
    totals: dict[str, float] = defaultdict(float)
    for process in psutil.process_iter():
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        role = _role(process, groups, me)
        totals[role] += times.user + times.system + times.children_user + times.children_system
    return dict(totals)


def drive(
    base_url: str,
    unit: Callable[[httpx.Client, Tally], None],
    *,
    concurrency: int,
    seconds: float,
) -> Tally:
    """Run ``unit`` in a closed loop on ``concurrency`` threads for ``seconds``."""
    start_gate = threading.Barrier(concurrency + 1)
    tallies = [Tally() for _ in range(concurrency)]
    deadline = [0.0]

    def worker(tally: Tally) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base_url, timeout=60, limits=limits) as client:
            start_gate.wait()
            while time.perf_counter() < deadline[0]:
                try:
                    unit(client, tally)
                    tally.units += 1
                except (Failed, httpx.HTTPError) as exc:
                    tally.errors += 1
                    if len(tally.first_errors) < 3:
                        tally.first_errors.append(str(exc))

    threads = [threading.Thread(target=worker, args=(t,), daemon=True) for t in tallies]
    for thread in threads:
        thread.start()
    cpu_before, machine_before = time.process_time(), psutil.cpu_times()
    deadline[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    start_gate.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    total = Tally(seconds=elapsed)
    total.client_cpu = (time.process_time() - cpu_before) / elapsed
    machine_after = psutil.cpu_times()
    busy = sum(machine_after) - sum(machine_before)
    idle = (machine_after.idle + machine_after.iowait) - (
        machine_before.idle + machine_before.iowait
    )
    total.machine_cpu = (busy - idle) / busy if busy else 0.0
    for tally in tallies:
        total.merge(tally)
    return total
