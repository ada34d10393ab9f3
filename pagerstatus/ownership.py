"""Which Statuspage incidents belong to this service.

An incident is ours when its metadata carries our key, when an update's body
carries our marker, or when a body carries the original tool's watermark, so
teams migrating from it keep their open incidents. Anything else is never
written to.
"""
from __future__ import annotations

from typing import Any

METADATA_KEY = "pagerstatus"
BODY_MARKER = "(via pagerstatus)"
LEGACY_WATERMARK = "\u26c8"  # ⛈, the original tool's watermark


def metadata_for(component_id: str) -> dict[str, dict[str, str]]:
    """Metadata for an incident we create (Statuspage: top-level values are objects)."""
    return {METADATA_KEY: {"component_id": component_id}}


def mark_body(body: str) -> str:
    return f"{body}\n\n{BODY_MARKER}"


def is_owned(incident: dict[str, Any]) -> bool:
    """Decide ownership from an incident as Statuspage's API returns it."""
    metadata = incident.get("metadata") or {}
    if isinstance(metadata, dict) and METADATA_KEY in metadata:
        return True
    for update in incident.get("incident_updates") or []:
        body = update.get("body") or ""
        if BODY_MARKER in body or LEGACY_WATERMARK in body:
            return True
    return False
