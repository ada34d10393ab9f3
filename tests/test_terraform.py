"""terraform/: formatting, checkov, and cross-checks of the HCL against the Python code.

Providers cannot be downloaded here, so `terraform validate`/`plan` cannot run; instead
the configuration is parsed with python-hcl2 and compared with what the code expects:
entry point, environment variable names, secret IDs, webhook events and header, and the
files that go into the function's zip. The code side is the code itself: its constants and
functions are imported, and the variables it reads are recorded while it reads them, so
that renaming either side fails a test.
"""
from __future__ import annotations

import ast
import functools
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from pagerstatus.app import SCHEDULED_SYNC_PATH
from pagerstatus.config import load_settings
from pagerstatus.endpoints import PAGERDUTY_REGION_URLS
from pagerstatus.errors import ConfigError
from pagerstatus.keys import ACCOUNT_NAME_PATTERN, AccountName, EnvKeySource, check_distinct
from pagerstatus.secretmanager import STATUSPAGE_SECRET_ID, account_secret_ids, page_secret_id
from pagerstatus.webhook import SYNC_EVENTS, TOKEN_HEADER

ROOT = Path(__file__).resolve().parent.parent
TF_DIR = ROOT / "terraform"
# Everything on Google Cloud; the root module (TF_DIR) and the examples instantiate it.
GCP_MODULE = TF_DIR / "modules" / "pagerstatus"
ACCOUNT_MODULE = TF_DIR / "modules" / "pagerduty_account"
EXAMPLE = TF_DIR / "examples" / "two-accounts"
TF_FILES = sorted(p for p in TF_DIR.rglob("*.tf") if ".terraform" not in p.parts)
MODULES = sorted({p.parent for p in TF_FILES})

# Settings the code reads that Terraform deliberately leaves unset. A new setting in the code
# must either be set in terraform/function.tf (local.function_env) or be listed here.
NOT_SET_BY_TERRAFORM = {
    "PAGERDUTY_API_URL": "API base URL override for the local sandbox and tests",
    "STATUSPAGE_API_URL": "API base URL override for the local sandbox and tests",
    "STATUSPAGE_KEY": "PAGERSTATUS_SECRETS=env only; on Google Cloud the key is in Secret Manager",
    # STATUSPAGE_KEY_<PAGE ID> for the page the check below reads a key for.
    "STATUSPAGE_KEY_PAGE1": "PAGERSTATUS_SECRETS=env only; on Google Cloud a page's own key is in Secret Manager",
    "PAGERSTATUS_INCIDENT_NAME": "optional template; the code's default applies",
    "PAGERSTATUS_INCIDENT_BODY": "optional template; the code's default applies",
    "PAGERSTATUS_RESOLVED_BODY": "optional template; the code's default applies",
    "PAGERSTATUS_OIDC_CERTS_URL": "certificate URL override for the sandbox and tests; Google's by default",
    "PAGERSTATUS_ALLOW_UNAUTHENTICATED": "local demos only; Terraform gives every account a webhook token",
    "PAGERSTATUS_WRITES_IN_FLIGHT": "optional tuning; the code's default applies",
    "PAGERSTATUS_PAGERDUTY_READS_IN_FLIGHT": "optional tuning; the code's default applies",
    "PAGERSTATUS_RESYNC_SETTLE_MS": "optional tuning; the code's default applies",
    "PAGERSTATUS_READ_BUDGET_SECONDS": "optional tuning; the code's default applies",
}
# Paths that must never be in the function zip.
NEVER_SHIPPED = (".venv", ".venv-checkov", ".git", ".ci", "tests", "terraform", "bench", "scripts", "sandbox",
                 ".pytest_cache", ".hypothesis", "__pycache__")


# -- helpers over python-hcl2's output ---------------------------------------------------------

def load(path: Path) -> dict:
    """python-hcl2's output without comments or block markers, string literals without their quotes:
    a literal reads "zip", an expression "${var.x}"."""
    try:
        import hcl2
    except ImportError:
        pytest.fail("python-hcl2 is not installed: run `make install` (it is in requirements-dev.txt)")
    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    with path.open(encoding="utf-8") as handle:
        return hcl2.load(handle, serialization_options=options)


@functools.cache
def hcl(directory: Path) -> dict[str, list]:
    """One module's top-level blocks by kind ("variable", "resource", ...), over all its .tf files."""
    merged: dict[str, list] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, items in load(path).items():
            merged.setdefault(kind, []).extend(items)
    return merged


def literal(value: Any) -> str:
    """A string literal's value; fails on an expression such as ${var.x}."""
    assert isinstance(value, str) and "${" not in value, f"expected a string literal in the HCL, found {value!r}"
    return value


def named(kind: str, directory: Path = GCP_MODULE, of_type: str | None = None) -> dict[str, dict]:
    """A module's blocks of one kind by name: named("variable"), or of one type: named("resource",
    of_type="google_storage_bucket") for `resource "google_storage_bucket" "<name>"`."""
    found: dict[str, dict] = {}
    for block in hcl(directory).get(kind, []):
        for label, body in block.items():
            if of_type is None:
                found[label] = body
            elif label == of_type:
                found.update(body)
    return found


def one(kind: str, of_type: str, directory: Path = GCP_MODULE) -> dict:
    found = named(kind, directory, of_type)
    assert len(found) == 1, f"{directory}: expected exactly one {kind} {of_type}, found {sorted(found)}"
    return next(iter(found.values()))


def the_function() -> dict:
    return one("resource", "google_cloudfunctions2_function")


def locals_(directory: Path = GCP_MODULE) -> dict[str, Any]:
    return {name: value for block in hcl(directory).get("locals", []) for name, value in block.items()}


def resolve_local(value: Any, directory: Path = GCP_MODULE) -> Any:
    """Follow a bare "${local.name}" reference to the local's value."""
    match = re.fullmatch(r"\$\{local\.(\w+)\}", value) if isinstance(value, str) else None
    if match is None:
        return value
    table = locals_(directory)
    assert match.group(1) in table, f"local.{match.group(1)} is referenced but not defined in {directory}"
    return table[match.group(1)]


def default(variable: str, directory: Path = GCP_MODULE) -> Any:
    return named("variable", directory)[variable].get("default")


def conditions(variable: str, directory: Path = GCP_MODULE) -> str:
    """The conditions of a variable's validation blocks, joined."""
    return " ".join(rule["condition"] for rule in named("variable", directory)[variable].get("validation", []))


def module_calls(directory: Path, module: Path) -> dict[str, dict]:
    """Module blocks in directory that instantiate module, by block name."""
    return {name: body for name, body in named("module", directory).items()
            if (directory / body["source"]).resolve() == module.resolve()}


def gcp_module_call(directory: Path) -> dict:
    calls = module_calls(directory, GCP_MODULE)
    assert len(calls) == 1, f"{directory}: expected one module using modules/pagerstatus, found {sorted(calls)}"
    return next(iter(calls.values()))


# -- 1. formatting and checkov ---------------------------------------------------------------

def test_terraform_fmt():
    terraform = shutil.which("terraform")
    assert terraform, ("terraform is not on PATH; install Terraform >= 1.5: https://developer.hashicorp.com/terraform/"
                       "install (Debian/Ubuntu: the HashiCorp apt repository, `apt-get install terraform`)")
    result = subprocess.run([terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, (
        f"terraform fmt -check failed; run `terraform fmt -recursive terraform`\n{result.stdout}{result.stderr}")


def test_checkov():
    result = subprocess.run(["bash", "scripts/checkov.sh"], capture_output=True, text=True, timeout=1200, cwd=ROOT)
    assert result.returncode != 3, ("checkov could not be set up (scripts/checkov.sh installs it into .venv-checkov; "
                                    "it needs python3 -m venv and PyPI):\n" + result.stderr[-4000:])
    assert result.returncode == 0, (
        "checkov reported failed checks in terraform/. Fix them, or where a check does not apply, skip it on the "
        "resource with `#checkov:skip=CKV_ID:reason`.\n" + result.stdout[-8000:] + result.stderr[-2000:])


def test_every_checkov_skip_has_a_reason():
    for path in TF_FILES:
        for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text(encoding="utf-8")):
            reason = (match.group(2) or "").strip()
            assert len(reason) >= 20, f"{path}: #checkov:skip={match.group(1)} needs a reason after ':'"


# -- 2. entry point and environment -----------------------------------------------------------

def test_entry_point_is_the_pagerstatus_function_in_main_py():
    build = the_function()["build_config"][0]
    assert build["entry_point"] == "pagerstatus"
    assert build["runtime"] == "python312"
    tree = ast.parse((ROOT / "main.py").read_text(encoding="utf-8"))
    functions = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert "pagerstatus" in functions, f"main.py defines {sorted(functions)}, not the entry point `pagerstatus`"


def test_function_service_settings():
    service = the_function()["service_config"][0]
    # Concurrency above 1 (the in-process gate coalesces a burst) needs a whole vCPU.
    assert service["max_instance_request_concurrency"] == "${var.max_instance_request_concurrency}"
    assert default("max_instance_request_concurrency") > 1
    assert service["available_cpu"] == "1"
    assert service["available_memory"] == "512Mi"
    assert service["ingress_settings"] == "ALLOW_ALL"
    assert service["max_instance_count"] == "${var.max_instance_count}"
    assert default("max_instance_count") == 10
    assert service["timeout_seconds"] == "${var.timeout_seconds}"
    assert default("timeout_seconds") == 60
    assert service["service_account_email"] == "${google_service_account.function.email}"

    invoker = one("resource", "google_cloud_run_service_iam_member")
    assert invoker["role"] == "roles/run.invoker"
    assert invoker["member"] == "allUsers"
    assert "google_cloudfunctions2_function.pagerstatus" in invoker["service"]


def terraform_env() -> dict[str, Any]:
    env = resolve_local(the_function()["service_config"][0]["environment_variables"])
    assert isinstance(env, dict), f"environment_variables must be a literal map (or a local holding one), found {env!r}"
    return env


def test_fixed_environment_values():
    env = terraform_env()
    assert env["PAGERSTATUS_SECRETS"] == "secretmanager"
    assert env["PAGERSTATUS_LOCK"] == "firestore"
    assert env["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"
    assert env["STATUSPAGE_PAGE"] == '${join(",", local.statuspage_pages)}'  # the list, as the code parses it
    assert default("open_on") == "acknowledged"
    assert default("severity") == ""


def regions_for(accounts: dict[str, str]) -> str:
    """PAGERSTATUS_PAGERDUTY_REGIONS as Terraform sets it for these accounts (name -> service_region)."""
    variables = {"pagerduty_accounts": {name: {"api_key": "key", "service_region": region}
                                        for name, region in accounts.items()}}
    return terraform_values(variables, {"regions": terraform_env()["PAGERSTATUS_PAGERDUTY_REGIONS"]},
                            ["accounts", "pagerduty_regions"])["regions"]


def test_each_account_is_read_through_its_service_regions_api():
    assert 'contains(["us", "eu"], account.service_region)' in conditions("pagerduty_accounts")
    assert set(PAGERDUTY_REGION_URLS) == {"us", "eu"}
    regions = regions_for({"primary": "us", "acme": "eu", "zeta": "eu"})
    settings = load_settings({"STATUSPAGE_PAGE": "page1", "PAGERSTATUS_PAGERDUTY_REGIONS": regions})
    urls = {name: settings.pagerduty_api_url_for(AccountName(name)) for name in ("primary", "acme", "zeta")}
    assert urls == {"primary": PAGERDUTY_REGION_URLS["us"], "acme": PAGERDUTY_REGION_URLS["eu"],
                    "zeta": PAGERDUTY_REGION_URLS["eu"]}


def test_adding_a_us_account_leaves_the_functions_environment_as_it_is():
    # Only accounts outside the default region are listed: a new US account is a new secret
    # (found by listing), not a new revision of the function.
    assert regions_for({"primary": "us"}) == regions_for({"primary": "us", "acme": "us"}) == ""
    assert regions_for({"primary": "us", "acme": "eu"}) == regions_for({"acme": "eu", "other": "us"}) == "acme=eu"


class RecordingEnviron(dict):
    """An environment that notes every variable looked up in it."""

    def __init__(self, values: dict[str, str]):
        super().__init__(values)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def test_terraform_sets_exactly_the_variables_the_code_reads():
    # What load_settings and the environment's statuspage_key look up, with every optional
    # setting on so that every branch runs (the scheduler's certificate URL is read only then).
    environ = RecordingEnviron({"STATUSPAGE_PAGE": "page1", "GOOGLE_CLOUD_PROJECT": "project-1",
                                "PAGERSTATUS_SECRETS": "secretmanager", "STATUSPAGE_KEY": "sp-key",
                                "PAGERSTATUS_SCHEDULER_AUDIENCE": "https://function.example",
                                "PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": "scheduler@project-1.iam.gserviceaccount.com"})
    load_settings(environ)
    EnvKeySource(environ).statuspage_key("page1")
    assert {"STATUSPAGE_PAGE", "PAGERSTATUS_OIDC_CERTS_URL", "STATUSPAGE_KEY"} <= environ.read, environ.read
    unread = sorted(set(terraform_env()) - environ.read)
    assert not unread, f"Terraform sets {unread}, which the code does not read (a renamed or unimplemented setting)"
    unknown = sorted(environ.read - set(terraform_env()) - set(NOT_SET_BY_TERRAFORM))
    assert not unknown, (
        f"the code reads {unknown}, which Terraform neither sets nor lists as intentionally unset: "
        "add them to local.function_env in terraform/function.tf (with a variable if they vary), "
        "or to NOT_SET_BY_TERRAFORM in tests/test_terraform.py with the reason"
    )


# -- 3. secret IDs ---------------------------------------------------------------------------

def test_secret_ids_are_the_ones_the_code_reads():
    table = locals_()
    assert table["statuspage_secret_id"] == STATUSPAGE_SECRET_ID
    secrets = named("resource", of_type="google_secret_manager_secret")
    assert secrets["statuspage_api_key"]["secret_id"] == "${local.statuspage_secret_id}"
    assert secrets["account"]["secret_id"] == "${each.value.secret_id}"

    # local.account_secret_ids: for account in local.accounts : account => {kind = "<template>", ...}
    expression = table["account_secret_ids"]
    loop = re.search(r"for (\w+) in local\.accounts", expression)
    assert loop, expression
    account = AccountName("other-team_2")
    templates = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', expression))
    rendered = {kind: template.replace(f"${{{loop.group(1)}}}", account) for kind, template in templates.items()}
    assert rendered == dict(zip(("api_key", "webhook_secret", "webhook_token"), account_secret_ids(account),
                                strict=True)), expression


@pytest.mark.parametrize("directory,variable", [(GCP_MODULE, "pagerduty_accounts"), (ACCOUNT_MODULE, "account")])
def test_account_names_are_validated_with_the_codes_pattern(directory, variable):
    patterns = [re.sub(r"\\(.)", r"\1", pattern)
                for pattern in re.findall(r'can\(regex\("((?:[^"\\]|\\.)*)",', conditions(variable, directory))]
    assert ACCOUNT_NAME_PATTERN in patterns, f"{directory}: var.{variable} is not checked with {ACCOUNT_NAME_PATTERN}"


def test_accounts_that_differ_only_in_dash_and_underscore_are_refused_as_the_code_refuses_them():
    accounts = conditions("pagerduty_accounts")
    assert 'replace(name, "-", "_")' in accounts and "distinct(" in accounts, accounts
    with pytest.raises(ConfigError):
        check_distinct([AccountName("a-b"), AccountName("a_b")], "test")


def test_severity_keys_given_twice_are_refused_as_the_code_refuses_them():
    severity = conditions("severity")
    assert "distinct(" in severity and "lower(" in severity, severity
    with pytest.raises(ConfigError, match="PAGERSTATUS_SEVERITY"):
        load_settings({"STATUSPAGE_PAGE": "page1", "PAGERSTATUS_SEVERITY": "P1=major_outage,p1=partial_outage"})


def test_a_new_secret_version_is_created_before_the_old_one_goes():
    # A key change replaces the version; destroyed first, a cold instance could find no version.
    versions = {f"{directory.name}/{name}": body for directory in MODULES
                for name, body in named("resource", directory, of_type="google_secret_manager_secret_version").items()}
    assert set(versions) == {"pagerstatus/statuspage_api_key", "pagerstatus/statuspage_page_api_key",
                             "pagerstatus/account"}, sorted(versions)
    for name, body in versions.items():
        assert body["lifecycle"][0]["create_before_destroy"] is True, name


def test_secrets_are_labelled_and_auto_replicated():
    secrets = named("resource", of_type="google_secret_manager_secret")
    assert set(secrets) == {"statuspage_api_key", "statuspage_page_api_key", "account"}
    for name, body in secrets.items():
        assert re.search(r'\bpagerstatus\s*=\s*"true"', body["labels"]), f"{name}: missing label pagerstatus = \"true\""
        assert "auto" in body["replication"][0], f"{name}: replication must be auto {{}}"
    assert re.search(r'"?pagerstatus-account"?\s*=\s*each\.value\.account', secrets["account"]["labels"])
    assert re.search(r'"?pagerstatus-page"?\s*=\s*lower\(each\.key\)', secrets["statuspage_page_api_key"]["labels"])


# -- 4. variables and outputs ----------------------------------------------------------------

@pytest.mark.parametrize("directory", MODULES, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_variable_and_output_is_described(directory):
    variables = named("variable", directory)
    assert variables, f"{directory}: no variable found (has python-hcl2's output changed?)"
    for label, body in variables.items():
        assert "type" in body, f"{directory}: variable {label} has no type"
        assert body.get("description", "").strip(), f"{directory}: variable {label} has no description"
    for label, body in named("output", directory).items():
        assert body.get("description", "").strip(), f"{directory}: output {label} has no description"


# -- 5. PagerDuty webhooks, the periodic sync, and how the modules are wired ----------------

def test_webhook_events_are_ones_the_function_syncs_on():
    events = resolve_local(one("resource", "pagerduty_webhook_subscription", ACCOUNT_MODULE)["events"], ACCOUNT_MODULE)
    assert isinstance(events, list) and events, f"events must be a literal list, found {events!r}"
    events = [literal(e) for e in events]
    assert set(events) <= SYNC_EVENTS, f"not synced on: {sorted(set(events) - SYNC_EVENTS)}"


def test_webhook_delivery_header_and_scope():
    body = one("resource", "pagerduty_webhook_subscription", ACCOUNT_MODULE)
    assert body["type"] == "webhook_subscription"
    assert body["active"] is True
    delivery = body["delivery_method"][0]
    assert delivery["type"] == "http_delivery_method"
    url = resolve_local(delivery["url"], ACCOUNT_MODULE)
    assert url.endswith("/${var.account}"), url
    headers = delivery["custom_header"]
    assert [h["name"] for h in headers] == [TOKEN_HEADER]
    assert headers[0]["value"] == "${var.webhook_token}"
    # Account-wide without service_ids, else one subscription per service.
    assert body["for_each"] == "${local.subscription_scopes}"
    scopes = locals_(ACCOUNT_MODULE)["subscription_scopes"]
    assert "account_reference" in scopes and "service_reference" in scopes and "var.service_ids" in scopes, scopes
    filter_ = body["filter"][0]
    assert (filter_["type"], filter_["id"]) == ("${each.value.type}", "${each.value.id}")


def test_the_legacy_v2_extension_is_opt_in_and_sends_the_token():
    extension = one("resource", "pagerduty_extension", ACCOUNT_MODULE)
    assert "var.generic_v2_webhook" in extension["for_each"]
    assert extension["endpoint_url"] == "${local.webhook_url}"
    assert TOKEN_HEADER in extension["config"] and "var.webhook_token" in extension["config"]
    assert one("data", "pagerduty_extension_schema", ACCOUNT_MODULE)["name"] == "Generic V2 Webhook"
    assert default("generic_v2_webhook", ACCOUNT_MODULE) is False


def test_the_periodic_sync_calls_a_path_the_function_serves_with_an_oidc_token():
    job = one("resource", "google_cloud_scheduler_job")
    target = job["http_target"][0]
    assert target["http_method"] == "POST"
    assert target["uri"] == "${local.function_url}/" + SCHEDULED_SYNC_PATH
    assert "headers" not in target, "the periodic sync authenticates with its ID token, not a shared token"
    oidc = target["oidc_token"][0]
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    assert oidc["audience"] == "${local.scheduler_audience}"
    # The function trusts exactly that identity and audience.
    env = terraform_env()
    assert env["PAGERSTATUS_SCHEDULER_AUDIENCE"] == oidc["audience"]
    assert env["PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT"] == oidc["service_account_email"]
    assert default("sync_schedule") == "*/5 * * * *"
    # The cadence itself: test_the_backstop_runs_every_minute_when_a_timed_rule_is_on.
    assert job["count"] == '${local.sync_schedule == "" ? 0 : 1}'
    assert job["schedule"] == "${local.sync_schedule}"
    scheduler = named("resource", of_type="google_service_account")["scheduler"]
    assert not [binding for binding in named("resource", of_type="google_project_iam_member").values()
                if "google_service_account.scheduler" in binding["member"]], "the scheduler identity needs no roles"
    assert scheduler["account_id"] == "pagerstatus-scheduler"


@pytest.mark.parametrize("directory", [TF_DIR, EXAMPLE], ids=["root", "two-accounts"])
def test_each_account_module_is_wired_to_its_own_provider_and_token(directory):
    modules = module_calls(directory, ACCOUNT_MODULE)
    assert modules, f"{directory}: no module uses modules/pagerduty_account"
    aliases = {literal(body["alias"]) for block in hcl(directory)["provider"]
               for name, body in block.items() if name == "pagerduty" and "alias" in body}
    accounts = set()
    for name, body in modules.items():
        account = literal(body["account"])
        accounts.add(account)
        assert body["providers"] == {"pagerduty": f"${{pagerduty.{account}}}"}, (name, body["providers"])
        assert account in aliases, f"module {name}: no provider \"pagerduty\" with alias = \"{account}\""
        token = f'${{module.pagerstatus.webhook_tokens["{account}"]}}'
        assert body["webhook_token"] == token, (name, body["webhook_token"])
        assert body["function_url"] == "${module.pagerstatus.function_url}"
    assert len(accounts) == len(modules), f"{directory}: two modules for one account"
    if directory == TF_DIR:
        # The accounts come from TF_VAR_pagerduty_accounts (they hold keys), as the example shows.
        example = (TF_DIR / "terraform.tfvars.example").read_text()
        assert set(re.findall(r"TF_VAR_pagerduty_accounts='\{ ([a-z0-9_-]+) =", example)) == accounts
    else:
        call = gcp_module_call(directory)
        assert set(call["pagerduty_accounts"]) == accounts, call["pagerduty_accounts"]


def test_the_root_passes_every_input_of_the_google_cloud_module():
    call = gcp_module_call(TF_DIR)
    passed = set(call) - {"source"}
    declared = named("variable")
    assert passed == set(declared), \
        f"not passed: {sorted(set(declared) - passed)}; unknown: {sorted(passed - set(declared))}"
    for name in passed - {"pagerduty_accounts"}:
        assert call[name] == f"${{var.{name}}}", (name, call[name])
        assert default(name, TF_DIR) == declared[name].get("default"), f"defaults of {name} differ"
    required = {name for name, body in declared.items() if "default" not in body}
    example_call = gcp_module_call(EXAMPLE)
    assert required <= set(example_call), f"the example misses {sorted(required - set(example_call))}"

def make_deploy(*arguments: str, dry_run: bool = True) -> subprocess.CompletedProcess:
    command = ["make", "--no-print-directory", *(["-n"] if dry_run else []), "deploy", *arguments]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)


def test_make_deploy_initialises_the_state_bucket_it_is_given_then_applies_the_root_module():
    # The root's state goes to a gcs backend whose settings come at init, from make deploy.
    [terraform] = hcl(TF_DIR)["terraform"]
    assert terraform["backend"] == [{"gcs": {}}]
    result = make_deploy("TF_STATE_BUCKET=my-state-bucket")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ("terraform -chdir=terraform init -input=false -backend-config=bucket=my-state-bucket "
            "-backend-config=prefix=pagerstatus") in lines, result.stdout
    assert lines[-1] == "terraform -chdir=terraform apply", result.stdout
    # Or the backend's settings in a file, e.g. terraform/backend.hcl (git-ignored).
    with tempfile.NamedTemporaryFile(suffix=".hcl") as settings:
        result = make_deploy(f"TF_BACKEND_CONFIG={settings.name}")
    assert f"terraform -chdir=terraform init -input=false -backend-config={settings.name}" in result.stdout.splitlines()
    assert "backend.hcl" in (TF_DIR / ".gitignore").read_text().splitlines()  # it names the state bucket


def test_make_deploy_without_a_state_bucket_stops_before_terraform_runs():
    result = make_deploy("TF_BACKEND_CONFIG=/nonexistent/backend.hcl", dry_run=False)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Set TF_STATE_BUCKET=<bucket>" in result.stderr and "terraform -chdir" not in result.stdout, result


# -- 6. the function's source archive --------------------------------------------------------

SOURCE_LOCALS = ["source_include_files", "source_package", "source_module_name", "source_cli_only", "source_files"]


def zipped(repo_root: Path) -> list[str]:
    """What Terraform puts in the function zip from the tree at repo_root: local.source_files as
    `terraform console` evaluates it, after file() has read each of them as data.archive_file does."""
    values = terraform_values({}, {"files": "${local.source_files}", "read": "${[for file in local.source_files : "
                                   "length(file(\"${local.repo_root}/${file}\"))]}"},
                              SOURCE_LOCALS, given_locals={"repo_root": json.dumps(str(repo_root))})
    assert len(values["read"]) == len(values["files"])
    return values["files"]


@functools.cache
def shipped_files() -> list[str]:
    return zipped(ROOT)


def test_archive_is_built_from_the_include_list():
    archive = one("data", "archive_file")
    assert archive["type"] == "zip"
    dynamic = archive["dynamic"][0]["source"]
    assert dynamic["for_each"] == "${local.source_files}"
    assert dynamic["content"][0]["filename"] == "${source.value}"
    assert locals_()["repo_root"] == "${path.module}/../../.."

    files = shipped_files()
    for required in ("main.py", "requirements.txt", "pagerstatus/__init__.py"):
        assert required in files
    # The command line's modules stay out: main.py never imports them (next test: exactly what it imports).
    assert "pagerstatus/__main__.py" not in files and "pagerstatus/check.py" not in files
    # The sandbox is for local runs and tests only: it lives beside the package and is never shipped.
    sandbox = {p.relative_to(ROOT).as_posix() for p in (ROOT / "sandbox").rglob("*.py")}
    assert "sandbox/server.py" in sandbox and not sandbox & set(files), sorted(sandbox & set(files))
    for path in files:
        first = path.split("/")[0]
        assert first not in NEVER_SHIPPED and "__pycache__" not in path and not path.endswith(".pyc"), path
        # file() in Terraform reads UTF-8 text only.
        try:
            (ROOT / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            pytest.fail(f"{path} is not UTF-8 text; Terraform's file() cannot put it in the zip")


# Third-party imports the deployed code may make, and the requirements.txt entry that provides each.
PROVIDED_BY = {
    "flask": "functions-framework",  # the framework's request type
    "functions_framework": "functions-framework",
    "google.api_core": "google-api-core",
    "google.auth": "google-auth",
    "google.oauth2": "google-auth",
    "google.cloud.firestore": "google-cloud-firestore",
    "google.cloud.firestore_v1": "google-cloud-firestore",
    "google.cloud.secretmanager": "google-cloud-secret-manager",
    "requests": "requests",
    "urllib3": "urllib3",
    "werkzeug": "functions-framework",  # Flask's HTTP layer
}


def imports_of(path: Path, package: str) -> set[str]:
    """Absolute names of every module path imports, also inside functions (the lazy imports)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            names.add(base)
            # `from . import x` or `from google.cloud import firestore` may name modules.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def module_file(name: str) -> Path | None:
    parts = name.split(".")
    candidates = (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py"))
    return next((candidate for candidate in candidates if candidate.is_file()), None)


def imported_by_the_function() -> tuple[set[str], set[str]]:
    """(repository files, third-party modules) reachable by imports from main.py."""
    files, third_party = {"main.py"}, set()
    queue = [(ROOT / "main.py", "")]
    while queue:
        path, package = queue.pop()
        for name in imports_of(path, package):
            top = name.split(".")[0]
            if top in ("pagerstatus", "sandbox"):  # our code: followed, so a sandbox import is seen
                found = module_file(name)
                if found is not None and found.relative_to(ROOT).as_posix() not in files:
                    files.add(found.relative_to(ROOT).as_posix())
                    queue.append((found, name if found.name == "__init__.py" else name.rpartition(".")[0]))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(name)
    return files, third_party


def test_the_zip_holds_exactly_the_files_the_function_imports_and_its_requirements():
    files, _ = imported_by_the_function()
    assert "pagerstatus/app.py" in files and "pagerstatus/oidc.py" in files, sorted(files)
    missing = files - set(shipped_files())
    assert not missing, f"the function imports {sorted(missing)}, which the zip leaves out"
    extra = set(shipped_files()) - files - {"requirements.txt"}
    assert not extra, f"the zip holds {sorted(extra)}, which the function never imports (local.source_cli_only?)"
    assert not [f for f in files if f.startswith("sandbox/")], "deployed code must not import the sandbox"


def test_the_zip_leaves_out_dotfiles_backups_binaries_and_what_python_cannot_import(tmp_path):
    wanted = ["main.py", "requirements.txt", "pagerstatus/__init__.py", "pagerstatus/app.py",
              "pagerstatus/lock/__init__.py", "pagerstatus/lock/state.py"]
    stray = ["pagerstatus/.env", "pagerstatus/lock/.env.py", "pagerstatus/app.py~", "pagerstatus/.#app.py",
             "pagerstatus/#app.py#", "pagerstatus/app.py.orig", "pagerstatus/app.py.swp", "pagerstatus/notes.txt",
             "pagerstatus/__pycache__/app.cpython-312.pyc", "pagerstatus/.mypy_cache/app.py", "pagerstatus/my-app.py",
             "pagerstatus/__main__.py", "pagerstatus/check.py", "tests/test_app.py", ".env"]
    for path in wanted + stray:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("KEY=secret\n")
    (tmp_path / "pagerstatus" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\xff\xfe")  # file() cannot read it
    assert zipped(tmp_path) == sorted(wanted)


def test_every_third_party_import_is_pinned_in_requirements():
    _, third_party = imported_by_the_function()
    pinned = {line.split("==")[0].strip().lower() for line in (ROOT / "requirements.txt").read_text().splitlines()
              if "==" in line and not line.lstrip().startswith("#")}
    # `from google.cloud import firestore` also yields the namespace google.cloud: judge the leaf.
    leaves = {name for name in third_party if not any(other.startswith(name + ".") for other in third_party)}
    for name in sorted(leaves):
        provider = next((dist for prefix, dist in PROVIDED_BY.items()
                         if name == prefix or name.startswith(prefix + ".")), None)
        assert provider is not None, f"deployed code imports {name}: add it to requirements.txt and PROVIDED_BY"
        assert provider in pinned, f"{name} comes from {provider}, which requirements.txt does not pin"


def test_code_changes_redeploy_the_function():
    obj = one("resource", "google_storage_bucket_object")
    assert "${data.archive_file.source.output_md5}" in obj["name"]
    assert obj["source"] == "${data.archive_file.source.output_path}"
    storage = the_function()["build_config"][0]["source"][0]["storage_source"][0]
    assert storage["object"] == "${google_storage_bucket_object.source.name}"
    bucket = one("resource", "google_storage_bucket")
    assert bucket["uniform_bucket_level_access"] is True
    assert bucket["public_access_prevention"] == "enforced"
    assert bucket["versioning"][0]["enabled"] is True


# -- 7. what reaches customers: the settings, their validation and the backstop cadence -------
# Evaluated by `terraform console` (no provider needed) over the module's variables.tf and the
# scheduler's cadence locals, against what the code accepts and decides.

CUSTOMER_SETTINGS = {"notify": "PAGERSTATUS_NOTIFY", "open_after": "PAGERSTATUS_OPEN_AFTER",
                     "monitor_for": "PAGERSTATUS_MONITOR_FOR", "monitoring_body": "PAGERSTATUS_MONITORING_BODY",
                     "adopt_legacy": "PAGERSTATUS_ADOPT_LEGACY", "during_maintenance": "PAGERSTATUS_DURING_MAINTENANCE"}
REQUIRED_VARS = {"project_id": "my-project-1", "statuspage_page_id": "abc123", "statuspage_api_key": "key",
                 "pagerduty_accounts": '{primary = {api_key = "key"}}'}


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """evaluate(expression, **variables) -> its value as terraform console prints it, or "invalid: ..."
    when a variable's validation refuses its value."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH; install Terraform >= 1.5 (see test_terraform_fmt)"
    directory = tmp_path_factory.mktemp("console")
    shutil.copy(GCP_MODULE / "variables.tf", directory / "variables.tf")
    # The cadence locals as written, each "${expression}" back to its expression.
    cadence = [f"  {name} = {locals_()[name][2:-1]}" for name in ("timed_rules", "sync_schedule")]
    (directory / "cadence.tf").write_text("locals {\n" + "\n".join(cadence) + "\n}\n")

    def evaluate(expression: str, **variables: str) -> str:
        arguments = [f"-var={name}={value}" for name, value in {**REQUIRED_VARS, **variables}.items()]
        result = subprocess.run([terraform, "console", "-no-color", *arguments], input=expression, cwd=directory,
                                capture_output=True, text=True, timeout=60)
        output = result.stdout + result.stderr
        if "Error: Invalid value for variable" in output:
            return "invalid: " + output
        assert result.returncode == 0 and "Error" not in output, output
        return [line for line in result.stdout.splitlines() if line.strip()][-1]

    return evaluate


def test_each_customer_setting_is_a_variable_passed_to_the_function():
    env = terraform_env()
    for variable, name in CUSTOMER_SETTINGS.items():
        expected = f"${{tostring(var.{variable})}}" if variable == "adopt_legacy" else f"${{var.{variable}}}"
        assert env[name] == expected, (name, env[name])
    # Terraform's defaults are the function's.
    defaults = load_settings({"STATUSPAGE_PAGE": "page1", **{name: str(default(variable)).lower()
                                                               for variable, name in CUSTOMER_SETTINGS.items()}})
    assert defaults.policy == load_settings({"STATUSPAGE_PAGE": "page1"}).policy


def function_accepts(name: str, value: str) -> bool:
    try:
        load_settings({"STATUSPAGE_PAGE": "page1", name: value})
    except ConfigError:
        return False
    return True


# (variable, value, whether it is valid): Terraform and the function agree on each; above all, a value
# Terraform lets through must not be one the function refuses at its first webhook.
@pytest.mark.parametrize(("variable", "value", "valid"), [
    ("notify", "open,escalate,resolve", True), ("notify", "all", True), ("notify", "NONE", True),
    ("notify", " open , monitoring ", True), ("notify", "open,page", False), ("notify", "all,open", False),
    ("open_after", "0", True), ("open_after", "90s", True), ("open_after", "5m", True), ("open_after", "1h30m", True),
    ("open_after", "0s", True), ("open_after", "5 minutes", False), ("open_after", "-1m", False),
    ("open_after", "30s5m", False), ("open_after", "00", False), ("monitor_for", "10m", True),
    ("monitor_for", "1h", True), ("monitor_for", "1d", False),
    ("monitoring_body", "Watching {component}.", True), ("monitoring_body", "", True),
    ("monitoring_body", "{fix}", False), ("monitoring_body", "{component.name}", False),
    ("during_maintenance", "hold", True), ("during_maintenance", "open", True), ("during_maintenance", "skip", False),
])
def test_terraform_accepts_only_what_the_function_does(console, variable, value, valid):
    accepted = not console(f"var.{variable}", **{variable: value}).startswith("invalid: ")
    by_function = function_accepts(CUSTOMER_SETTINGS[variable], value)
    assert (accepted, by_function) == (valid, valid)


@pytest.mark.parametrize(("open_after", "monitor_for", "sync_schedule"), [
    ("0", "0", "*/5 * * * *"), ("0s", "0", ""), ("90s", "0", "*/5 * * * *"), ("0", "10m", ""),
    ("1h", "30s", "*/15 * * * *"), ("0", "0", ""),
])
def test_the_backstop_runs_every_minute_when_a_timed_rule_is_on(console, open_after, monitor_for, sync_schedule):
    policy = load_settings({"STATUSPAGE_PAGE": "page1", "PAGERSTATUS_OPEN_AFTER": open_after,
                            "PAGERSTATUS_MONITOR_FOR": monitor_for}).policy
    # A pending open or resolve is done by the first sync after it is due: within a minute of it.
    expected = "* * * * *" if policy.open_after or policy.monitor_for else sync_schedule
    schedule = console("local.sync_schedule", open_after=open_after, monitor_for=monitor_for,
                       sync_schedule=sync_schedule)
    assert schedule == f'"{expected}"'


# -- 8. several pages ------------------------------------------------------------------------

def terraform_values(variables: dict[str, Any], expressions: dict[str, str], local_names: list[str],
                     directory: Path = GCP_MODULE, given_locals: dict[str, str] | None = None) -> dict[str, Any]:
    """What Terraform itself makes of expressions of a module (bare, as "${...}" in python-hcl2's
    output), given values of its variables: the module's declarations of those variables and its
    locals local_names, alone in a scratch configuration with no provider, which `terraform
    console` evaluates without an init. given_locals: more locals, as HCL expressions (standing
    in for what needs a provider, such as a module's outputs)."""
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH; install Terraform >= 1.5 (see test_terraform_fmt)"
    declared, table = named("variable", directory), locals_(directory)

    def bare(expression: str) -> str:
        assert expression.startswith("${") and expression.endswith("}"), expression
        return expression[2:-1]

    lines = []
    for name in variables:
        body = declared[name]
        kind = body["type"] if body["type"].isidentifier() else bare(body["type"])  # string, or ${list(string)}
        lines += [f'variable "{name}" {{', f"  type = {kind}", f"  default = {json.dumps(body.get('default'))}",
                  f"  sensitive = {json.dumps(body.get('sensitive', False))}", "}"]
    def value(local: Any) -> str:  # an expression, or a literal python-hcl2 gave as its value
        return bare(local) if isinstance(local, str) and local.startswith("${") else json.dumps(local)

    lines += ["locals {", *(f"  {name} = {value(table[name])}" for name in local_names),
              *(f"  {name} = {expression}" for name, expression in (given_locals or {}).items()), "}"]
    query = "jsonencode({" + ", ".join(f"{name} = {bare(e)}" for name, e in expressions.items()) + "})\n"
    with tempfile.TemporaryDirectory() as scratch:
        (Path(scratch) / "main.tf").write_text("\n".join(lines) + "\n")
        (Path(scratch) / "values.tfvars.json").write_text(json.dumps(variables))
        result = subprocess.run([terraform, "console", "-var-file=values.tfvars.json"], input=query, cwd=scratch,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(json.loads(result.stdout.strip().splitlines()[-1]))


PAGE_LOCALS = ["statuspage_pages", "pages_with_own_key", "page_secret_ids"]


def page_settings(statuspage_pages: list[str] | None = None, statuspage_page_id: str | None = None,
                  statuspage_page_api_keys: dict[str, str] | None = None) -> dict[str, Any]:
    """What the function gets from these page variables: STATUSPAGE_PAGE, the pages' own key
    secrets, and whether the function's preconditions hold."""
    function = the_function()
    checks = {f"precondition_{n}": rule["condition"]
              for n, rule in enumerate(function["lifecycle"][0]["precondition"])}
    variables = {"statuspage_pages": statuspage_pages or [], "statuspage_page_id": statuspage_page_id,
                 "statuspage_page_api_keys": statuspage_page_api_keys or {}}
    return terraform_values(variables, {"STATUSPAGE_PAGE": terraform_env()["STATUSPAGE_PAGE"],
                                        "page_secret_ids": "${local.page_secret_ids}", **checks}, PAGE_LOCALS)


def test_an_existing_configuration_with_statuspage_page_id_still_deploys_its_one_page():
    # The variable of earlier versions: its tfvars keep working, and the function reads the same page.
    settings = page_settings(statuspage_page_id="abcd1234efgh")
    assert settings["STATUSPAGE_PAGE"] == "abcd1234efgh"
    assert load_settings({"STATUSPAGE_PAGE": settings["STATUSPAGE_PAGE"]}).statuspage_pages == ("abcd1234efgh",)
    assert settings["precondition_0"] is True and settings["precondition_1"] is True
    assert default("statuspage_page_id") is None and default("statuspage_pages") == []
    assert default("statuspage_page_id", TF_DIR) is None and default("statuspage_pages", TF_DIR) == []


def test_statuspage_pages_reach_the_function_as_the_list_it_parses_with_a_secret_per_own_key():
    settings = page_settings(["abcd1234efgh", "ijkl5678mnop"], statuspage_page_api_keys={"ijkl5678mnop": "key-2"})
    assert load_settings({"STATUSPAGE_PAGE": settings["STATUSPAGE_PAGE"]}).statuspage_pages == (
        "abcd1234efgh", "ijkl5678mnop")
    assert settings["page_secret_ids"] == {"ijkl5678mnop": page_secret_id("ijkl5678mnop")}
    assert settings["precondition_0"] is True and settings["precondition_1"] is True


@pytest.mark.parametrize("pages,page_id,own_keys,failing", [
    (["abcd1234efgh"], "abcd1234efgh", {}, "precondition_0"),  # both: which is meant?
    ([], None, {}, "precondition_0"),  # neither
    (["abcd1234efgh"], None, {"abcd1234efgx": "key-2"}, "precondition_1"),  # a key for no page: a typo
], ids=["both", "neither", "key-for-no-page"])
def test_the_function_refuses_ambiguous_or_misspelt_page_variables(pages, page_id, own_keys, failing):
    settings = page_settings(pages, page_id, own_keys)
    assert {name: value for name, value in settings.items() if name.startswith("precondition_")} == {
        "precondition_0": failing != "precondition_0", "precondition_1": failing != "precondition_1"}


def test_each_pages_own_key_is_a_secret_the_function_may_read():
    secrets = named("resource", of_type="google_secret_manager_secret")
    page_secret = secrets["statuspage_page_api_key"]
    assert page_secret["for_each"] == "${local.page_secret_ids}" and page_secret["secret_id"] == "${each.value}"
    version = named("resource", of_type="google_secret_manager_secret_version")["statuspage_page_api_key"]
    assert version["secret_data"] == "${var.statuspage_page_api_keys[each.key]}"
    access = named("resource", of_type="google_secret_manager_secret_iam_member")["function_access"]
    assert "google_secret_manager_secret.statuspage_page_api_key" in access["for_each"]
    assert access["role"] == "roles/secretmanager.secretAccessor"
    assert named("variable")["statuspage_page_api_keys"]["sensitive"] is True


# -- 9. a Terraform that survives day two: token rotation, its own token, least privilege -------

def test_webhook_events_are_sorted_so_that_a_plan_shows_no_spurious_change():
    events = resolve_local(one("resource", "pagerduty_webhook_subscription", ACCOUNT_MODULE)["events"], ACCOUNT_MODULE)
    assert events == sorted(events)


def test_a_new_webhook_token_replaces_what_sends_it():
    # PagerDuty returns custom header values redacted, so the provider cannot update one in place.
    holder = named("resource", ACCOUNT_MODULE, of_type="terraform_data")["webhook_token"]
    assert re.fullmatch(r"\$\{nonsensitive\(sha256\(var\.webhook_token\)\)\}", holder["input"]), holder
    for type_ in ("pagerduty_webhook_subscription", "pagerduty_extension"):
        lifecycle = one("resource", type_, ACCOUNT_MODULE)["lifecycle"][0]
        assert lifecycle["replace_triggered_by"] == ["${terraform_data.webhook_token}"], (type_, lifecycle)
        assert "ignore_changes" not in lifecycle
    # The new token reaches PagerDuty only once the function can read it.
    tokens = named("output")["webhook_tokens"]
    assert "random_password.webhook_token" in tokens["value"]
    assert tokens["depends_on"] == ["${google_secret_manager_secret_version.account}"]


def readme_section(title: str) -> str:
    text = (TF_DIR / "README.md").read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def resolve_address(address: str, directory: Path = TF_DIR) -> dict:
    """The resource block a state address such as module.m.random_password.p["key"] names, from directory."""
    parts = re.sub(r'\["[^"]*"\]$', "", address).split(".")
    while parts[0] == "module":
        module = named("module", directory)[parts[1]]
        directory = (directory / module["source"]).resolve()
        parts = parts[2:]
    type_, name = parts
    return named("resource", directory, of_type=type_)[name]


def test_the_readme_rotation_steps_replace_the_token_the_secret_and_the_subscriptions_follow():
    steps = readme_section("Rotating a webhook token")
    [address] = set(re.findall(r"-replace='([^']+)'", steps))
    token = resolve_address(address)
    assert token["for_each"] == "${local.accounts}"  # one per account: the key is the account
    assert re.fullmatch(r'module\.pagerstatus\.random_password\.webhook_token\["[a-z0-9_-]+"\]', address), address
    # The replaced password is what the account's secret version holds...
    version = named("resource", of_type="google_secret_manager_secret_version")["account"]
    assert "random_password.webhook_token[each.value.account].result" in version["secret_data"]
    # ...and what the account's subscription module is given (test above: a change replaces the subscription).
    for name, call in module_calls(TF_DIR, ACCOUNT_MODULE).items():
        assert call["webhook_token"].startswith("${module.pagerstatus.webhook_tokens["), name


def test_terraform_manages_pagerduty_with_its_own_token_never_the_functions_key():
    accounts_type = named("variable", TF_DIR)["pagerduty_accounts"]["type"]
    assert re.search(r"\bterraform_token = string\b", accounts_type), accounts_type  # required, no default
    assert "terraform_token" in conditions("pagerduty_accounts", TF_DIR)
    assert "terraform_token" not in named("variable")["pagerduty_accounts"]["type"]  # never stored
    tokens = locals_(TF_DIR)["pagerduty_terraform_tokens"]
    assert "config.terraform_token" in tokens and "api_key" not in tokens and "coalesce" not in tokens, tokens
    for directory in (TF_DIR, EXAMPLE):
        for block in hcl(directory)["provider"]:
            for provider, body in block.items():
                if provider == "pagerduty":
                    assert "terraform_token" in body["token"] and "api_key" not in body["token"], (directory, body)


def project_roles(account: str) -> dict[str, list[dict]]:
    """Project-level grants to a service account of modules/pagerstatus: role -> the bindings."""
    grants: dict[str, list[dict]] = {}
    for binding in named("resource", of_type="google_project_iam_member").values():
        if f"google_service_account.{account}.email" in binding["member"]:
            grants.setdefault(binding["role"], []).append(binding)
    return grants


def test_the_build_account_has_googles_documented_roles_each_scoped_to_its_target():
    grants = project_roles("build")
    assert set(grants) == {"roles/logging.logWriter", "roles/storage.objectAdmin"}, grants
    assert "condition" not in grants["roles/logging.logWriter"][0]  # logs are the project's
    [sources] = grants["roles/storage.objectAdmin"]
    bucket = locals_()["gcf_sources_bucket"]
    assert bucket == "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
    expression = sources["condition"][0]["expression"]
    assert expression == ('resource.name == "projects/_/buckets/${local.gcf_sources_bucket}" || '
                          'resource.name.startsWith("projects/_/buckets/${local.gcf_sources_bucket}/")'), expression
    # The image: a repository of its own, the build's only one.
    writer = one("resource", "google_artifact_registry_repository_iam_member")
    assert (writer["role"], writer["repository"]) == (
        "roles/artifactregistry.writer", "${google_artifact_registry_repository.functions.name}")
    assert "google_service_account.build.email" in writer["member"]
    build = the_function()["build_config"][0]
    assert build["docker_repository"] == "${google_artifact_registry_repository.functions.id}"
    assert build["service_account"] == "${google_service_account.build.id}"
    # The uploaded archives: read only, in their own bucket.
    reader = one("resource", "google_storage_bucket_iam_member")
    assert (reader["role"], reader["bucket"]) == ("roles/storage.objectViewer", "${google_storage_bucket.source.name}")


def test_the_build_waits_for_its_grants_to_take_effect():
    wait = one("resource", "time_sleep")
    assert int(wait["create_duration"].rstrip("s")) >= 120  # "typically 2 minutes" for IAM to propagate
    grants = {"${google_project_iam_member.build_logs.id}", "${google_project_iam_member.build_sources.id}",
              "${google_artifact_registry_repository_iam_member.build_writer.id}",
              "${google_storage_bucket_iam_member.build_source_reader.id}"}
    assert set(wait["triggers"].values()) == grants
    assert "${time_sleep.build_grants}" in the_function()["depends_on"]


def test_the_function_account_lists_secrets_reads_its_own_and_locks_in_its_database_only():
    grants = project_roles("function")
    assert set(grants) == {"${google_project_iam_custom_role.secret_lister.id}", "roles/datastore.user"}, grants
    lister = one("resource", "google_project_iam_custom_role")
    assert lister["permissions"] == ["secretmanager.secrets.list"]
    [datastore] = grants["roles/datastore.user"]
    assert datastore["condition"][0]["expression"] == \
        'resource.name == "projects/${var.project_id}/databases/${var.firestore_database}"'
    # Payloads: each of its own secrets, one binding per secret, never on the project.
    access = one("resource", "google_secret_manager_secret_iam_member")
    assert access["role"] == "roles/secretmanager.secretAccessor" and "google_secret_manager_secret." in access[
        "for_each"]
    granted = {body.get("role") for directory in MODULES for block in hcl(directory).get("resource", [])
               for resources in block.values() for body in resources.values()}
    too_wide = {"roles/secretmanager.viewer", "roles/cloudbuild.builds.builder", "roles/editor", "roles/owner"}
    assert not granted & too_wide, granted


def test_the_readme_recipe_for_secrets_added_by_hand_creates_the_webhook_token_first():
    section = (TF_DIR / "README.md").read_text(encoding="utf-8").split("### Secrets added outside Terraform")[1]
    recipe = section.split("```sh\n")[1].split("```")[0]
    created = re.findall(r'^create "([^"]+)"', recipe, re.MULTILINE)
    api_key, _, token = account_secret_ids(AccountName("acme"))
    assert [name.replace("$ACCOUNT", "acme") for name in created] == [token, api_key], created
    for needed in ("--labels=\"pagerstatus=true,pagerstatus-account=$ACCOUNT\"", "roles/secretmanager.secretAccessor",
                   "--replication-policy=automatic"):
        assert needed in recipe, needed


# -- 10. day one and day two: the tfvars example, renamed variables, several accounts -----------

@pytest.mark.parametrize("directory", [TF_DIR, EXAMPLE], ids=["root", "two-accounts"])
def test_the_tfvars_example_sets_no_key(directory):
    # terraform.tfvars wins over TF_VAR_...: a key in the copied example would be deployed.
    example = load(directory / "terraform.tfvars.example")
    declared = named("variable", directory)
    assert set(example) <= set(declared), f"the example sets undeclared {sorted(set(example) - set(declared))}"
    sensitive = {name for name, body in declared.items() if body.get("sensitive")}
    assert {"statuspage_api_key"} <= sensitive
    assert not set(example) & sensitive, f"the example sets {sorted(set(example) & sensitive)}"
    assert {"project_id", "statuspage_pages"} <= set(example)


def test_a_renamed_variable_refuses_a_value_an_old_tfvars_still_sets(tmp_path):
    # resync_schedule became sync_schedule. For a tfvars value of an undeclared variable Terraform only
    # warns, so resync_schedule = "" (no periodic sync) would silently bring back sync_schedule's default.
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH; install Terraform >= 1.5 (see test_terraform_fmt)"
    shutil.copy(TF_DIR / "variables.tf", tmp_path / "variables.tf")
    required = ["-var=project_id=my-project-1", "-var=statuspage_api_key=key",
                '-var=pagerduty_accounts={primary = {api_key = "key", terraform_token = "token"}}']

    def console(tfvars: str) -> subprocess.CompletedProcess:
        (tmp_path / "terraform.tfvars").write_text(tfvars)
        return subprocess.run([terraform, "console", "-no-color", *required], input="var.sync_schedule\n",
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)

    refused = console('resync_schedule = ""\n')
    assert "Invalid value for variable" in refused.stderr and "now sync_schedule" in refused.stderr, refused
    assert console('sync_schedule = ""\n').stdout.strip() == '""'
    assert "resync_schedule" not in named("variable")  # the module knows only the new name


ACCOUNTS = {name: {"api_key": "key", "terraform_token": "token"} for name in ("primary", "acme", "unwired")}


def per_account_outputs(modules: list[dict]) -> dict[str, Any]:
    """The root's webhook_subscription_ids output and its check, for three accounts and these
    stand-ins for the webhook modules (their outputs account and webhook_subscription_ids)."""
    output = named("output", TF_DIR)["webhook_subscription_ids"]["value"]
    check = hcl(TF_DIR)["check"][0]["every_account_has_a_webhook_module"]["assert"][0]["condition"]
    return terraform_values({"pagerduty_accounts": ACCOUNTS}, {"output": output, "check": check},
                            ["webhook_subscription_ids"], TF_DIR,
                            given_locals={"pagerduty_account_modules": json.dumps(modules)})


def test_the_per_account_output_covers_every_account_whatever_its_name():
    wired = [{"account": "acme", "webhook_subscription_ids": {"PSVC001": "PSUB002"}},
             {"account": "primary", "webhook_subscription_ids": {"account": "PSUB001"}}]
    values = per_account_outputs(wired)
    assert values["output"] == {"primary": {"account": "PSUB001"}, "acme": {"PSVC001": "PSUB002"}, "unwired": {}}
    assert values["check"] is False  # "unwired" has no webhook: the plan warns
    assert per_account_outputs([*wired, {"account": "unwired", "webhook_subscription_ids": {}}])["check"] is True
    # Every webhook module of the root is one the outputs see; none is named in outputs.tf itself.
    listed = locals_(TF_DIR)["pagerduty_account_modules"]
    for name in module_calls(TF_DIR, ACCOUNT_MODULE):
        assert f"${{module.{name}}}" in listed, (name, listed)
    assert "module.pagerduty_" not in (TF_DIR / "outputs.tf").read_text()


def test_the_readme_snippet_for_another_account_is_the_shipped_accounts_wiring():
    # Copied as shown, an account keeps its service_ids and its service region.
    section = readme_section("Adding a PagerDuty account")
    snippets = re.findall(r"```hcl\n(.*?)```", section, re.DOTALL)
    blocks: dict[str, list] = {}
    for snippet in snippets:
        with tempfile.NamedTemporaryFile("w", suffix=".tf") as handle:
            handle.write(snippet.replace("acme", "primary"))
            handle.flush()
            for kind, items in load(Path(handle.name)).items():
                blocks.setdefault(kind, []).extend(items)
    shipped = hcl(TF_DIR)
    assert blocks["provider"] == [block for block in shipped["provider"] if "pagerduty" in block]
    assert blocks["module"] == [{"pagerduty_primary": named("module", TF_DIR)["pagerduty_primary"]}]
    assert "module.pagerduty_acme" in section and "pagerduty_account_modules" in section
