"""README.md and terraform/README.md, read as a deployer follows them: every command they show
is one the tool knows, with flags it has, and every name they use exists.

- gcloud: each command's path and flags against `gcloud <command> --help` (one call per command);
- terraform: each subcommand's flags against `terraform <subcommand> -help`, each output read
  and each address imported or replaced against the configuration;
- make: each target and variable against the Makefile; `python -m pagerstatus`: its commands;
- Terraform variables and outputs: the docs' tables are exactly the root module's, and every
  TF_VAR_<name> or `<name> = ...` names a variable; environment variables: each one named is
  read by the code.
Commands are taken from shell blocks and inline code, never from prose.
"""
from __future__ import annotations

import functools
import os
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pagerstatus.keys import (
    ENV_ACCOUNT_PREFIX,
    ENV_PAGE_KEY_PREFIX,
    ENV_WEBHOOK_SECRET_PREFIX,
    ENV_WEBHOOK_TOKEN_PREFIX,
)
from tests.test_terraform import ACCOUNT_MODULE, GCP_MODULE, TF_DIR, named, resolve_address

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", TF_DIR / "README.md"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# Where a command ends inside a line: a pipe, a subshell's end, a separator.
COMMAND_END = r"[|;)&]"
WORD = re.compile(r"^[a-z][a-z0-9-]*$")


def code(path: Path) -> list[str]:
    """The shell code of a document: each line of its sh blocks (continuations joined), each inline code span."""
    text = path.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.DOTALL):
        found += [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    without_blocks = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    found += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", without_blocks)]
    return found


def commands(tool: str) -> list[tuple[str, list[str]]]:
    """(document, tokens after the tool's name) of every invocation of tool in the docs' code."""
    found = []
    for path in DOCS:
        for line in code(path):
            for match in re.finditer(rf"(?:^|[\s(\"'$]){re.escape(tool)}((?:\s+[^\s|;)&]+)+)", line):
                try:
                    tokens = shlex.split(match.group(1), comments=True)
                except ValueError:  # a quote closed past this command (inside "$(...)")
                    tokens = [token.strip("'\"") for token in match.group(1).split()]
                found.append((path.relative_to(ROOT).as_posix(), tokens))
    return found


def flag_names(tokens: list[str], dashes: str) -> list[str]:
    return [token.split("=", 1)[0] for token in tokens if token.startswith(dashes) and len(token) > len(dashes)]


# -- gcloud ------------------------------------------------------------------------------------

def gcloud() -> str:
    found = shutil.which("gcloud")
    if not found:
        pytest.fail("gcloud is not on PATH: the docs' gcloud commands are checked against its --help. Install the "
                    "Google Cloud CLI: https://cloud.google.com/sdk/docs/install (Debian/Ubuntu: "
                    "`apt-get install google-cloud-cli`)", pytrace=False)
    return found


def gcloud_version() -> str:
    """The installed SDK's version, from its VERSION file (`gcloud --version` takes seconds)."""
    version = Path(os.path.realpath(gcloud())).parent.parent / "VERSION"
    return version.read_text().strip() if version.is_file() else "unknown"


def gcloud_help(words: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(the command's path as its help names it, the flags its help lists) for `gcloud <words> --help`.

    Each --help takes seconds, so its answer is kept in pytest's cache for this gcloud version:
    a run after the first asks only about commands the docs have added since."""
    env = {**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "PAGER": "cat", "CLOUDSDK_CORE_PAGER": "cat"}
    result = subprocess.run([gcloud(), *words, "--help"], capture_output=True, text=True, timeout=120, env=env)
    text = ANSI.sub("", result.stdout + result.stderr)
    name = re.search(r"NAME\n\s+gcloud ((?:[a-z0-9-]+ )*?[a-z0-9-]+) - ", text)
    assert result.returncode == 0 and name, f"gcloud {' '.join(words)}: not a command\n{text[-2000:]}"
    flags = set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", text))
    flags |= {f"--{flag}" for flag in re.findall(r"--\[no-\]([a-z][a-z0-9-]*)", text)}
    flags |= {f"--no-{flag}" for flag in re.findall(r"--\[no-\]([a-z][a-z0-9-]*)", text)}
    return name.group(1).split(), sorted(flags)


def test_every_gcloud_command_in_the_docs_exists_with_the_flags_shown(cache):
    invocations = [(document, tokens) for document, tokens in commands("gcloud")
                   if tokens and WORD.match(tokens[0])]
    assert len(invocations) >= 15, invocations  # the walk-through's commands are found at all
    key = f"pagerstatus/gcloud-help/{gcloud_version()}"
    known: dict[str, list] = cache.get(key, {})
    asked = sorted({" ".join(_leading_words(tokens)) for _, tokens in invocations} - set(known))
    with ThreadPoolExecutor(max_workers=4) as pool:  # one --help per command, in parallel
        known.update(zip(asked, pool.map(lambda words: gcloud_help(tuple(words.split())), asked), strict=True))
    cache.set(key, known)
    for document, tokens in invocations:
        words = _leading_words(tokens)
        path, flags = known[" ".join(words)]
        shown = " ".join(tokens)
        assert len(path) >= 2 and words[:len(path)] == path, f"{document}: gcloud {shown}: the command is {path}"
        for flag in flag_names(tokens, "--"):
            assert flag in flags, f"{document}: gcloud {' '.join(path)} has no {flag}"


def _leading_words(tokens: list[str]) -> list[str]:
    words = []
    for token in tokens:
        if not WORD.match(token):
            break
        words.append(token)
    return words


# -- terraform ---------------------------------------------------------------------------------

TWO_WORD_SUBCOMMANDS = {"providers", "state", "workspace"}


@functools.cache
def terraform_help(subcommand: tuple[str, ...]) -> str:
    terraform = shutil.which("terraform")
    assert terraform, "terraform is not on PATH; install Terraform >= 1.5 (see tests/test_terraform.py)"
    result = subprocess.run([terraform, *subcommand, "-help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"terraform {' '.join(subcommand)}: not a subcommand\n{result.stderr}"
    return result.stdout


def test_every_terraform_command_in_the_docs_exists_with_the_flags_and_names_shown():
    outputs = set(named("output", TF_DIR))
    invocations = [(document, tokens) for document, tokens in commands("terraform")
                   if tokens and tokens[0].startswith("-chdir=")]
    assert len(invocations) >= 10, invocations
    for document, tokens in invocations:
        assert tokens[0] == "-chdir=terraform", (document, tokens)
        rest = tokens[1:]
        subcommand = tuple(rest[:2] if rest[0] in TWO_WORD_SUBCOMMANDS else rest[:1])
        text = terraform_help(subcommand)
        if subcommand in (("apply",), ("destroy",)):  # "also accepts the options terraform plan accepts"
            text += terraform_help(("plan",))
        for flag in flag_names(rest, "-"):
            assert re.search(rf"^\s+{re.escape(flag)}\b", text, re.MULTILINE), \
                f"{document}: terraform {' '.join(subcommand)} has no {flag}"
        arguments = [token for token in rest[len(subcommand):] if not token.startswith("-")]
        if subcommand == ("output",):
            assert set(arguments) <= outputs, f"{document}: terraform output {arguments}: no such output"
        if subcommand == ("import",):
            resolve_address(re.sub(r"\[\d+\]$", "", arguments[0]))
        for replaced in [t.split("=", 1)[1] for t in rest if t.startswith("-replace=")]:
            resolve_address(replaced)


# -- make and the command line -----------------------------------------------------------------

def test_every_make_target_and_variable_in_the_docs_is_the_makefiles():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.MULTILINE))
    variables = set(re.findall(r"^([A-Z_]+) \?=", makefile, re.MULTILINE))
    invocations = commands("make")
    assert {"run", "test", "deploy"} <= {tokens[0] for _, tokens in invocations if tokens}
    for document, tokens in invocations:
        for token in tokens:
            if "=" in token:
                assert token.split("=", 1)[0] in variables, f"{document}: make {' '.join(tokens)}"
            elif WORD.match(token):
                assert token in targets, f"{document}: make {' '.join(tokens)}: no target {token}"


def test_every_pagerstatus_command_in_the_docs_is_one_it_has():
    result = subprocess.run([sys.executable, "-m", "pagerstatus", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60)
    choices = set(re.search(r"\{([a-z,]+)\}", result.stdout).group(1).split(","))
    shown = {tokens[2] for _, tokens in commands("python") if tokens[:2] == ["-m", "pagerstatus"] and len(tokens) > 2}
    assert {"plan", "sync", "check"} <= choices
    assert shown and shown <= choices, (shown, choices)


# -- names: Terraform variables and outputs, environment variables ----------------------------

def table(section: str) -> list[str]:
    """The first column of the table under terraform/README.md's `## <section>`."""
    text = (TF_DIR / "README.md").read_text(encoding="utf-8").split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z_]+)` \|", text, re.MULTILINE)


def test_the_inputs_and_outputs_tables_are_the_root_modules():
    assert sorted(table("Inputs")) == sorted(named("variable", TF_DIR))
    assert sorted(table("Outputs")) == sorted(named("output", TF_DIR))


def test_every_terraform_variable_the_docs_set_exists():
    variables = set(named("variable", TF_DIR)) | set(named("variable", GCP_MODULE)) | set(
        named("variable", ACCOUNT_MODULE))
    account_fields = set(re.findall(r"(\w+)\s*=", named("variable", TF_DIR)["pagerduty_accounts"]["type"]))
    # An argument of the configuration shown on its own, such as deletion_policy = "ABANDON".
    arguments = {name for path in TF_DIR.rglob("*.tf") for name in re.findall(r"^\s*(\w+)\s*=", path.read_text(),
                                                                             re.MULTILINE)}
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for name in re.findall(r"\bTF_VAR_(\w+)", text):
            assert name in named("variable", TF_DIR), f"{path.name}: TF_VAR_{name} sets no variable"
        for span in re.findall(r"`([a-z_]+) = [^{`][^`]*`", text):  # not an account's entry, `acme = {...}`
            assert span in variables | account_fields | arguments, f"{path.name}: `{span} = ...` is no variable"


ENV_NAME = re.compile(r"\b(?:PAGERSTATUS|STATUSPAGE|PD|PAGERDUTY|GOOGLE_CLOUD|FIRESTORE_EMULATOR)_[A-Z0-9_]*"
                      r"(?:<[A-Z ]+>)?")
PREFIXES = (ENV_ACCOUNT_PREFIX, ENV_WEBHOOK_SECRET_PREFIX, ENV_WEBHOOK_TOKEN_PREFIX, ENV_PAGE_KEY_PREFIX)


@functools.cache
def code_text() -> str:
    sources = [*ROOT.glob("*.py"), *(path for directory in ("pagerstatus", "sandbox", "tests", "bench", "scripts")
                                     for path in (ROOT / directory).rglob("*") if path.suffix in (".py", ".sh"))]
    return "\n".join(path.read_text(encoding="utf-8") for path in sources if path.name != "test_docs.py")


def test_every_environment_variable_the_docs_name_is_read_by_the_code():
    for path in DOCS:
        for name in sorted(set(ENV_NAME.findall(path.read_text(encoding="utf-8")))):
            if name.endswith("_"):
                continue  # a prefix in prose
            prefix = name.split("<", 1)[0]
            if "<" in name or name.startswith(PREFIXES):
                assert prefix in PREFIXES or any(prefix.startswith(p) for p in PREFIXES), f"{path.name}: {name}"
            else:
                assert f'"{name}"' in code_text() or f"{name}=" in code_text(), \
                    f"{path.name} names {name}, which no code reads"
