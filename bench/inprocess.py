"""Measurements taken inside the benchmark's own process, against the benchmark's database:
SQL statements per request (Django's ``CaptureQueriesContext`` around a request made with the
test client through the full middleware and DRF stack, so it counts exactly what the web
workers execute, BEGIN and COMMIT included) and a pyinstrument profile of quote + confirm
flows."""

from __future__ import annotations

import re
import statistics
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from .data import BenchCustomer, buy_quote_body

KINDS = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "SAVEPOINT",
    "RELEASE",
    "ROLLBACK",
    "SET",
    "BEGIN",
    "COMMIT",
)


@dataclass
class Statements:
    counts: list[int]
    kinds: Counter
    sample: list[str]

    @property
    def typical(self) -> int:
        return Counter(self.counts).most_common(1)[0][0]

    def describe(self) -> str:
        runs = len(self.counts)
        kinds = ", ".join(
            f"{kind.lower()} {count / runs:g}" for kind, count in self.kinds.most_common()
        )
        spread = (
            ""
            if min(self.counts) == max(self.counts)
            else f" ({min(self.counts)}..{max(self.counts)})"
        )
        return f"{self.typical}{spread}  [{kinds}]"


def _kind(sql: str) -> str:
    word = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    return word if word in KINDS else "OTHER"


def count_statements(call, runs: int) -> Statements:
    counts: list[int] = []
    kinds: Counter = Counter()
    sample: list[str] = []
    for _ in range(runs):
        with CaptureQueriesContext(connection) as ctx:
            call()
        counts.append(len(ctx.captured_queries))
        kinds.update(_kind(q["sql"]) for q in ctx.captured_queries)
        sample = [q["sql"] for q in ctx.captured_queries]
    return Statements(counts, kinds, sample)


class ApiCaller:
    """The customer API in process, as ``who`` (its write key)."""

    def __init__(self, who: BenchCustomer) -> None:
        self.who = who
        self.client = Client(HTTP_X_API_KEY=who.api_key)

    def quote(self, amount: str = "100.00") -> str:
        response = self.client.post(
            "/api/v1/otc-exchanges/quote",
            buy_quote_body(self.who, amount),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        return response.json()["data"]["quoteId"]

    def confirm(self, quote_id: str) -> None:
        response = self.client.post(
            "/api/v1/otc-exchanges",
            {"side": "buy", "quoteId": quote_id},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
        assert response.status_code == 201, response.content

    def list_page(self, limit: int, page: int = 1) -> dict:
        response = self.client.get(f"/api/v1/otc-exchanges?limit={limit}&page={page}")
        assert response.status_code == 200, response.content
        return response.json()

    def detail(self, order_id: str) -> None:
        response = self.client.get(f"/api/v1/otc-exchanges/{order_id}")
        assert response.status_code == 200, response.content

    def flow(self) -> None:
        self.confirm(self.quote())


def flow_statements(who: BenchCustomer, runs: int) -> dict[str, Statements]:
    api = ApiCaller(who)
    api.flow()  # warm: the key's last-used stamp, caches, the clearing account
    quotes: list[str] = []
    quote = count_statements(lambda: quotes.append(api.quote()), runs)
    confirm = count_statements(lambda: api.confirm(quotes.pop()), runs)
    return {"quote": quote, "confirm": confirm}


def read_statements(
    who: BenchCustomer, limits: tuple[int, ...], runs: int, late_page: int | None = None
) -> dict[str, Statements]:
    """Statements of the order list at each of ``limits`` (and, with ``late_page``, of that
    page at the largest limit) and of one order's detail."""
    api = ApiCaller(who)
    api.list_page(1)  # warm: the key's last-used stamp
    result = {
        f"list limit={limit}": count_statements(lambda limit=limit: api.list_page(limit), runs)
        for limit in limits
    }
    if late_page is not None:
        limit = max(limits)
        result[f"list limit={limit} page={late_page}"] = count_statements(
            lambda: api.list_page(limit, late_page), runs
        )
    order_id = api.list_page(1)["data"][0]["id"]
    result["detail"] = count_statements(lambda: api.detail(order_id), runs)
    return result


@contextmanager
def _debits_left_pending():
    """Confirmed buys whose debit task is not sent (the stack's worker would settle them
    meanwhile): their settlement is then run and counted here."""
    from otc import tasks

    send = tasks.settle_order_debit.delay_on_commit
    tasks.settle_order_debit.delay_on_commit = lambda *args, **kwargs: None
    try:
        yield
    finally:
        tasks.settle_order_debit.delay_on_commit = send


def settlement_measures(who: BenchCustomer, runs: int) -> tuple[Statements, float]:
    """Statements of one settled debit (what the worker runs for a confirmed buy: the bank's
    debit, then the order to pending approval; the simulated bank's own statements
    included) and its median CPU time in process, ms."""
    from otc import settlement

    api = ApiCaller(who)
    with _debits_left_pending():
        orders = []
        for _ in range(runs * 4 + 1):
            quote_id = api.quote()
            api.confirm(quote_id)
            orders.append(quote_id)
    settlement.advance(orders.pop())  # warm
    counted = count_statements(lambda: settlement.advance(orders.pop()), runs)
    samples = []
    while orders:
        started = time.process_time()
        settlement.advance(orders.pop())
        samples.append((time.process_time() - started) * 1000)
    return counted, statistics.median(samples)


def flow_cpu_ms(who: BenchCustomer, flows: int) -> float:
    """Median CPU time (this process, all threads) of one in-process quote + confirm, ms."""
    api = ApiCaller(who)
    api.flow()
    samples = []
    for _ in range(flows):
        started = time.process_time()
        api.flow()
        samples.append((time.process_time() - started) * 1000)
    return statistics.median(samples)


def profile_flows(who: BenchCustomer, flows: int, html: Path) -> str:
    """Profile ``flows`` in-process flows with pyinstrument; write HTML, return the text tree."""
    from pyinstrument import Profiler

    api = ApiCaller(who)
    api.flow()
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(flows):
        api.flow()
    profiler.stop()
    html.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(profiler.output_html())
    return profiler.output_text(unicode=True, color=False, show_all=False)


_TABLE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', re.IGNORECASE)


def summarise(sql: str) -> str:
    """``SELECT accounts_ledgeraccount FOR UPDATE`` for a statement: its verb and table."""
    verb = _kind(sql)
    table = _TABLE.search(sql)
    lock = " FOR UPDATE" if "FOR UPDATE" in sql.upper() else ""
    return f"{verb} {table.group(1) if table else ''}{lock}".strip()
