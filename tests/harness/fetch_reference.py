"""`make reference`: fetch the official reference material into .reference/, for a
checkout with no ../shared/reference beside it (tests/harness/reference.py looks there).

Each file comes from a pinned commit of its upstream repository, some extracted from
the documentation or test source they are published in, and written as
json.dumps(..., indent=2, ensure_ascii=False). Each must then match its committed
sha256, or nothing is written. Needs internet access to raw.githubusercontent.com.

    python3 -m tests.harness.fetch_reference [--into DIR] [--source URL-TEMPLATE]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import re
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RAW_GITHUB = "https://raw.githubusercontent.com/{repo}/{commit}/{path}"
API_SCHEMA = ("PagerDuty/api-schema", "91a06fb3c64b0ab2b2bd6c485d12b327dfb55c18")
STATUSPAGE_SDK = ("voxgig-sdk/statuspage-sdk", "c1b98c1e5a136469e4408c727892eae70dca587f")
DEVELOPER_DOCS = ("PagerDuty/developer-docs", "94224391aa3eac8fa73ea6a6af542dee0613d3e8")
GO_PAGERDUTY = ("PagerDuty/go-pagerduty", "d34fb98c09850c92771001dd77a3609acda0ca29")
V2_DOC, V3_DOC = "docs/webhooks/09-V2-Overview.md", "docs/webhooks/01-Overview.md"
VECTOR_TEST = "webhookv3/webhookv3_test.go"


def example(event: str) -> Callable[[str], Any]:
    """The JSON example of a documentation page whose event (V2 `messages[0].event`, V3
    `event.event_type`) is this one."""

    def extract(markdown: str) -> Any:
        for block in re.findall(r"^```json\n(.*?)^```", markdown, re.DOTALL | re.MULTILINE):
            try:
                found = json.loads(block)
            except ValueError:
                continue  # an example with elisions, not a payload
            if isinstance(found, dict) and event in (
                (found.get("messages") or [{}])[0].get("event"),
                (found.get("event") if isinstance(found.get("event"), dict) else {}).get("event_type"),
            ):
                return found
        raise ValueError(f"no JSON example of {event}")

    return extract


def signature_vector(go_source: str) -> Any:
    """go-pagerduty's test of X-PagerDuty-Signature: its secret, raw body, and the
    signatures of its "valid" and "mismatch" cases."""

    def find(pattern: str) -> str:
        match = re.search(pattern, go_source)
        if match is None:
            raise ValueError(f"{VECTOR_TEST} no longer has {pattern!r}")
        return match.group(1)

    return {
        "source": f"{GO_PAGERDUTY[0]} {VECTOR_TEST} (commit {GO_PAGERDUTY[1]})",
        "secret": find(r'\bsecret\s*=\s*"([^"]+)"'),
        "body": find(r"\bdefaultBody\s*=\s*`([^`]*)`"),
        "valid_signature": find(r'name:\s*"valid",\s*sig:\s*"(v1=[0-9a-f]+)"'),
        "invalid_signature": find(r'name:\s*"mismatch",\s*sig:\s*"(v1=[0-9a-f]+)"'),
        "note": "body is the exact raw request body; the HMAC-SHA256 of these bytes keyed with secret, "
                "hex-encoded and prefixed v1=, is valid_signature",
    }


@dataclass(frozen=True)
class Source:
    upstream: tuple[str, str]  # repository, commit
    path: str
    extract: Callable[[str], Any]
    sha256: str  # of the file written


# PagerDuty's webhook examples, each named for its version and event (v3-incident-priority_updated:
# the V3 overview's example of incident.priority_updated), with the sha256 of the file written.
WEBHOOK_EXAMPLES = {
    "v2-incident-trigger": "8eb69aac9c28dd18050cc66f76ea3f98c4e0eb63acccb182f22eca80c55f048e",
    "v2-incident-acknowledge": "e1faec1683bf461c66f77e6cec7294157f514d940140b7a144309b4c1a107d7d",
    "v2-incident-resolve": "29fb7072e25c5e3f9ee2f5b69374df882372f673a6a635b3fbb441c7fa98035d",
    "v2-incident-assign": "b78b15972fca9b19bf51c3b839560c1007e27bb849d0406b4dfb418c4e0eeb6d",
    "v3-incident-priority_updated": "280f837efdb4e5478b93b008e46bb4fd8ce95de07fb03f411ef88e8684eca839",
    "v3-service-updated": "078f840a651d8eaa595d631363ebfef2aa8118fba803f648a50796c277849ade",
}
FILES = {
    "pagerduty-rest-openapiv3.json": Source(
        API_SCHEMA, "reference/REST/openapiv3.json", json.loads,
        "b2e80f8b83b170f29702e96a69adf230702b4ec43dddab7e348a2985c707ef35"),
    "statuspage-openapiv3.json": Source(
        STATUSPAGE_SDK, "statuspage-openapi3.json", json.loads,
        "055298d0f4c923910dcf44ae48a19398a170acbe7c486dcaf0bda010487643b6"),
    **{f"pagerduty-webhooks/{name}.json": Source(DEVELOPER_DOCS, V2_DOC if name.startswith("v2-") else V3_DOC,
                                                 example(name[3:].replace("-", ".", 1)), sha256)
       for name, sha256 in WEBHOOK_EXAMPLES.items()},
    "pagerduty-webhooks/v3-signature-vector.json": Source(
        GO_PAGERDUTY, VECTOR_TEST, signature_vector,
        "762518162308197677154e9d422fd268fba6b93acd0738da6c454e4fddf2b386"),
}


class FetchError(Exception):
    pass


def fetch(into: Path, source_url: str = RAW_GITHUB) -> None:
    """Write every file into `into`, all or nothing: they are built beside it and replace
    it only once each matched its hash."""
    building = into.with_name(f"{into.name}.partial")
    shutil.rmtree(building, ignore_errors=True)
    download = functools.cache(_download)  # several files come from one upstream file
    try:
        for name, source in FILES.items():
            url = source_url.format(repo=source.upstream[0], commit=source.upstream[1], path=source.path)
            try:
                content = json.dumps(source.extract(download(url)), indent=2, ensure_ascii=False).encode()
            except ValueError as failure:
                raise FetchError(f"{name}: cannot extract it from {url}: {failure}") from None
            digest = hashlib.sha256(content).hexdigest()
            if digest != source.sha256:
                raise FetchError(f"{name} from {url} has sha256 {digest}, not the pinned {source.sha256}")
            target = building / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    shutil.rmtree(into, ignore_errors=True)
    building.rename(into)


def _download(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.read().decode("utf-8")
    except (urllib.error.URLError, OSError) as failure:
        raise FetchError(f"cannot fetch {url}: {getattr(failure, 'reason', failure)}. `make reference` needs "
                         "internet access to raw.githubusercontent.com; without it, point "
                         "PAGERSTATUS_REFERENCE_DIR at a copy of the material") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m tests.harness.fetch_reference", description=__doc__)
    parser.add_argument("--into", type=Path, default=Path(__file__).resolve().parents[2] / ".reference")
    parser.add_argument("--source", default=RAW_GITHUB, help="URL template with {repo}, {commit} and {path}")
    args = parser.parse_args(argv)
    try:
        fetch(args.into, args.source)
    except FetchError as failure:
        print(f"make reference: {failure}; nothing written", file=sys.stderr)
        return 1
    print(f"make reference: {len(FILES)} files in {args.into}, each matching its pinned sha256")
    return 0


if __name__ == "__main__":
    sys.exit(main())
