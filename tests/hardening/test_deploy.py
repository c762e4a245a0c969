"""The production settings (DEBUG off) pass ``manage.py check --deploy`` with no warning, and
do what the checks ask for: HTTPS redirect (believing the proxy's header only when configured),
HSTS, secure cookies. Each runs in a fresh process, since settings are read at start-up."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "SECURE_", "OTC_")) and key != "DEBUG"
    }
    env.pop("DATABASE_URL", None)  # a scratch SQLite file: nothing here touches the database
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="desk.example.com",
        OTC_VAR_DIR=str(tmp_path),
        DJANGO_SETTINGS_MODULE="config.settings",
        **extra,
    )
    return env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("proxy_header", ["", "HTTP_X_FORWARDED_PROTO,https"])
def test_check_deploy_is_clean_in_production(tmp_path, proxy_header):
    env = production_env(tmp_path, SECURE_PROXY_SSL_HEADER=proxy_header)
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


PROBE = """
import json
import django
django.setup()
from django.conf import settings
from django.test import Client

client = Client(HTTP_HOST="desk.example.com")
out = {}
plain = client.get("/api/v1/otc-exchanges/accounts")
out["plain"] = [plain.status_code, plain.get("Location")]
proxied = client.get("/api/v1/otc-exchanges/accounts", HTTP_X_FORWARDED_PROTO="https")
out["proxied"] = [proxied.status_code, proxied.get("Strict-Transport-Security")]
out["secure_cookies"] = [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE]
health = client.get("/healthz")
out["healthz"] = health.status_code
print(json.dumps(out))
"""


def probe(tmp_path: Path, **extra: str) -> dict:
    result = run(["-c", PROBE], production_env(tmp_path, **extra))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_behind_a_configured_proxy_https_is_believed_and_hsts_sent(tmp_path):
    out = probe(tmp_path, SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https")
    assert out["plain"] == [301, "https://desk.example.com/api/v1/otc-exchanges/accounts"]
    status, hsts = out["proxied"]
    assert status == 401  # served (and refused for want of a key), not redirected
    assert hsts == "max-age=31536000; includeSubDomains; preload"
    assert out["secure_cookies"] == [True, True]
    assert out["healthz"] != 301  # load balancers probe over plain http


def test_without_a_configured_proxy_the_forwarded_proto_header_is_not_believed(tmp_path):
    out = probe(tmp_path)
    assert out["plain"][0] == 301
    assert out["proxied"][0] == 301  # a client cannot claim https by sending the header
