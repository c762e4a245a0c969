"""The README's first command runs the desk on embedded defaults (a SQLite file and a broker
folder, no PostgreSQL, no Redis). The hot path has PostgreSQL-only statements with portable
fallbacks; this runs the demo's trades on a real SQLite database in a child process, the way
``scripts/run.sh`` configures it, so a fallback that breaks shows here and not in a new
user's first quote."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import json, sys, uuid
from datetime import timedelta
from django.test import Client
from django.utils import timezone
from otc import services

demo = json.load(open(sys.argv[1]))
acme = demo["customers"]["acme"]
api = Client(HTTP_X_API_KEY=acme["apiKeys"]["write"])
account, wallet = acme["accounts"]["eurMaster"], acme["wallets"]["primary"]

def post(path, body, **headers):
    response = api.post(path, body, content_type="application/json", **headers)
    return response.status_code, response.json()

out = {}
code, buy = post("/api/v1/otc-exchanges/quote", {
    "side": "buy", "sourceFrAccountId": account, "destinationUtilaWalletId": wallet,
    "destinationAmountUsdc": "1000.000000"})
out["buy_quote"] = [code, buy["data"]["fixedSide"] if code == 200 else buy]
code, body = post("/api/v1/otc-exchanges", {"side": "buy", "quoteId": buy["data"]["quoteId"]},
                  HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
out["buy_confirm"] = [code, body["data"]["status"] if code == 201 else body]
from otc import settlement  # the bank's debit, settled here (the simulated bank on SQLite)
out["buy_settled"] = settlement.advance(buy["data"]["quoteId"]).status
code, sell = post("/api/v1/otc-exchanges/quote", {
    "side": "sell", "sourceUtilaWalletId": wallet, "destinationFrAccountId": account,
    "sourceAmountUsdc": "500.000000"})
out["sell_quote"] = [code, sell.get("error")]
code, body = post("/api/v1/otc-exchanges", {"side": "sell", "quoteId": sell["data"]["quoteId"]},
                  HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
out["sell_confirm"] = [code, body["data"]["status"] if code == 201 else body]
balance = api.get(f"/api/v1/otc-exchanges/wallets/{wallet}/balance").json()["data"]
out["held"] = balance["held"]
code, stale = post("/api/v1/otc-exchanges/quote", {
    "side": "buy", "sourceFrAccountId": account, "destinationUtilaWalletId": wallet,
    "sourceAmountEur": "100.00"})
out["expired"] = services.quotes_expire(now=timezone.now() + timedelta(hours=1))
out["stale_status"] = api.get(f"/api/v1/otc-exchanges/{stale['data']['quoteId']}").json()[
    "data"]["status"]
print("RESULT " + json.dumps(out))
"""


def test_the_demo_trades_on_the_embedded_sqlite_defaults(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "PYTEST_VERSION", "OTC_REDIS_NAMESPACE"}
        and not key.startswith("PYTEST_")
    }
    env.update(OTC_VAR_DIR=str(tmp_path), CELERY_TASK_ALWAYS_EAGER="true")

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    manage("migrate", "--noinput")
    (tmp_path / "demo.json").write_text(manage("seed_demo", "--json"))
    script = tmp_path / "trade.py"
    script.write_text(SCRIPT)
    output = manage(
        "shell",
        "-c",
        f"import sys; sys.argv = ['trade', '{tmp_path / 'demo.json'}']; "
        f"exec(open('{script}').read())",
    )
    assert (tmp_path / "otc.sqlite3").exists()  # it really ran on SQLite
    result = json.loads(output.split("RESULT ", 1)[1])
    assert result["buy_quote"] == [200, "destination"]
    assert result["buy_confirm"][0] == 201, result
    assert result["buy_settled"] == "pending_approval", result
    assert result["sell_quote"] == [200, None]
    assert result["sell_confirm"] == [201, "pending_approval"]
    assert result["held"] == "500.000000"
    assert result["expired"] == 1
    assert result["stale_status"] == "expired"
