"""The floor's own tiny settings: one app, no middleware, DEBUG off, the same database
connection settings as the desk (persistent connections with health checks)."""

import environ

env = environ.Env()

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY", default="bench-floor-not-secret")
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
INSTALLED_APPS = ["bench.floor"]
MIDDLEWARE: list = []
ROOT_URLCONF = "bench.floor.urls"
WSGI_APPLICATION = "bench.floor.wsgi.application"
DATABASES = {"default": env.db("FLOOR_DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
