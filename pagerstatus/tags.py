"""Statuspage component ids named by monitor tags. Pure functions, no I/O.

A monitor names each component it affects with a whole tag `component:<id>`
(Datadog) or `component_<id>` (Pingdom, whose tags cannot hold a colon). Tags
reach PagerDuty in an alert's details as a comma-separated string (Datadog) or
a list (Pingdom).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

# Statuspage component ids are letters and digits; matched against a whole tag only.
COMPONENT_TAG = re.compile(r"(?i:component)[:_]([A-Za-z0-9]+)")


def split_tags(tags: Any) -> list[str]:
    """The individual tags of a comma-separated string or a list; [] for anything else."""
    if isinstance(tags, str):
        items: Iterable[Any] = tags.split(",")
    elif isinstance(tags, (list, tuple)):
        items = tags
    else:
        return []
    return [tag.strip() for tag in items if isinstance(tag, str) and tag.strip()]


def component_ids_from_tags(tags: Any) -> frozenset[str]:
    """Lower-cased component ids of the tags' `component:<id>` / `component_<id>` tags."""
    matches = (COMPONENT_TAG.fullmatch(tag) for tag in split_tags(tags))
    return frozenset(match.group(1).lower() for match in matches if match)


def _path(value: Any, *keys: str) -> Any:
    # Walks nested dicts; None as soon as a level is missing or not a dict
    # (PagerDuty sends `details` as a string for manual triggers).
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def tags_from_log_entry(entry: dict[str, Any]) -> list[str]:
    """Tags of a trigger log entry: `channel.details.tags`."""
    return split_tags(_path(entry, "channel", "details", "tags"))


def tags_from_alerts(alerts: Iterable[dict[str, Any]]) -> list[str]:
    """Tags of all alerts, in order, without repeats: each alert's
    `body.details.tags` and `body.cef_details.details.tags`."""
    found: dict[str, None] = {}  # an ordered set
    for alert in alerts:
        for tags in (_path(alert, "body", "details", "tags"), _path(alert, "body", "cef_details", "details", "tags")):
            found.update(dict.fromkeys(split_tags(tags)))
    return list(found)
