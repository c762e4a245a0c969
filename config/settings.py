"""Settings for the OTC desk, read from the environment (see README's configuration table).

With no environment at all the desk runs on a local SQLite file and an embedded
(filesystem) Celery broker, so one command brings everything up on a bare machine.
``DATABASE_URL`` / ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

import os
import secrets
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import environ
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("OTC_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()


def _decimal(name: str, default: Decimal) -> Decimal:
    return Decimal(env.str(name, default=str(default)))


DEBUG = env.bool("DEBUG", default=True)
if DEBUG:
    SECRET_KEY = env.str(
        "SECRET_KEY", default="dev-only-insecure-secret-key-change-me-in-production"
    )
    ALLOWED_HOSTS = env.list(
        "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"]
    )
else:
    SECRET_KEY = env.str("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "axes",
    "accounts",
    "wallets",
    "otc",
    "otc.webhooks",
]

MIDDLEWARE = [
    "otc.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "otc.web.middleware.PortalLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into its lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "otc.ops.context.reconciliation_alert",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'otc.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: wait for the write lock instead of failing, and
    # take it at BEGIN so two writers never deadlock on a lock upgrade.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Parameters bound by the server, and a statement that a connection runs again is prepared
    # on its second run: PostgreSQL then neither parses nor plans it again (planning the
    # order's joins was most of the database's CPU on the hot path). Behind a pooler in
    # transaction mode that cannot keep prepared statements, set DB_PREPARE_THRESHOLD=off.
    _prepare = env.str("DB_PREPARE_THRESHOLD", default="2")
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "server_side_binding": True,
            "prepare_threshold": None if _prepare.lower() in ("off", "none", "") else int(_prepare),
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker and cache ----------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
# A prefix on every Redis key this deployment writes (broker queues, unacknowledged messages,
# worker broadcasts, the cache), so that several deployments or test runs can share one Redis
# database without taking each other's tasks. Under pytest each run takes its own, passed on
# to the workers the tests start through the environment.
REDIS_NAMESPACE = env.str("OTC_REDIS_NAMESPACE", default="")
if not REDIS_NAMESPACE and os.environ.get("PYTEST_VERSION"):
    REDIS_NAMESPACE = f"test-{os.getpid()}-{secrets.token_hex(3)}"
    os.environ["OTC_REDIS_NAMESPACE"] = REDIS_NAMESPACE
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # kombu's, one client per pool
    CELERY_BROKER_TRANSPORT_OPTIONS = (
        {"global_keyprefix": f"{REDIS_NAMESPACE}:"} if REDIS_NAMESPACE else {}
    )
    CACHES = {
        "default": {
            "BACKEND": "config.redis_cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"{REDIS_NAMESPACE}:cache" if REDIS_NAMESPACE else "",
        }
    }
else:
    # Embedded broker: a folder on disk that web, worker and beat processes share.
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # the exchange tables (kombu's default is ./control, which is our ``control`` package)
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

# Three queues, so that no kind of work can starve another: ``settlement`` moves money (bank
# debits, custody settlements, the sweeps that re-drive them, quote expiry), ``webhooks``
# delivers events to customers' endpoints (slow receivers wait here, never in front of a
# settlement), ``default`` takes the rest (housekeeping). A worker started without ``-Q``
# consumes all three; production runs one pool per queue (README).
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = [Queue("default"), Queue("settlement"), Queue("webhooks")]
CELERY_TASK_ROUTES = {
    "otc.tasks.settle_order_debit": {"queue": "settlement"},
    "otc.tasks.settle_order": {"queue": "settlement"},
    "otc.tasks.settle_pending_debits": {"queue": "settlement"},
    "otc.tasks.settle_approved_orders": {"queue": "settlement"},
    "otc.tasks.expire_quotes": {"queue": "settlement"},
    "otc.tasks.advance_settlement": {"queue": "settlement"},
    "otc.tasks.resume_settlement": {"queue": "settlement"},
    "otc.webhooks.tasks.deliver": {"queue": "webhooks"},
    "otc.webhooks.tasks.resume_deliveries": {"queue": "webhooks"},
}
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Celery's Django fixup closes every database connection before and after each task unless
# told to reuse them: each task then paid for a new PostgreSQL backend (fork, login, cold
# catalog caches, every statement planned afresh). Workers keep their connections instead,
# and ``config.celery`` ages and health-checks them around each task as Django does around a
# request (CONN_MAX_AGE, CONN_HEALTH_CHECKS).
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
OTC_HEARTBEAT_SECONDS = 10.0  # beat -> worker heartbeat behind /status (otc.status)
CELERY_BEAT_SCHEDULE = {
    "expire-stale-quotes": {"task": "otc.tasks.expire_quotes", "schedule": 5.0},
    "sweep-deadlines": {"task": "otc.tasks.sweep_deadlines", "schedule": 15.0},
    "settle-pending-debits": {"task": "otc.tasks.settle_pending_debits", "schedule": 15.0},
    "settle-approved-orders": {"task": "otc.tasks.settle_approved_orders", "schedule": 15.0},
    "purge-idempotency-keys": {"task": "otc.tasks.purge_idempotency_keys", "schedule": 3600.0},
    "resume-settlement": {"task": "otc.tasks.resume_settlement", "schedule": 30.0},
    "reconcile-daily": {"task": "otc.tasks.reconcile_daily", "schedule": 3600.0},
    "webhooks-resume-deliveries": {
        "task": "otc.webhooks.tasks.resume_deliveries",
        "schedule": 30.0,
    },
    "webhooks-purge-events": {"task": "otc.webhooks.tasks.purge_events", "schedule": 3600.0},
    # One heartbeat per queue: /status sees whether each queue has a live worker.
    **{
        f"status-heartbeat-{queue.name}": {
            "task": "otc.status.heartbeat",
            "schedule": OTC_HEARTBEAT_SECONDS,
            "options": {"queue": queue.name},
        }
        for queue in CELERY_TASK_QUEUES
    },
}
# Task modules outside an app's tasks.py (autodiscovery finds only those).
CELERY_IMPORTS = ["otc.status"]

# --- Auth, sessions, CSRF -------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out (username, address) before any password is checked. It
    # needs the request, so every sign-in passes it to authenticate().
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
# The seed's clients send the CSRF token in ``X-CSRF-Token``.
CSRF_HEADER_NAME = "HTTP_X_CSRF_TOKEN"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- Sign-in lockout (django-axes): one policy for /login/, /admin/login/ and auth/token -----
# Failures are counted per (username, client address) together, so a stranger elsewhere
# cannot lock a user out (their failures count against their own address only); the per-
# address request limits (OTC_TOKEN_RATE_LIMIT) slow one address trying many usernames. The
# lock lifts OTC_SIGNIN_LOCKOUT_SECONDS after the failure that set it (tries while locked are
# refused without extending it); a successful sign-in clears that pair's failures.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("OTC_SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(seconds=env.int("OTC_SIGNIN_LOCKOUT_SECONDS", default=300))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_CLIENT_IP_CALLABLE = "accounts.authentication.client_ip"
AXES_LOCKOUT_CALLABLE = "otc.web.lockout.lockout_response"

# --- Security: proxies, HTTPS, cookies ------------------------------------------------------
# How many reverse proxies in front of the app append to X-Forwarded-For. 0 (the default):
# the header is ignored and the TCP peer is the client, so a client cannot pick its own
# address for the rate limits and the lockout. See README "Running it in production".
OTC_TRUSTED_PROXY_COUNT = env.int("OTC_TRUSTED_PROXY_COUNT", default=0)
# "HTTP_X_FORWARDED_PROTO,https": the header (in request.META form) and value with which the
# TLS-terminating proxy says the original request was https. Unset: no header is believed.
_proxy_ssl_header = env.list("SECURE_PROXY_SSL_HEADER", default=[])
if _proxy_ssl_header:
    if len(_proxy_ssl_header) != 2:
        raise ValueError(
            'SECURE_PROXY_SSL_HEADER takes "HEADER,value", e.g. HTTP_X_FORWARDED_PROTO,https'
        )
    SECURE_PROXY_SSL_HEADER = (_proxy_ssl_header[0], _proxy_ssl_header[1])
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain http
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)

# --- I18N, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en"
# How the portal and the console read and show numbers (otc.web.numbers), chosen from the
# browser's Accept-Language; the API is not affected. The pages' own text is English.
LANGUAGES = [("en", "English"), ("de", "Deutsch"), ("fr", "Français"), ("nl", "Nederlands")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiKeyAuthentication",
        "accounts.authentication.SessionJwtAuthentication",
        "accounts.authentication.PortalSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["accounts.authentication.HasRouteScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["otc.api.inputs.JsonParser"],
    "DEFAULT_THROTTLE_CLASSES": ["otc.api.throttling.CustomerRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "customer": env.str("OTC_API_RATE_LIMIT", default="600/min"),
        "token": env.str("OTC_TOKEN_RATE_LIMIT", default="10/min"),
    },
    "EXCEPTION_HANDLER": "otc.api.errors.api_exception_handler",
    "NUM_PROXIES": OTC_TRUSTED_PROXY_COUNT,
    "DEFAULT_METADATA_CLASS": "otc.api.metadata.EnvelopeMetadata",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OTC Desk API",
    # The docs page's introduction and "first exchange in five minutes" guide.
    "DESCRIPTION": (BASE_DIR / "otc" / "api" / "docs" / "guide.md").read_text(),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI ships with the project (no CDN at run time).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "otc.models.Status",
        # the order's statuses as the API's choice fields list them (value, value)
        "StatusEnum": "otc.models.Status.values",
        "SideEnum": "otc.models.Side",
        "ExchangeStatusEnum": "otc.exchanges.EXCHANGE_STATUSES",
    },
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Path ids as UUIDs and the links between operations (otc/api/schema.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "otc.api.schema.postprocess",
    ],
}

# --- The desk -------------------------------------------------------------------------------
OTC_QUOTE_TTL_SECONDS = env.int("OTC_QUOTE_TTL_SECONDS", default=60)
OTC_PRICE_FEED = env.str("OTC_PRICE_FEED", default="simulated")
OTC_KRAKEN_API_URL = env.str("OTC_KRAKEN_API_URL", default="https://api.kraken.com")
# The desk's days and clock (statements): the time zone of its bank, not the servers' UTC.
OTC_DESK_TIMEZONE = env.str("OTC_DESK_TIMEZONE", default="Europe/Berlin")
# /status: how long one snapshot of the checks is shared between callers (seconds).
OTC_STATUS_CACHE_SECONDS = env.int("OTC_STATUS_CACHE_SECONDS", default=5)
OTC_WEBHOOKS_ALLOW_PRIVATE = env.bool("OTC_WEBHOOKS_ALLOW_PRIVATE", default=DEBUG)
OTC_WEBHOOKS_TIMEOUT_SECONDS = env.float("OTC_WEBHOOKS_TIMEOUT_SECONDS", default=10.0)
OTC_WEBHOOKS_MAX_ATTEMPTS = env.int("OTC_WEBHOOKS_MAX_ATTEMPTS", default=13)
OTC_WEBHOOKS_DISABLE_AFTER_FAILURES = env.int("OTC_WEBHOOKS_DISABLE_AFTER_FAILURES", default=10)
OTC_WEBHOOKS_EVENT_RETENTION_DAYS = env.int("OTC_WEBHOOKS_EVENT_RETENTION_DAYS", default=30)
# Requests in flight to one customer's endpoints at once (one per endpoint, always), and the
# circuit breaker: an endpoint that timed out this many times in a row is paused (no request)
# for OTC_WEBHOOKS_PAUSE_SECONDS, doubled after every further timeout (at most 15 minutes).
OTC_WEBHOOKS_CUSTOMER_CONCURRENCY = env.int("OTC_WEBHOOKS_CUSTOMER_CONCURRENCY", default=2)
OTC_WEBHOOKS_PAUSE_AFTER_TIMEOUTS = env.int("OTC_WEBHOOKS_PAUSE_AFTER_TIMEOUTS", default=3)
OTC_WEBHOOKS_PAUSE_SECONDS = env.float("OTC_WEBHOOKS_PAUSE_SECONDS", default=60.0)
OTC_APPROVAL_TOLERANCE_BPS = env.int("OTC_APPROVAL_TOLERANCE_BPS", default=50)
OTC_FOUR_EYES_THRESHOLD_EUR = _decimal("OTC_FOUR_EYES_THRESHOLD_EUR", default=Decimal("100000"))
# Initial per-order limits of the EUR/USDC pair (migration otc 0004); afterwards the pair's
# rows are the source of truth (admin / console).
OTC_ORDER_LIMITS = {
    "EUR": (
        _decimal("OTC_MIN_ORDER_EUR", default=Decimal("10.00")),
        _decimal("OTC_MAX_ORDER_EUR", default=Decimal("1000000.00")),
    ),
    "USDC": (
        _decimal("OTC_MIN_ORDER_USDC", default=Decimal("10.000000")),
        _decimal("OTC_MAX_ORDER_USDC", default=Decimal("1000000.000000")),
    ),
}
# Off-hours: quotes priced inside these weekly windows (or on a day of the holiday calendar,
# the ``holidays`` package's financial calendars: XECB is TARGET2) carry the pair's penalty.
OTC_OFF_HOURS_TIMEZONE = env.str("OTC_OFF_HOURS_TIMEZONE", default=OTC_DESK_TIMEZONE)
OTC_OFF_HOURS_WINDOWS = env.str(
    "OTC_OFF_HOURS_WINDOWS",
    default="fri 20:00-mon 08:00,mon 20:00-tue 08:00,tue 20:00-wed 08:00,"
    "wed 20:00-thu 08:00,thu 20:00-fri 08:00",
)
OTC_HOLIDAY_CALENDAR = env.str("OTC_HOLIDAY_CALENDAR", default="XECB")
# Price protection: a review price is firm this long; an undecided order is cancelled (a buy
# refunded) at its approval deadline; per-customer daily limit (EUR equivalent, counted per
# day in the desk's time zone) unless the customer has their own.
OTC_REVIEW_TTL_SECONDS = env.int("OTC_REVIEW_TTL_SECONDS", default=120)
OTC_APPROVAL_SLA_MINUTES = env.int("OTC_APPROVAL_SLA_MINUTES", default=240)
OTC_DEFAULT_MAX_SLIPPAGE_BPS = 100
OTC_DAILY_LIMIT_EUR = _decimal("OTC_DAILY_LIMIT_EUR", default=Decimal("5000000.00"))
# Market exchanges (``/exchanges``) execute at once without an operator, up to this size (EUR
# equivalent); larger trades go through the OTC flow.
OTC_MARKET_MAX_EUR = _decimal("OTC_MARKET_MAX_EUR", default=Decimal("10000.00"))
OTC_IDEMPOTENCY_RETENTION = timedelta(hours=env.int("OTC_IDEMPOTENCY_RETENTION_HOURS", default=24))
OTC_SESSION_TOKEN_TTL = timedelta(minutes=env.int("OTC_SESSION_TOKEN_TTL_MINUTES", default=15))
# Simulated providers: a switch (also settable at run time, see `simulate_outage`) makes
# the custody or fiat-rail provider fail so the 502 paths can be exercised.
OTC_SIMULATE_CUSTODY_OUTAGE = env.bool("OTC_SIMULATE_CUSTODY_OUTAGE", default=False)
OTC_SIMULATE_FIAT_OUTAGE = env.bool("OTC_SIMULATE_FIAT_OUTAGE", default=False)
# Seconds a simulated provider waits after recording a transfer (crash tests).
OTC_SIMULATE_CUSTODY_PAUSE_SECONDS = env.float("OTC_SIMULATE_CUSTODY_PAUSE_SECONDS", default=0)
OTC_SIMULATE_FIAT_PAUSE_SECONDS = env.float("OTC_SIMULATE_FIAT_PAUSE_SECONDS", default=0)
# Settlement: how long a provider call may take (after that an unanswered call is known not to
# land), and how long a step may stay open before the beat task resumes it.
OTC_PROVIDER_CALL_TIMEOUT_SECONDS = env.int("OTC_PROVIDER_CALL_TIMEOUT_SECONDS", default=60)
OTC_SETTLEMENT_RESUME_AFTER_SECONDS = env.int("OTC_SETTLEMENT_RESUME_AFTER_SECONDS", default=60)
# The day reconciliation covers and the hour (desk time) the beat runs it for the day before.
OTC_RECONCILE_HOUR = env.int("OTC_RECONCILE_HOUR", default=1)

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "otc.middleware.RequestIdLogFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.server": {"level": "WARNING"},
        # The embedded (filesystem) broker has no host; kombu says so on every connection.
        "kombu.connection": {"level": "ERROR"},
        # axes logs every attempt at INFO; failures and lockouts are WARNING.
        "axes": {"level": "WARNING"},
    },
}
