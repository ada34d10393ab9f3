"""Which Statuspage incidents belong to this service, read from an incident as the API returns it.

An incident is ours if and only if its metadata carries our key: body text never makes
an incident ours, so a person's incident quoting anything we write is left alone. The
original tool marked its incidents with a last line holding only its watermark `⛈` in
the first update's body; those are adopted only when the policy says so (reconcile).
"""
from __future__ import annotations

from typing import Any

from .models import moment

METADATA_KEY = "pagerstatus"
LEGACY_WATERMARK = "\u26c8"  # ⛈, the original tool's watermark


def metadata_for(target_id: str) -> dict[str, dict[str, str]]:
    """Metadata for an incident we open for a component or a group (Statuspage:
    top-level values are objects)."""
    return {METADATA_KEY: {"component_id": target_id}}


def _ours(incident: dict[str, Any]) -> dict[str, Any] | None:
    metadata = incident.get("metadata")
    if not isinstance(metadata, dict):
        return None
    mine = metadata.get(METADATA_KEY)
    return mine if isinstance(mine, dict) else None


def has_our_metadata(incident: dict[str, Any]) -> bool:
    return _ours(incident) is not None


def opened_for(incident: dict[str, Any]) -> str | None:
    """The component or group id our metadata names, if any."""
    target = (_ours(incident) or {}).get("component_id")
    return target if isinstance(target, str) and target else None


def first_update_body(incident: dict[str, Any]) -> str:
    """The body of the incident's first update: the oldest by created_at, or, where a
    time is missing, the last listed (Statuspage lists updates newest first)."""
    updates = [u for u in incident.get("incident_updates") or [] if isinstance(u, dict)]
    if not updates:
        return ""
    times = [moment(u.get("created_at")) for u in updates]
    first = updates[min(range(len(updates)), key=times.__getitem__)] if all(times) else updates[-1]
    body = first.get("body")
    return body if isinstance(body, str) else ""


def carries_legacy_watermark(incident: dict[str, Any]) -> bool:
    """The first update's body ends with a line holding only the watermark."""
    lines = first_update_body(incident).rstrip().splitlines()
    return bool(lines) and lines[-1].strip() == LEGACY_WATERMARK
