"""Who waits for which row while the flows run: pg_stat_activity of the desk's database,
sampled every 50 ms. A backend waiting on a lock is counted with its statement (verb and
table) and with every id its statement names, so the row the waiters have in common (a
shared ledger account, say) stands out."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field

from .inprocess import summarise

UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}")


@dataclass
class LockWaits:
    samples: int = 0
    active: int = 0
    waiting: int = 0
    statements: Counter = field(default_factory=Counter)
    ids: Counter = field(default_factory=Counter)

    def add(self, other: LockWaits) -> None:
        self.samples += other.samples
        self.active += other.active
        self.waiting += other.waiting
        self.statements.update(other.statements)
        self.ids.update(other.ids)

    def describe(self, names: dict[str, str] | None = None) -> list[str]:
        if not self.samples:
            return ["no samples"]
        names = names or {}
        waiting = max(1, self.waiting)
        lines = [
            f"{self.waiting / self.samples:.2f} of {self.active / self.samples:.2f} active "
            f"backends wait on a lock, on average"
        ]
        if self.statements:
            lines.append(
                "waiting in: "
                + ", ".join(f"{s} {n / waiting:.0%}" for s, n in self.statements.most_common(3))
            )
        if self.ids:
            lines.append(
                "rows named by the waiting statements: "
                + ", ".join(
                    f"{names.get(i, i[:8])} {n / waiting:.0%}" for i, n in self.ids.most_common(3)
                )
            )
        return lines

    def as_dict(self) -> dict:
        return {
            "samples": self.samples,
            "active": self.active,
            "waiting": self.waiting,
            "statements": dict(self.statements),
            "ids": dict(self.ids.most_common(10)),
        }


def normalise_uuid(raw: str) -> str:
    hex_ = raw.replace("-", "")
    return f"{hex_[:8]}-{hex_[8:12]}-{hex_[12:16]}-{hex_[16:20]}-{hex_[20:]}"


class LockSampler:
    """A context manager sampling lock waits on ``database`` until it exits."""

    def __init__(self, dsn: str, database: str, interval: float = 0.05) -> None:
        self.dsn, self.database, self.interval = dsn, database, interval
        self.result = LockWaits()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                rows = conn.execute(
                    "SELECT wait_event_type, query FROM pg_stat_activity "
                    "WHERE datname = %s AND state = 'active' AND pid <> pg_backend_pid()",
                    [self.database],
                ).fetchall()
                self.result.samples += 1
                self.result.active += len(rows)
                for wait_type, query in rows:
                    if wait_type == "Lock":
                        self.result.waiting += 1
                        self.result.statements[summarise(query)] += 1
                        self.result.ids.update(
                            {normalise_uuid(u) for u in UUID.findall(query.lower())}
                        )
                self._stop.wait(self.interval)

    def __enter__(self) -> LockSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
