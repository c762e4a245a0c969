"""Celery workers in their own processes, on the test database and this run's Redis namespace
(inherited through the environment), as production runs them: ``celery worker -Q ...``."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**overrides: str) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        OTC_REDIS_NAMESPACE=settings.REDIS_NAMESPACE,
        CELERY_TASK_ALWAYS_EAGER="false",
        OTC_WEBHOOKS_ALLOW_PRIVATE="true",
        OTC_WEBHOOKS_TIMEOUT_SECONDS="2",
        OTC_PRICE_FEED="static:1.080000",
        CONN_MAX_AGE="0",
    )
    env.update(overrides)
    return env


def start_worker(
    log: Path,
    *,
    queues: str | None = None,
    concurrency: int = 1,
    name: str = "worker",
    **env: str,
) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "tests.webhooks.worker_app",
        "worker",
        f"--concurrency={concurrency}",
        f"--hostname={name}-{os.getpid()}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel=INFO",
    ]
    if queues:
        command.append(f"--queues={queues}")
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=worker_env(**env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: killed with its pool children
    )


def wait_ready(log: Path, process: subprocess.Popen, count: int = 1, timeout: float = 60) -> None:
    """Wait until ``log`` shows ``count`` workers ready."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"worker exited early:\n{log.read_text()[-3000:]}")
        if log.read_text(errors="replace").count("ready.") >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"worker not ready:\n{log.read_text()[-3000:]}")


def stop(process: subprocess.Popen) -> None:
    """Warm shutdown (SIGTERM to the main process), then the whole group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL to the whole group: no warm shutdown, no acknowledgement."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
