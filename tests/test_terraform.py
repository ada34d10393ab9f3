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
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerstatus.app import SCHEDULED_SYNC_PATH
from pagerstatus.config import load_settings
from pagerstatus.endpoints import PAGERDUTY_REGION_URLS
from pagerstatus.errors import ConfigError
from pagerstatus.keys import ACCOUNT_NAME_PATTERN, AccountName, EnvKeySource, check_distinct
from pagerstatus.secretmanager import STATUSPAGE_SECRET_ID, account_secret_ids
from pagerstatus.webhook import SYNC_EVENTS, TOKEN_HEADER

ROOT = Path(__file__).resolve().parent.parent
TF_DIR = ROOT / "terraform"
# Everything on Google Cloud; the root module (TF_DIR) and the examples instantiate it.
GCP_MODULE = TF_DIR / "modules" / "pagerstatus"
ACCOUNT_MODULE = TF_DIR / "modules" / "pagerduty_account"
EXAMPLE = TF_DIR / "examples" / "two-accounts"
PACKAGE = ROOT / "pagerstatus"
CHECKOV_SCRIPT = ROOT / "scripts" / "checkov.sh"

# Settings the code reads that Terraform deliberately leaves unset. A new setting in the code
# must either be set in terraform/function.tf (local.function_env) or be listed here.
NOT_SET_BY_TERRAFORM = {
    "PAGERDUTY_API_URL": "API base URL override for the local sandbox and tests",
    "STATUSPAGE_API_URL": "API base URL override for the local sandbox and tests",
    "STATUSPAGE_KEY": "PAGERSTATUS_SECRETS=env only; on Google Cloud the key is in Secret Manager",
    "PAGERSTATUS_INCIDENT_NAME": "optional template; the code's default applies",
    "PAGERSTATUS_INCIDENT_BODY": "optional template; the code's default applies",
    "PAGERSTATUS_RESOLVED_BODY": "optional template; the code's default applies",
    "PAGERSTATUS_OIDC_CERTS_URL": "certificate URL override for the sandbox and tests; Google's by default",
}
# Paths that must never be in the function zip.
NEVER_SHIPPED = (".venv", ".venv-checkov", ".git", ".ci", "tests", "terraform", "bench", "scripts", "sandbox",
                 ".pytest_cache", ".hypothesis", "__pycache__")


# -- helpers ---------------------------------------------------------------------------------

def _hcl2():
    try:
        import hcl2
    except ImportError:
        pytest.fail("python-hcl2 is not installed: run `make install` (it is in requirements-dev.txt)")
    return hcl2


def unquote(value: Any) -> Any:
    """python-hcl2 keeps the quotes of string literals and block labels; drop them."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def literal(value: Any) -> str:
    """A string literal's value; fails on an expression such as ${var.x}."""
    assert isinstance(value, str) and value.startswith('"') and value.endswith('"') and "${" not in value, (
        f"expected a string literal in the HCL, found {value!r}"
    )
    return value[1:-1]


def tf_files(directory: Path = TF_DIR) -> list[Path]:
    return sorted(p for p in directory.rglob("*.tf") if ".terraform" not in p.parts)


@functools.cache
def parse(path: Path) -> dict:
    with path.open(encoding="utf-8") as handle:
        return _hcl2().load(handle)


def module_dirs() -> list[Path]:
    return sorted({p.parent for p in tf_files()})


def blocks(kind: str, directory: Path | None = None) -> Iterator[tuple[Path, dict]]:
    """Top-level blocks of one kind ("variable", "locals", ...) in one module or in all."""
    paths = tf_files() if directory is None else sorted(directory.glob("*.tf"))
    for path in paths:
        for block in parse(path).get(kind, []):
            yield path, block


def resources(resource_type: str, directory: Path = GCP_MODULE) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for _, block in blocks("resource", directory):
        for rtype, by_name in block.items():
            if unquote(rtype) != resource_type:
                continue
            for name, body in by_name.items():
                found[unquote(name)] = body
    return found


def data_sources(data_type: str, directory: Path = GCP_MODULE) -> dict[str, dict]:
    found: dict[str, dict] = {}
    for _, block in blocks("data", directory):
        for dtype, by_name in block.items():
            if unquote(dtype) == data_type:
                found.update({unquote(name): body for name, body in by_name.items()})
    return found


def locals_(directory: Path = GCP_MODULE) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for _, block in blocks("locals", directory):
        merged.update({k: v for k, v in block.items() if not k.startswith("__")})
    return merged


def resolve_local(value: Any, directory: Path = GCP_MODULE) -> Any:
    """Follow a bare "${local.name}" reference to the local's value."""
    match = re.fullmatch(r"\$\{local\.(\w+)\}", value) if isinstance(value, str) else None
    if match is None:
        return value
    table = locals_(directory)
    assert match.group(1) in table, f"local.{match.group(1)} is referenced but not defined in {directory}"
    return table[match.group(1)]


def only(mapping: dict[str, dict], what: str) -> dict:
    assert len(mapping) == 1, f"expected exactly one {what}, found {sorted(mapping)}"
    return next(iter(mapping.values()))


def the_function() -> dict:
    return only(resources("google_cloudfunctions2_function"), "google_cloudfunctions2_function")


def variable_default(name: str, directory: Path = GCP_MODULE) -> Any:
    for _, block in blocks("variable", directory):
        for label, body in block.items():
            if unquote(label) == name:
                return body.get("default")
    pytest.fail(f"variable {name!r} is not declared in {directory}")


def module_calls(directory: Path, module: Path) -> dict[str, dict]:
    """Module blocks in directory that instantiate module, by block name."""
    found = {}
    for _, block in blocks("module", directory):
        for name, body in block.items():
            if (directory / unquote(body.get("source"))).resolve() == module.resolve():
                found[unquote(name)] = body
    return found


# -- 1. formatting ---------------------------------------------------------------------------

def test_terraform_fmt():
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail(
            "terraform is not on PATH; install Terraform >= 1.5: "
            "https://developer.hashicorp.com/terraform/install "
            "(Debian/Ubuntu: the HashiCorp apt repository, `apt-get install terraform`)"
        )
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", str(TF_DIR)],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, (
        "terraform fmt -check failed; run `terraform fmt -recursive terraform`\n"
        + result.stdout + result.stderr
    )


# -- 2. checkov ------------------------------------------------------------------------------

def test_checkov():
    result = subprocess.run(
        ["bash", str(CHECKOV_SCRIPT)], capture_output=True, text=True, timeout=1200, cwd=ROOT,
    )
    if result.returncode == 3:
        pytest.fail(
            "checkov could not be set up (scripts/checkov.sh installs it into .venv-checkov; "
            "it needs python3 -m venv and PyPI):\n" + result.stderr[-4000:]
        )
    assert result.returncode == 0, (
        "checkov reported failed checks in terraform/. Fix them, or where a check does not apply, "
        "skip it on the resource with `#checkov:skip=CKV_ID:reason`.\n"
        + result.stdout[-8000:] + result.stderr[-2000:]
    )


def test_every_checkov_skip_has_a_reason():
    for path in tf_files():
        for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text(encoding="utf-8")):
            reason = (match.group(2) or "").strip()
            assert len(reason) >= 20, f"{path}: #checkov:skip={match.group(1)} needs a reason after ':'"


# -- 3. entry point and environment -----------------------------------------------------------

def test_entry_point_is_the_pagerstatus_function_in_main_py():
    build = the_function()["build_config"][0]
    assert literal(build["entry_point"]) == "pagerstatus"
    assert literal(build["runtime"]) == "python312"
    tree = ast.parse((ROOT / "main.py").read_text(encoding="utf-8"))
    functions = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    assert "pagerstatus" in functions, f"main.py defines {sorted(functions)}, not the entry point `pagerstatus`"


def test_function_service_settings():
    service = the_function()["service_config"][0]
    # Concurrency above 1 (the in-process gate coalesces a burst) needs a whole vCPU.
    assert service["max_instance_request_concurrency"] == "${var.max_instance_request_concurrency}"
    assert variable_default("max_instance_request_concurrency") > 1
    assert literal(service["available_cpu"]) == "1"
    assert literal(service["available_memory"]) == "512Mi"
    assert literal(service["ingress_settings"]) == "ALLOW_ALL"
    assert service["max_instance_count"] == "${var.max_instance_count}"
    assert variable_default("max_instance_count") == 10
    assert service["timeout_seconds"] == "${var.timeout_seconds}"
    assert variable_default("timeout_seconds") == 60
    assert service["service_account_email"] == "${google_service_account.function.email}"

    invoker = only(resources("google_cloud_run_service_iam_member"), "google_cloud_run_service_iam_member")
    assert literal(invoker["role"]) == "roles/run.invoker"
    assert literal(invoker["member"]) == "allUsers"
    assert "google_cloudfunctions2_function.pagerstatus" in invoker["service"]


def terraform_env() -> dict[str, Any]:
    env = resolve_local(the_function()["service_config"][0]["environment_variables"])
    assert isinstance(env, dict), f"environment_variables must be a literal map (or a local holding one), found {env!r}"
    return env


def test_fixed_environment_values():
    env = terraform_env()
    assert literal(env["PAGERSTATUS_SECRETS"]) == "secretmanager"
    assert literal(env["PAGERSTATUS_LOCK"]) == "firestore"
    assert env["GOOGLE_CLOUD_PROJECT"] == "${var.project_id}"
    assert env["STATUSPAGE_PAGE"] == "${var.statuspage_page_id}"
    assert variable_default("open_on") == '"acknowledged"'
    assert variable_default("severity") == '""'


def test_each_account_is_read_through_its_service_regions_api():
    env = terraform_env()
    assert env["PAGERSTATUS_PAGERDUTY_REGIONS"] == "${local.pagerduty_regions}"
    regions = locals_()["pagerduty_regions"]
    assert "local.accounts" in regions and ".service_region" in regions and "=" in regions, regions
    rules = module_variables(GCP_MODULE)["pagerduty_accounts"]["validation"]
    conditions = " ".join(rule["condition"] for rule in rules)
    assert 'contains(["us", "eu"], account.service_region)' in conditions, conditions
    assert set(PAGERDUTY_REGION_URLS) == {"us", "eu"}


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


def variables_the_code_reads() -> set[str]:
    """What load_settings and the environment's statuspage_key look up, with every optional
    setting on so that every branch runs (the scheduler's certificate URL is read only then)."""
    environ = RecordingEnviron({"STATUSPAGE_PAGE": "page1", "GOOGLE_CLOUD_PROJECT": "project-1",
                                "PAGERSTATUS_SECRETS": "secretmanager", "STATUSPAGE_KEY": "sp-key",
                                "PAGERSTATUS_SCHEDULER_AUDIENCE": "https://function.example",
                                "PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT": "scheduler@project-1.iam.gserviceaccount.com"})
    load_settings(environ)
    EnvKeySource(environ).statuspage_key()
    assert {"STATUSPAGE_PAGE", "PAGERSTATUS_OIDC_CERTS_URL", "STATUSPAGE_KEY"} <= environ.read, environ.read
    return environ.read


def test_every_variable_terraform_sets_is_read_by_the_code():
    unread = sorted(set(terraform_env()) - variables_the_code_reads())
    assert not unread, f"Terraform sets {unread}, which the code does not read (a renamed or unimplemented setting)"


def test_every_setting_the_code_reads_is_set_by_terraform_or_known_optional():
    unknown = sorted(variables_the_code_reads() - set(terraform_env()) - set(NOT_SET_BY_TERRAFORM))
    assert not unknown, (
        f"the code reads {unknown}, which Terraform neither sets nor lists as intentionally unset: "
        "add them to local.function_env in terraform/function.tf (with a variable if they vary), "
        "or to NOT_SET_BY_TERRAFORM in tests/test_terraform.py with the reason"
    )


# -- 4. secret IDs ---------------------------------------------------------------------------

def test_secret_ids_are_the_ones_the_code_reads():
    table = locals_()
    assert literal(table["statuspage_secret_id"]) == STATUSPAGE_SECRET_ID
    secrets = resources("google_secret_manager_secret")
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


def account_name_conditions(directory: Path, variable: str) -> list[str]:
    return [rule["condition"] for _, block in blocks("variable", directory)
            for label, body in block.items() if unquote(label) == variable
            for rule in body.get("validation", [])]


@pytest.mark.parametrize("directory,variable", [(GCP_MODULE, "pagerduty_accounts"), (ACCOUNT_MODULE, "account")])
def test_account_names_are_validated_with_the_codes_pattern(directory, variable):
    patterns = [re.sub(r"\\(.)", r"\1", pattern) for condition in account_name_conditions(directory, variable)
                for pattern in re.findall(r'can\(regex\("((?:[^"\\]|\\.)*)",', condition)]
    assert ACCOUNT_NAME_PATTERN in patterns, f"{directory}: var.{variable} is not checked with {ACCOUNT_NAME_PATTERN}"


def test_accounts_that_differ_only_in_dash_and_underscore_are_refused_as_the_code_refuses_them():
    conditions = " ".join(account_name_conditions(GCP_MODULE, "pagerduty_accounts"))
    assert 'replace(name, "-", "_")' in conditions and "distinct(" in conditions, conditions
    with pytest.raises(ConfigError):
        check_distinct([AccountName("a-b"), AccountName("a_b")], "test")


def test_severity_keys_given_twice_are_refused_as_the_code_refuses_them():
    conditions = " ".join(rule["condition"] for rule in module_variables(GCP_MODULE)["severity"]["validation"])
    assert "distinct(" in conditions and "lower(" in conditions, conditions
    with pytest.raises(ConfigError, match="PAGERSTATUS_SEVERITY"):
        load_settings({"STATUSPAGE_PAGE": "page1", "PAGERSTATUS_SEVERITY": "P1=major_outage,p1=partial_outage"})


def test_secrets_are_labelled_and_auto_replicated():
    secrets = resources("google_secret_manager_secret")
    assert set(secrets) == {"statuspage_api_key", "account"}
    for name, body in secrets.items():
        assert re.search(r'\bpagerstatus\s*=\s*"true"', body["labels"]), f"{name}: missing label pagerstatus = \"true\""
        assert "auto" in body["replication"][0], f"{name}: replication must be auto {{}}"
    assert re.search(r'"?pagerstatus-account"?\s*=\s*each\.value\.account', secrets["account"]["labels"])


# -- 5. variables and outputs ----------------------------------------------------------------

def test_every_variable_has_a_type_and_a_description():
    count = 0
    for path, block in blocks("variable"):
        for label, body in block.items():
            count += 1
            name = f"{path.relative_to(ROOT)}: variable {unquote(label)}"
            assert "type" in body, f"{name} has no type"
            assert unquote(body.get("description", "")).strip(), f"{name} has no description"
    assert count > 0


def test_every_output_has_a_description():
    for path, block in blocks("output"):
        for label, body in block.items():
            assert unquote(body.get("description", "")).strip(), f"{path}: output {unquote(label)} has no description"


# -- 6. PagerDuty webhooks, the periodic sync, and how the modules are wired ----------------

def subscription() -> dict:
    return only(resources("pagerduty_webhook_subscription", ACCOUNT_MODULE), "pagerduty_webhook_subscription")


def test_webhook_events_are_ones_the_function_syncs_on():
    events = resolve_local(subscription()["events"], ACCOUNT_MODULE)
    assert isinstance(events, list) and events, f"events must be a literal list, found {events!r}"
    events = [literal(e) for e in events]
    assert set(events) <= SYNC_EVENTS, f"not synced on: {sorted(set(events) - SYNC_EVENTS)}"


def test_webhook_delivery_header_and_scope():
    body = subscription()
    assert literal(body["type"]) == "webhook_subscription"
    assert body["active"] is True
    delivery = body["delivery_method"][0]
    assert literal(delivery["type"]) == "http_delivery_method"
    url = resolve_local(delivery["url"], ACCOUNT_MODULE)
    assert url.endswith('/${var.account}"'), url
    headers = delivery["custom_header"]
    assert [literal(h["name"]) for h in headers] == [TOKEN_HEADER]
    assert headers[0]["value"] == "${var.webhook_token}"
    # Account-wide without service_ids, else one subscription per service.
    assert body["for_each"] == "${local.subscription_scopes}"
    scopes = locals_(ACCOUNT_MODULE)["subscription_scopes"]
    assert "account_reference" in scopes and "service_reference" in scopes and "var.service_ids" in scopes, scopes
    filter_ = body["filter"][0]
    assert (filter_["type"], filter_["id"]) == ("${each.value.type}", "${each.value.id}")


def test_the_legacy_v2_extension_is_opt_in_and_sends_the_token():
    extension = only(resources("pagerduty_extension", ACCOUNT_MODULE), "pagerduty_extension")
    assert "var.generic_v2_webhook" in extension["for_each"]
    assert extension["endpoint_url"] == "${local.webhook_url}"
    assert TOKEN_HEADER in extension["config"] and "var.webhook_token" in extension["config"]
    schema = only(data_sources("pagerduty_extension_schema", ACCOUNT_MODULE), "pagerduty_extension_schema")
    assert literal(schema["name"]) == "Generic V2 Webhook"
    assert variable_default("generic_v2_webhook", ACCOUNT_MODULE) is False


def test_the_periodic_sync_calls_a_path_the_function_serves_with_an_oidc_token():
    job = only(resources("google_cloud_scheduler_job"), "google_cloud_scheduler_job")
    target = job["http_target"][0]
    assert literal(target["http_method"]) == "POST"
    assert unquote(target["uri"]) == "${local.function_url}/" + SCHEDULED_SYNC_PATH
    assert "headers" not in target, "the periodic sync authenticates with its ID token, not a shared token"
    oidc = target["oidc_token"][0]
    assert oidc["service_account_email"] == "${google_service_account.scheduler.email}"
    assert oidc["audience"] == "${local.scheduler_audience}"
    # The function trusts exactly that identity and audience.
    env = terraform_env()
    assert env["PAGERSTATUS_SCHEDULER_AUDIENCE"] == oidc["audience"]
    assert env["PAGERSTATUS_SCHEDULER_SERVICE_ACCOUNT"] == oidc["service_account_email"]
    assert unquote(variable_default("sync_schedule")) == "*/5 * * * *"
    assert job["count"] == '${var.sync_schedule == "" ? 0 : 1}'
    scheduler = resources("google_service_account")["scheduler"]
    assert not [binding for binding in resources("google_project_iam_member").values()
                if "google_service_account.scheduler" in binding["member"]], "the scheduler identity needs no roles"
    assert literal(scheduler["account_id"]) == "pagerstatus-scheduler"


@pytest.mark.parametrize("directory", [TF_DIR, EXAMPLE], ids=["root", "two-accounts"])
def test_each_account_module_is_wired_to_its_own_provider_and_token(directory):
    modules = module_calls(directory, ACCOUNT_MODULE)
    assert modules, f"{directory}: no module uses modules/pagerduty_account"
    aliases = {
        literal(body["alias"])
        for _, block in blocks("provider", directory)
        for name, body in block.items() if unquote(name) == "pagerduty" and "alias" in body
    }
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
        example = _hcl2().load((TF_DIR / "terraform.tfvars.example").open(encoding="utf-8"))
        assert set(example["pagerduty_accounts"]) == accounts
    else:
        call = only(module_calls(directory, GCP_MODULE), "module using modules/pagerstatus")
        keys = {name for name in call["pagerduty_accounts"] if not name.startswith("__")}
        assert keys == accounts, call["pagerduty_accounts"]


def module_variables(module: Path) -> dict[str, dict]:
    return {unquote(label): body for _, block in blocks("variable", module) for label, body in block.items()}


def test_the_root_passes_every_input_of_the_google_cloud_module():
    call = only(module_calls(TF_DIR, GCP_MODULE), "module using modules/pagerstatus")
    passed = {name for name in call if not name.startswith("__")} - {"source"}
    declared = module_variables(GCP_MODULE)
    assert passed == set(declared), \
        f"not passed: {sorted(set(declared) - passed)}; unknown: {sorted(passed - set(declared))}"
    root_variables = module_variables(TF_DIR)
    for name in passed - {"pagerduty_accounts"}:
        assert call[name] == f"${{var.{name}}}", (name, call[name])
        assert root_variables[name].get("default") == declared[name].get("default"), f"defaults of {name} differ"
    required = {name for name, body in declared.items() if "default" not in body}
    example_call = only(module_calls(EXAMPLE, GCP_MODULE), "module using modules/pagerstatus")
    assert required <= set(example_call), f"the example misses {sorted(required - set(example_call))}"


def test_make_deploy_applies_the_root_module():
    result = subprocess.run(["make", "-n", "deploy"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "terraform -chdir=terraform apply" in result.stdout, result.stdout


# -- 7. the function's source archive --------------------------------------------------------

def shipped_files() -> list[str]:
    """What local.source_files evaluates to: include files + include dirs, minus skip patterns."""
    table = locals_()
    include_files = [literal(f) for f in table["source_include_files"]]
    include_dirs = [literal(d) for d in table["source_include_dirs"]]
    skips = [literal(s) for s in table["source_skip_patterns"]]
    for name in ("local.source_include_files", "local.source_include_dirs", "local.source_skip_patterns"):
        assert name in table["source_files"], f"local.source_files no longer uses {name}"
    files = list(include_files)
    for directory in include_dirs:
        for path in sorted((ROOT / directory).rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if path.is_file() and not any(skip in relative for skip in skips):
                files.append(relative)
    return sorted(files)


def test_archive_is_built_from_the_include_list():
    archive = only(data_sources("archive_file"), "archive_file")
    assert literal(archive["type"]) == "zip"
    dynamic = archive["dynamic"][0]['"source"']
    assert dynamic["for_each"] == "${local.source_files}"
    assert dynamic["content"][0]["filename"] == "${source.value}"
    assert unquote(locals_()["repo_root"]) == "${path.module}/../../.."

    files = shipped_files()
    for required in ("main.py", "requirements.txt", "pagerstatus/__init__.py"):
        assert required in files
    package_modules = {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    assert package_modules <= set(files), sorted(package_modules - set(files))
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
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            # `from . import x` or `from google.cloud import firestore` may name modules.
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def module_file(name: str) -> Path | None:
    parts = name.split(".")
    for candidate in (ROOT.joinpath(*parts).with_suffix(".py"), ROOT.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def imported_by_the_function() -> tuple[set[str], set[str]]:
    """(repository files, third-party modules) reachable by imports from main.py."""
    files, third_party, seen = {"main.py"}, set(), set()
    queue = [(ROOT / "main.py", "")]
    while queue:
        path, package = queue.pop()
        for name in imports_of(path, package):
            top = name.split(".")[0]
            if top in ("pagerstatus", "sandbox"):  # our code: followed, so a sandbox import is seen
                found = module_file(name)
                if found is not None and found not in seen:
                    seen.add(found)
                    files.add(found.relative_to(ROOT).as_posix())
                    queue.append((found, name if found.name == "__init__.py" else name.rpartition(".")[0]))
            elif top not in sys.stdlib_module_names and top != "__future__":
                third_party.add(name)
    return files, third_party


def test_the_zip_holds_every_module_the_function_imports():
    files, _ = imported_by_the_function()
    assert "pagerstatus/app.py" in files and "pagerstatus/oidc.py" in files, sorted(files)
    missing = files - set(shipped_files())
    assert not missing, f"the function imports {sorted(missing)}, which the zip leaves out"
    assert not [f for f in files if f.startswith("sandbox/")], "deployed code must not import the sandbox"


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
    obj = only(resources("google_storage_bucket_object"), "google_storage_bucket_object")
    assert "${data.archive_file.source.output_md5}" in obj["name"]
    assert obj["source"] == "${data.archive_file.source.output_path}"
    storage = the_function()["build_config"][0]["source"][0]["storage_source"][0]
    assert storage["object"] == "${google_storage_bucket_object.source.name}"
    bucket = only(resources("google_storage_bucket"), "google_storage_bucket")
    assert bucket["uniform_bucket_level_access"] is True
    assert literal(bucket["public_access_prevention"]) == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
