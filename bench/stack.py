"""The processes the benchmark starts and stops: two gunicorns (the desk and the floor) and a
Celery worker, each in its own process group, with their logs under ``var/bench/logs``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

# The same for the desk and the floor: 2 workers x 4 threads, gthread.
GUNICORN_ARGS = ["--workers", "2", "--threads", "4", "--worker-class", "gthread"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recreate_database(server_url: str, name: str) -> None:
    """Drop and create ``name`` on the server (connected through its ``postgres`` database)."""
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


@dataclass
class Service:
    name: str
    process: subprocess.Popen
    log: Path
    port: int | None = None
    workers: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Stack:
    """Starts services and stops exactly those (by process group id) on ``close``."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.services: list[Service] = []

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Service:
        log = self.log_dir / f"{name}.log"
        handle = log.open("w")
        process = subprocess.Popen(  # noqa: S603 - our own executables and arguments
            argv,
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        service = Service(name=name, process=process, log=log)
        self.services.append(service)
        return service

    def gunicorn(self, name: str, wsgi: str, env: dict[str, str]) -> Service:
        port = free_port()
        argv = [
            str(BIN / "gunicorn"),
            wsgi,
            *GUNICORN_ARGS,
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "--timeout",
            "120",
        ]
        service = self._spawn(name, argv, env)
        service.port = port
        return service

    def celery_worker(self, env: dict[str, str], concurrency: int = 2) -> Service:
        argv = [
            str(BIN / "celery"),
            "-A",
            "config",
            "worker",
            "--loglevel",
            "WARNING",
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
        ]
        return self._spawn("celery", argv, env)

    def wait_http(self, service: Service, path: str, timeout: float = 60.0) -> None:
        """Wait until ``path`` answers (any status below 500) and both workers are up."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log}")
            try:
                if httpx.get(service.url + path, timeout=2).status_code < 500:
                    children = psutil.Process(service.process.pid).children()
                    if len(children) >= 2:
                        service.workers = [c.pid for c in children]
                        return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{service.name} did not come up; see {service.log}")

    def wait_log(self, service: Service, needle: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited; see {service.log}")
            if needle in service.log.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{service.name} did not get ready; see {service.log}")

    def close(self) -> None:
        for service in reversed(self.services):
            if service.process.poll() is None:
                os.killpg(service.process.pid, signal.SIGTERM)
        for service in reversed(self.services):
            try:
                service.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(service.process.pid, signal.SIGKILL)
                service.process.wait()
        self.services.clear()


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(peak, current) resident set size of ``pid`` in MiB, from /proc (VmHWM, VmRSS)."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                values[key] = int(rest.split()[0]) / 1024
    return values.get("VmHWM", 0.0), values.get("VmRSS", 0.0)
