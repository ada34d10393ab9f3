"""terraform/ against its providers' schemas, offline: every resource, data source, provider,
block and argument it writes exists in the provider version its constraints allow, every
required argument and block is set, and a block that holds one at most is written once.

The schemas are facts extracted by scripts/provider_schema.py from the pinned @cdktf/provider-*
npm packages (generated from each provider's schema) into tests/terraform_provider_schema.json;
no network here. terraform_data is Terraform's own resource, described by the script.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
TF_DIR = ROOT / "terraform"
SCHEMA_FILE = ROOT / "tests" / "terraform_provider_schema.json"
TF_FILES = sorted(p for p in TF_DIR.rglob("*.tf") if ".terraform" not in p.parts)

# Arguments and blocks Terraform itself gives every resource and data source, not the provider.
META_ARGUMENTS = {"count", "for_each", "depends_on", "provider"}
META_BLOCKS = {"lifecycle", "provisioner", "connection"}
LIFECYCLE = {"create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by",
             "precondition", "postcondition"}
BLOCK = "__is_block__"


@functools.cache
def schema() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def parse(text: str) -> dict[str, Any]:
    """HCL as python-hcl2 reads it, blocks marked with __is_block__ (attributes never are)."""
    try:
        import hcl2
    except ImportError:
        pytest.fail("python-hcl2 is not installed: run `make install` (it is in requirements-dev.txt)")
    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=True, strip_string_quotes=True)
    return hcl2.loads(text, serialization_options=options)


def is_block(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) and v.get(BLOCK) for v in value)


def check_body(body: dict[str, Any], spec: dict[str, Any], where: str, meta: bool = True) -> list[str]:
    """What is wrong with one resource's (or block's) body against its schema."""
    problems = []
    used: set[str] = set()
    for name, value in body.items():
        if name == BLOCK or (meta and name in META_ARGUMENTS):
            continue
        if meta and name in META_BLOCKS:
            if name == "lifecycle":
                problems += [f"{where}: lifecycle has no argument {key!r}"
                             for block in value for key in block if key not in LIFECYCLE | {BLOCK}]
            continue
        if name == "dynamic":  # [{"<block name>": {"for_each": ..., "content": [{...}]}}, ...]
            for dynamic in value:
                for block_name, generator in dynamic.items():
                    if block_name == BLOCK:
                        continue
                    used.add(block_name)
                    if block_name not in spec["blocks"]:
                        problems.append(f"{where}: no block {block_name!r} (in a dynamic block)")
                        continue
                    for content in generator.get("content", []):
                        problems += check_body(content, spec["blocks"][block_name],
                                               f"{where}.{block_name}", meta=False)
            continue
        used.add(name)
        if is_block(value):
            if name not in spec["blocks"]:
                kind = "an argument, written as a block" if name in spec["arguments"] else "no such block"
                problems.append(f"{where}: {name!r} is {kind}")
                continue
            if spec["blocks"][name]["max_one"] and len(value) > 1:
                problems.append(f"{where}: block {name!r} holds one at most, found {len(value)}")
            for block in value:
                problems += check_body(block, spec["blocks"][name], f"{where}.{name}", meta=False)
        elif name not in spec["arguments"]:
            kind = "a block, written as an argument" if name in spec["blocks"] else "no such argument"
            problems.append(f"{where}: {name!r} is {kind}")
    problems += [f"{where}: required {name!r} is not set" for name in spec["required"] if name not in used]
    return problems


def check(parsed: dict[str, Any], where: str) -> list[str]:
    """Every resource, data source and provider configuration of one parsed file."""
    problems = []
    for kind, key in (("resource", "resources"), ("data", "data_sources")):
        for block in parsed.get(kind, []):
            for type_, instances in block.items():
                if type_ == BLOCK:
                    continue
                spec = schema()[key].get(type_)
                for name, body in instances.items():
                    if name == BLOCK:
                        continue
                    if spec is None:
                        problems.append(f"{where}: {kind} {type_!r} is not in the pinned providers")
                    else:
                        problems += check_body(body, spec, f"{where}: {type_}.{name}")
    for block in parsed.get("provider", []):
        for provider, body in block.items():
            if provider == BLOCK:
                continue
            spec = schema()["providers"].get(provider)
            if spec is None:
                problems.append(f"{where}: provider {provider!r} is not in the pinned providers")
            else:
                problems += check_body(body, spec, f"{where}: provider {provider}", meta=False)
    return problems


@pytest.mark.parametrize("path", TF_FILES, ids=lambda p: p.relative_to(TF_DIR).as_posix())
def test_every_resource_block_and_argument_exists_and_every_required_one_is_set(path):
    assert check(parse(path.read_text(encoding="utf-8")), path.relative_to(ROOT).as_posix()) == []


def test_every_type_terraform_uses_is_in_the_extracted_schema():
    used = {"resources": set(), "data_sources": set(), "providers": set()}
    for path in TF_FILES:
        parsed = parse(path.read_text(encoding="utf-8"))
        for kind, key in (("resource", "resources"), ("data", "data_sources"), ("provider", "providers")):
            used[key].update(name for block in parsed.get(kind, []) for name in block if name != BLOCK)
    for key, names in used.items():
        assert names and names <= set(schema()[key]), f"{key} missing: {sorted(names - set(schema()[key]))}; " \
                                                       "run scripts/provider_schema.py"


# A small configuration with one mistake of each kind, against the real extracted schema.
BROKEN = """
resource "google_storage_bucket" "typo" {
  name     = "b"
  locaton  = "EU"
  versioning {
    enabled = true
  }
  versioning {
    enabled = false
  }
}
resource "google_service_account" "block_as_argument" {
  account_id = "a"
  timeouts   = {}
}
resource "google_cloud_scheduler_job" "argument_as_block" {
  name = "j"
  schedule {
    value = "* * * * *"
  }
  lifecycle {
    replace_when = true
  }
}
resource "google_project_iam_member" "missing" {
  role = "roles/viewer"
  condition {
    title = "t"
  }
}
data "archive_file" "dynamic" {
  type = "zip"
  dynamic "sorce" {
    for_each = []
    content {}
  }
}
resource "google_not_a_thing" "x" {}
provider "pagerduty" {
  tokn = "x"
}
"""


def test_the_check_finds_each_kind_of_mistake():
    problems = "\n".join(check(parse(BROKEN), "broken.tf"))
    for expected in [
        "google_storage_bucket.typo: 'locaton' is no such argument",
        "google_storage_bucket.typo: required 'location' is not set",
        "google_storage_bucket.typo: block 'versioning' holds one at most, found 2",
        "google_service_account.block_as_argument: 'timeouts' is a block, written as an argument",
        "google_cloud_scheduler_job.argument_as_block: 'schedule' is an argument, written as a block",
        "google_cloud_scheduler_job.argument_as_block: lifecycle has no argument 'replace_when'",
        "google_project_iam_member.missing: required 'member' is not set",
        "google_project_iam_member.missing.condition: required 'expression' is not set",
        "archive_file.dynamic: no block 'sorce' (in a dynamic block)",
        "resource 'google_not_a_thing' is not in the pinned providers",
        "provider pagerduty: 'tokn' is no such argument",
    ]:
        assert expected in problems, problems


# --- the extracted facts match the constraints and the script's pins ---------------------------

def constraints() -> dict[str, set[str]]:
    """Each provider's version constraints over every versions.tf."""
    found: dict[str, set[str]] = {}
    for path in TF_DIR.rglob("versions.tf"):
        for terraform in parse(path.read_text(encoding="utf-8")).get("terraform", []):
            for providers in terraform.get("required_providers", []):
                for name, requirement in providers.items():
                    if name != BLOCK:
                        found.setdefault(name, set()).add(requirement["version"])
    return found


def allows(constraint: str, version: str) -> bool:
    """Whether a pessimistic constraint "~> X.Y" or "~> X.Y.Z" allows version."""
    match = re.fullmatch(r"~>\s*(\d+(?:\.\d+){1,2})", constraint.strip())
    assert match, f"expected a constraint such as ~> 6.0, found {constraint!r}"
    floor = [int(part) for part in match.group(1).split(".")]
    have = [int(part) for part in version.split(".")]
    ceiling = floor[:-1]
    ceiling[-1] += 1
    return have >= floor and have[:len(ceiling)] < ceiling


@pytest.mark.parametrize("constraint,version,allowed", [
    ("~> 6.0", "6.50.0", True), ("~> 6.0", "7.0.0", False), ("~> 3.6", "3.5.9", False),
    ("~> 0.13", "0.13.1", True), ("~> 2.4.1", "2.5.0", False), ("~> 2.4.1", "2.4.3", True),
])
def test_allows_reads_pessimistic_constraints(constraint, version, allowed):
    assert allows(constraint, version) is allowed


def test_each_pinned_provider_version_is_one_every_constraint_allows():
    packages = schema()["packages"]
    required = constraints()
    assert set(required) == set(packages), "pin a package in scripts/provider_schema.py for each provider"
    for name, versions in required.items():
        for constraint in versions:
            assert allows(constraint, packages[name]["provider_version"]), (name, constraint, packages[name])


def test_the_extracted_facts_come_from_the_scripts_pinned_packages():
    spec = importlib.util.spec_from_file_location("provider_schema", ROOT / "scripts" / "provider_schema.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert {name: (p["package"], p["version"]) for name, p in schema()["packages"].items()} == script.PACKAGES
