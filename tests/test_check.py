"""`python -m pagerstatus check` against the sandbox and the Firestore emulator: all ok on a
working configuration, and on a broken one exactly the broken item named, with its fix, a
non-zero exit and nothing written; the function logs the same diagnosis when a sync fails."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from sandbox.launcher import DEMO_SCHEDULER_AUDIENCE, DEMO_SCHEDULER_SERVICE_ACCOUNT, REPO
from tests.harness.firestore import Outage
from tests.harness.sandbox import Sandbox
from tests.harness.world import ACK_V2, COMPONENTS, PAGE_ID, SP_KEY, function_env, pd_key, world

TOKEN = "acme-webhook-token-0123456789"


def run_check(env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """check's exit status and its lines by item: "ok: <detail>" or "FAIL: <detail>; fix: <fix>"."""
    result = subprocess.run([sys.executable, "-m", "pagerstatus", "check"], cwd=REPO, capture_output=True, text=True,
                            timeout=120, env={"PATH": "/usr/bin:/bin", **env})
    items = {}
    for line in result.stdout.splitlines():
        match = re.fullmatch(r"(ok|FAIL) +(configuration|accounts|account \S+: [a-zA-Z ]+|page \w+|lock|periodic sync)"
                             r": (.*)", line)
        assert match, f"not an item line: {line!r}\n{result.stdout}{result.stderr}"
        items[match.group(2)] = f"{match.group(1)}: {match.group(3)}"
    return result.returncode, items


@pytest.fixture
def configured(sandbox: Sandbox, firestore_project: str) -> Iterator[tuple[Sandbox, dict[str, str]]]:
    """A sandbox with a page and account acme, and the environment a deployment would give the
    function for them: a webhook token, the Firestore lock (the emulator), the periodic sync."""
    sandbox.add_page(PAGE_ID, SP_KEY, components=COMPONENTS)
    sandbox.add_account("acme", pd_key("acme"), webhook_token=TOKEN)
    env = function_env(sandbox, ["acme"], PAGERSTATUS_ALLOW_UNAUTHENTICATED="", PD_WEBHOOK_TOKEN_ACME=TOKEN,
                       PAGERSTATUS_LOCK="firestore", GOOGLE_CLOUD_PROJECT=firestore_project,
                       FIRESTORE_EMULATOR_HOST=os.environ["FIRESTORE_EMULATOR_HOST"],
                       PAGERSTATUS_SCHEDULER_AUDIENCE=DEMO_SCHEDULER_AUDIENCE,
                       PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT=DEMO_SCHEDULER_SERVICE_ACCOUNT,
                       PAGERSTATUS_OIDC_CERTS_URL=f"{sandbox.url}/_sandbox/oidc/certs")
    yield sandbox, env


def test_check_passes_on_a_working_configuration_and_writes_nothing(configured, firestore_clients):
    sandbox, env = configured
    status, items = run_check(env)
    assert status == 0, items
    assert sorted(items) == ["account acme: API key", "account acme: webhook credential", "configuration", "lock",
                             f"page {PAGE_ID}", "periodic sync"]
    assert all(line.startswith("ok: ") for line in items.values()), items
    assert items["account acme: webhook credential"] == "ok: token"
    assert "Firestore database (default)" in items["lock"]
    assert DEMO_SCHEDULER_SERVICE_ACCOUNT in items["periodic sync"]
    # Reads only: nothing written to either API, and no lease document created.
    assert {r["method"] for r in sandbox.requests()} == {"GET"}
    assert {r["api"] for r in sandbox.requests()} >= {"pagerduty", "statuspage"}
    assert list(firestore_clients().collections()) == []


@pytest.mark.parametrize(("broken", "item", "fix"), [
    ({"PD_ACCOUNT_ACME": "a-revoked-key"}, "account acme: API key", "secret pagerstatus-pd-acme-api-key"),
    ({"PD_WEBHOOK_TOKEN_ACME": None}, "account acme: webhook credential", "pagerstatus-pd-acme-webhook-token"),
    ({"STATUSPAGE_KEY": "a-wrong-key"}, f"page {PAGE_ID}", "Statuspage refused the API key"),
    ({"STATUSPAGE_PAGE": f"{PAGE_ID},nosuchpage1"}, "page nosuchpage1", "the key reaches no such page"),
    ({"FIRESTORE_EMULATOR_HOST": "outage"}, "lock", "the lock's Firestore database could not be read"),
], ids=["wrong-pagerduty-key", "no-webhook-credential", "wrong-statuspage-key", "unknown-page",
        "unreachable-firestore"])
def test_check_names_the_broken_item_and_its_fix(configured, broken, item, fix):
    sandbox, env = configured
    outage = None
    if broken.get("FIRESTORE_EMULATOR_HOST") == "outage":
        outage = Outage(env["FIRESTORE_EMULATOR_HOST"])
        outage.stop()  # Firestore gone: every connection refused
        broken = {"FIRESTORE_EMULATOR_HOST": outage.host}
    env = {name: value for name, value in {**env, **broken}.items() if value is not None}
    try:
        status, items = run_check(env)
    finally:
        if outage is not None:
            outage.close()
    assert status == 1, items
    assert [name for name, line in items.items() if line.startswith("FAIL")] == [item], items
    assert fix in items[item].split("; fix: ", 1)[1], items[item]
    assert {r["method"] for r in sandbox.requests()} <= {"GET"}


@pytest.mark.parametrize(("broken", "item", "status"), [
    ({"PD_ACCOUNT_BETA": "a-revoked-key"}, "account beta: API key", 503),
    ({"PD_WEBHOOK_TOKEN_BETA": " "}, "account beta: keys", 500),
], ids=["revoked-key", "blank-credential"])
def test_the_function_logs_the_diagnosis_check_prints_naming_the_account(broken, item, status):
    # One broken account fails every sync (its incidents cannot be read; without them the sync
    # would resolve what it alone keeps open): the function's log names it, with check's fix.
    with world(accounts=("acme", "beta"), extra_env=broken) as (_, function):
        answer = function.post("/acme", ACK_V2)
        assert answer.status_code == status, answer.text
        [logged] = [entry for entry in function.logs() if entry.get("severity") == "ERROR"]
        _, items = run_check(function.env)
    assert logged["account"] == "beta", logged
    assert items[item] == f"FAIL: {logged['error']}; fix: {logged['fix']}", (items, logged)
