"""Extract the facts tests/test_terraform_schema.py checks terraform/ against: for each
provider, and each resource and data source terraform/ uses, its arguments (which are
required) and its blocks (which are required, which hold one at most), nested blocks too.

    .venv/bin/python scripts/provider_schema.py        (needs npm and the npm registry)

Providers cannot be downloaded where the tests run, but their schemas are published on the
npm registry: the CDK for Terraform's prebuilt bindings, @cdktf/provider-<name>, are
generated from each provider's own schema, and their jsii assembly (.jsii) describes every
resource's configuration: a property per argument or block, its Terraform name (in the
registry link of its documentation), whether it is optional, and for a block ("<name>
block.") the structure of its content. PACKAGES pins the package versions; each wraps the
provider version recorded next to it in the output, which the test holds against the
version constraints in terraform/**/versions.tf. Regenerate after changing either, or
after using a resource type not yet in the output; only what terraform/ uses is kept.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TF_DIR = ROOT / "terraform"
OUTPUT = ROOT / "tests" / "terraform_provider_schema.json"

# Provider (its local name in required_providers) -> the npm package and version wrapping it.
# The newest of each whose provider version the constraints in versions.tf allow.
PACKAGES = {
    "archive": ("@cdktf/provider-archive", "11.0.1"),
    "google": ("@cdktf/provider-google", "16.12.1"),
    "pagerduty": ("@cdktf/provider-pagerduty", "14.3.9"),
    "random": ("@cdktf/provider-random", "12.0.1"),
    "time": ("@cdktf/provider-time", "11.0.1"),
}

# Not in any provider: Terraform's built-in resource, as documented at
# https://developer.hashicorp.com/terraform/language/resources/terraform-data (Arguments).
BUILTIN_RESOURCES = {"terraform_data": {"arguments": ["input", "triggers_replace"], "required": [], "blocks": {}}}

# {@link https://registry.terraform.io/providers/<ns>/<provider>/<version>/docs[/<kind>/<type>] <name>}
_REPRESENTS = re.compile(r"\{@link https://registry\.terraform\.io/providers/[^/]+/[^/]+/[^/]+/docs"
                         r"(?:/(resources|data-sources)/[^ ]+)? ([a-z0-9_]+)\}")
# The argument's own name, in the anchor of its registry link: ...#<name> Class#<name>}
_ANCHOR = re.compile(r"#([a-z0-9_]+) [A-Za-z0-9]+#")
_BASES = {"cdktf.TerraformResource": "resources", "cdktf.TerraformDataSource": "data_sources",
          "cdktf.TerraformProvider": "providers"}


def used_types() -> dict[str, set[str]]:
    """The resource and data source types and the providers terraform/ configures, by kind."""
    import hcl2

    options = hcl2.SerializationOptions(with_comments=False, explicit_blocks=True, strip_string_quotes=True)
    used: dict[str, set[str]] = {"resources": set(), "data_sources": set(), "providers": set()}
    for path in sorted(TF_DIR.rglob("*.tf")):
        if ".terraform" in path.parts:
            continue
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle, serialization_options=options)
        for kind, key in (("resource", "resources"), ("data", "data_sources"), ("provider", "providers")):
            for block in parsed.get(kind, []):
                used[key].update(name for name in block if name != "__is_block__")
    return used


def fetch(package: str, version: str, into: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(package.json, the jsii assembly, the tarball's integrity) of package@version, by `npm pack`."""
    packed = subprocess.run(["npm", "pack", f"{package}@{version}", "--json", "--pack-destination", str(into)],
                            capture_output=True, text=True, check=True, timeout=900)
    [record] = json.loads(packed.stdout)
    with tarfile.open(into / record["filename"]) as tarball:
        manifest = json.load(tarball.extractfile("package/package.json"))
        assembly = json.load(tarball.extractfile("package/.jsii"))
    return manifest, assembly, record["integrity"]


def _docs(member: dict[str, Any]) -> str:
    docs = member.get("docs", {})
    return f"{docs.get('summary', '')} {docs.get('remarks', '')}"


def _struct(type_: dict[str, Any], types: dict[str, Any]) -> tuple[str | None, bool]:
    """(the struct a block property holds, whether it holds one at most)."""
    for candidate in type_.get("union", {}).get("types", [type_]):
        if "fqn" in candidate and types.get(candidate["fqn"], {}).get("datatype"):
            return candidate["fqn"], True
        element = candidate.get("collection", {}).get("elementtype", {})
        if "fqn" in element and types.get(element["fqn"], {}).get("datatype"):
            return element["fqn"], False
    return None, False


def schema_of(fqn: str, types: dict[str, Any]) -> dict[str, Any]:
    """A configuration interface's (a resource's, a provider's, a block's) argument names, the
    names of its required arguments and blocks, and its blocks (max_one: it holds one at most)."""
    arguments: list[str] = []
    required: list[str] = []
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        anchor = _ANCHOR.search(_docs(prop))
        name = anchor.group(1) if anchor else re.sub(r"(?<!^)(?=[A-Z])", "_", prop["name"]).lower()
        if not prop.get("optional", False):
            required.append(name)
        struct, max_one = _struct(prop["type"], types)
        if struct is not None and prop.get("docs", {}).get("summary", "").endswith(" block."):
            blocks[name] = {"max_one": max_one, **schema_of(struct, types)}
        else:
            arguments.append(name)
    return {"arguments": sorted(arguments), "required": sorted(required), "blocks": dict(sorted(blocks.items()))}


def extract(assembly: dict[str, Any], wanted: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
    """The wanted types' schemas in one assembly, by kind and Terraform name."""
    types = assembly["types"]
    found: dict[str, dict[str, Any]] = {kind: {} for kind in _BASES.values()}
    for cls in types.values():
        kind = _BASES.get(cls.get("base", ""))
        represents = _REPRESENTS.search(cls.get("docs", {}).get("summary", "")) if kind else None
        if represents is None or represents.group(2) not in wanted[kind]:
            continue
        [config] = [p for p in cls["initializer"]["parameters"] if p["name"] == "config"]
        found[kind][represents.group(2)] = schema_of(config["type"]["fqn"], types)
    return found


def main() -> int:
    wanted = used_types()
    output: dict[str, Any] = {"generated_by": "scripts/provider_schema.py", "packages": {},
                              "providers": {}, "resources": dict(BUILTIN_RESOURCES), "data_sources": {}}
    with tempfile.TemporaryDirectory() as scratch:
        for provider, (package, version) in sorted(PACKAGES.items()):
            manifest, assembly, integrity = fetch(package, version, Path(scratch))
            wrapped = manifest["cdktf"]["provider"]
            output["packages"][provider] = {"package": package, "version": version, "integrity": integrity,
                                            "provider": wrapped["name"], "provider_version": wrapped["version"]}
            for kind, schemas in extract(assembly, wanted).items():
                output[kind].update(schemas)
    missing = {kind: sorted(wanted[kind] - set(output[kind])) for kind in wanted}
    if any(missing.values()):
        print(f"not in the pinned packages: {missing}", file=sys.stderr)
        return 1
    for kind in ("providers", "resources", "data_sources"):
        output[kind] = dict(sorted(output[kind].items()))
    OUTPUT.write_text(json.dumps(output, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)}: " + ", ".join(f"{len(output[k])} {k}" for k in wanted))
    return 0


if __name__ == "__main__":
    sys.exit(main())
