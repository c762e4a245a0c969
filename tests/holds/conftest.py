"""The holds tests share the race runner of ``tests/otc``."""

from tests.otc.conftest import run_concurrently  # noqa: F401  (real threads on a barrier)
