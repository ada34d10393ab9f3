"""Rails-style bracket notation of form-encoded bodies, as Statuspage accepts them:
incident[name]=x, incident[components][ID]=major_outage, incident[component_ids][]=ID,
incident[metadata][pagerstatus][component_id]=ID."""

from __future__ import annotations

import re
from collections.abc import Iterable

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_PART = re.compile(r"\[([^\[\]]*)\]")


def parse_brackets(pairs: Iterable[tuple[str, str]]) -> dict:
    """Nest form fields by their bracketed keys; a trailing [] collects a list.
    Raises ValueError on keys it cannot nest (a[][b], a conflicting shape)."""
    result: dict = {}
    for key, value in pairs:
        match = _KEY.match(key)
        if match is None:
            raise ValueError(f"malformed form key {key!r}")
        parts = [match.group(1), *_PART.findall(match.group(2))]
        *path, last = parts
        if last == "":
            if not path:
                raise ValueError(f"malformed form key {key!r}")
            *path, list_key = path
            items = _descend(result, path, key).setdefault(list_key, [])
            if not isinstance(items, list):
                raise ValueError(f"form key {key!r} mixes a list and a value")
            items.append(value)
        else:
            container = _descend(result, path, key)
            if isinstance(container.get(last), (dict, list)):
                raise ValueError(f"form key {key!r} mixes an object and a value")
            container[last] = value
    return result


def _descend(node: dict, path: list[str], key: str) -> dict:
    for part in path:
        if part == "":
            raise ValueError(f"form key {key!r}: [] is only supported at the end")
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ValueError(f"form key {key!r} mixes an object and a value")
    return node
