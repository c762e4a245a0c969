"""The desk's status (``/status`` and ``GET /api/v1/status``): each component ``operational``,
``degraded`` or ``down`` with a short detail, and an overall status, from real checks.

One snapshot of all checks is shared through the cache (Redis in production) for
``OTC_STATUS_CACHE_SECONDS``, so any number of pollers costs one round of checks per period.

Workers and beat are seen through a heartbeat: beat sends ``otc.status.heartbeat`` to every
queue (``default``, ``settlement``, ``webhooks``) every ``OTC_HEARTBEAT_SECONDS``. Sending it
stamps the beat's heartbeat (a ``before_task_publish`` handler, which runs in the process that
sends it, i.e. beat); a worker running it stamps that queue's heartbeat, so a queue nobody
consumes shows. The stamps live in the shared cache. A stamp younger than three periods
is operational, younger than twelve degraded, older (or none) down.
"""

import contextlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from celery import shared_task
from celery.signals import before_task_publish
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Min, Q
from django.utils import timezone

from accounts.errors import ProviderUnavailable
from accounts.providers import simulated_outage

from . import health, pricing

OPERATIONAL, DEGRADED, DOWN = "operational", "degraded", "down"
STATES = [OPERATIONAL, DEGRADED, DOWN]
SNAPSHOT_KEY = "otc:status:snapshot"
HEARTBEAT_TASK = "otc.status.heartbeat"
BEAT_HEARTBEAT_KEY = "otc:status:heartbeat:beat"
WORKER_HEARTBEAT_KEY = "otc:status:heartbeat:worker:{queue}"
HEARTBEAT_RETENTION = 7 * 24 * 3600  # a stamp older than this reads as "never seen"
PRICE_FEED_SLOW_SECONDS = 2.0
# A pending webhook delivery is overdue when it should have been tried this long ago and no
# worker holds it (the resume sweep runs every 30 s); overdue this long means deliveries stall.
WEBHOOK_OVERDUE_SECONDS = 60
WEBHOOK_STALLED_SECONDS = 15 * 60


@dataclass(frozen=True)
class Component:
    name: str
    label: str
    status: str
    detail: str


# --- the heartbeat ----------------------------------------------------------------------------


@shared_task(bind=True, name=HEARTBEAT_TASK, ignore_result=True)
def heartbeat(self) -> None:
    """A worker is alive and consuming this queue: stamp the time (and which worker)."""
    queue = (self.request.delivery_info or {}).get("routing_key") or _queues()[0]
    cache.set(
        WORKER_HEARTBEAT_KEY.format(queue=queue),
        {"at": time.time(), "hostname": self.request.hostname or ""},
        HEARTBEAT_RETENTION,
    )


def _queues() -> list[str]:
    """The queues workers must consume, the default one first."""
    names = [queue.name for queue in getattr(settings, "CELERY_TASK_QUEUES", None) or []]
    default = getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery")
    return [default, *(name for name in names if name != default)]


@before_task_publish.connect
def _stamp_beat_heartbeat(sender: str | None = None, **kwargs) -> None:
    # Only beat sends the heartbeat task: its sending is beat's own sign of life.
    if sender == HEARTBEAT_TASK:
        cache.set(BEAT_HEARTBEAT_KEY, {"at": time.time()}, HEARTBEAT_RETENTION)


def _ago(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h ago"


def _heartbeat_age(key: str, now: float) -> tuple[float | None, dict]:
    stamp = cache.get(key) or {}
    at = stamp.get("at")
    return (now - at if at is not None else None), stamp


def _heartbeat_status(age: float | None) -> str:
    period = float(settings.OTC_HEARTBEAT_SECONDS)
    if age is None or age > 12 * period:
        return DOWN
    return OPERATIONAL if age <= 3 * period else DEGRADED


# --- the checks ----------------------------------------------------------------------------


def _check_api() -> Component:
    return Component("api", "API", OPERATIONAL, "Answering requests.")


def _infrastructure(results: dict[str, str]) -> list[Component]:
    components = []
    for name, label, good in (
        ("database", "Database", "Answering queries."),
        ("broker", "Message broker", "Accepting connections."),
    ):
        result = results.get(name, "error: not checked")
        if result == "ok":
            components.append(Component(name, label, OPERATIONAL, good))
        else:
            components.append(Component(name, label, DOWN, f"Unreachable ({result})."))
    return components


def _check_heartbeats() -> list[Component]:
    now = time.time()
    beat_age, _ = _heartbeat_age(BEAT_HEARTBEAT_KEY, now)
    beat_status = _heartbeat_status(beat_age)
    queues = {q: _heartbeat_age(WORKER_HEARTBEAT_KEY.format(queue=q), now) for q in _queues()}
    states = {q: _heartbeat_status(age) for q, (age, _) in queues.items()}
    worker_status = max(states.values(), key=STATES.index)

    if beat_age is None:
        beat_detail = "No heartbeat sent yet: beat is not running."
    elif beat_status == OPERATIONAL:
        beat_detail = f"Scheduling: last heartbeat sent {_ago(beat_age)}."
    else:
        beat_detail = f"Last heartbeat sent {_ago(beat_age)}: periodic tasks are not running."

    parts = []
    for queue, (age, stamp) in queues.items():
        if age is None:
            parts.append(f"{queue}: no worker has run the heartbeat")
        else:
            host = f" ({stamp['hostname']})" if stamp.get("hostname") else ""
            parts.append(f"{queue}: last heartbeat {_ago(age)}{host}")
    if worker_status == OPERATIONAL:
        worker_detail = "Processing every queue. " + "; ".join(parts) + "."
    else:
        late = ", ".join(q for q, state in states.items() if state != OPERATIONAL)
        worker_detail = f"Tasks are queuing on {late}. " + "; ".join(parts) + "."
    if worker_status != OPERATIONAL and beat_status != OPERATIONAL:
        worker_detail += " Beat is not sending heartbeats either, so the workers may be idle."
    return [
        Component("workers", "Workers", worker_status, worker_detail),
        Component("beat", "Scheduler (beat)", beat_status, beat_detail),
    ]


def _feed_mid(symbol: str):
    """The feed's own answer (a manual price does not hide a dead feed here)."""
    try:
        return pricing.price_feed().mid_rate(symbol)
    except ProviderUnavailable:
        raise
    except Exception as exc:  # as in live_mid_rate: a misbehaving feed is an unavailable one
        raise ProviderUnavailable("The market price feed is unavailable.") from exc


def _check_price_feed() -> Component:
    """Ask the feed for every enabled pair's mid. A pair whose feed fails is down, unless an
    operator's manual price keeps it quoting (degraded); a slow answer is degraded."""
    from .models import Pair

    feed = settings.OTC_PRICE_FEED.split(":", 1)[0]
    pairs = list(Pair.objects.filter(enabled=True).order_by("code"))
    if not pairs:
        return Component("price_feed", "Price feed", DEGRADED, "No pair is enabled.")
    states, notes = [], []
    for pair in pairs:
        override = pricing.price_override_get(pair.code)
        manual = f"; manual price {override.rate} in force" if override else ""
        started = time.monotonic()
        try:
            mid = _feed_mid(pair.feed_symbol)
        except ProviderUnavailable as exc:
            states.append(DEGRADED if override else DOWN)
            notes.append(f"{pair.code}: {exc.message.rstrip('.')}{manual}")
            continue
        took = time.monotonic() - started
        slow = took > PRICE_FEED_SLOW_SECONDS
        states.append(DEGRADED if slow else OPERATIONAL)
        notes.append(f"{pair.code} mid {mid}{f' (slow, {took:.1f} s)' if slow else ''}{manual}")
    worst = max(states, key=STATES.index)
    if DOWN in states and len(set(states)) > 1:
        worst = DEGRADED  # some pairs still quote
    return Component("price_feed", "Price feed", worst, f"{'. '.join(notes)} ({feed} feed).")


def _check_provider(name: str, switch: str, label: str, failing: str) -> Component:
    if simulated_outage(switch):
        return Component(name, label, DOWN, f"Simulated outage: {failing}")
    return Component(name, label, OPERATIONAL, "Simulated provider answering.")


def _check_bank() -> Component:
    return _check_provider(
        "bank_rail", "fiat", "Bank rail (EUR)", "EUR transfers fail and settlement waits."
    )


def _check_custody() -> Component:
    return _check_provider(
        "custody", "custody", "Custody (USDC)", "balances and USDC transfers are unavailable."
    )


def _check_webhooks() -> Component:
    from .webhooks.models import Delivery

    now = timezone.now()
    overdue = Q(next_attempt_at__lte=now - timedelta(seconds=WEBHOOK_OVERDUE_SECONDS)) & (
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    )
    backlog = Delivery.objects.filter(status=Delivery.Status.PENDING).aggregate(
        pending=Count("pk"),
        overdue=Count("pk", filter=overdue),
        oldest=Min("next_attempt_at", filter=overdue),
    )
    pending, late = backlog["pending"], backlog["overdue"]
    if not late:
        return Component(
            "webhooks", "Webhooks", OPERATIONAL, f"{pending} deliveries pending, none overdue."
        )
    waiting = (now - backlog["oldest"]).total_seconds()
    status = DOWN if waiting > WEBHOOK_STALLED_SECONDS else DEGRADED
    return Component(
        "webhooks",
        "Webhooks",
        status,
        f"{late} of {pending} pending deliveries overdue, the oldest due {_ago(waiting)}.",
    )


def _guarded(check: Callable[[], list[Component]], *names: tuple[str, str]) -> list[Component]:
    """A check that itself fails (say the cache or the database is gone) reports its
    components down instead of breaking the page."""
    try:
        return check()
    except Exception as exc:
        detail = f"Cannot be checked ({exc.__class__.__name__})."
        return [Component(name, label, DOWN, detail) for name, label in names]


def status_check() -> dict:
    """Run every check now (uncached); the JSON-ready snapshot."""
    infrastructure = health.check()
    components = [
        _check_api(),
        *_infrastructure(infrastructure),
        *_guarded(_check_heartbeats, ("workers", "Workers"), ("beat", "Scheduler (beat)")),
        *_guarded(lambda: [_check_price_feed()], ("price_feed", "Price feed")),
        *_guarded(lambda: [_check_bank()], ("bank_rail", "Bank rail (EUR)")),
        *_guarded(lambda: [_check_custody()], ("custody", "Custody (USDC)")),
        *_guarded(lambda: [_check_webhooks()], ("webhooks", "Webhooks")),
    ]
    statuses = {c.name: c.status for c in components}
    if statuses["database"] == DOWN:
        overall = DOWN  # nothing can be read or written
    elif all(status == OPERATIONAL for status in statuses.values()):
        overall = OPERATIONAL
    else:
        overall = DEGRADED
    return {
        "status": overall,
        "checkedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "components": [asdict(component) for component in components],
    }


def status_snapshot() -> dict:
    """The shared snapshot: from the cache while it is fresh, else checked now and shared."""
    try:
        snapshot = cache.get(SNAPSHOT_KEY)
    except Exception:
        snapshot = None  # the cache is down: check anyway (the broker check will say why)
    if snapshot is None:
        snapshot = status_check()
        with contextlib.suppress(Exception):
            cache.set(SNAPSHOT_KEY, snapshot, settings.OTC_STATUS_CACHE_SECONDS)
    return snapshot
