"""Structured logs: one JSON object per line on stdout, as Cloud Logging parses them.

Every secret value the process loads is registered here and masked wherever it
would appear in a message or a field, so a key never reaches the logs.
"""
from __future__ import annotations

import json
import sys
import threading
from datetime import datetime, timezone
from typing import Any, TextIO

_secrets: frozenset[str] = frozenset()
_write_lock = threading.Lock()
_stream: TextIO | None = None  # None: sys.stdout at write time (pytest's capsys swaps it)

# Secrets shorter than this are not masked by substring: masking "a" would
# mangle every log line, and such values are not credentials anyway.
_MIN_SECRET_LENGTH = 6


def use_stream(stream: TextIO | None) -> None:
    """Send logs to stream (the command line keeps stdout for its own output)."""
    global _stream
    _stream = stream


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked in every later log line."""
    global _secrets
    if value and len(value) >= _MIN_SECRET_LENGTH and value not in _secrets:
        with _write_lock:
            # A new frozenset, never a mutation: a thread masking a line meanwhile
            # iterates over the old one undisturbed.
            _secrets = _secrets | {value}


def redact(text: str) -> str:
    """Mask registered secrets, keeping the last four characters as pdpyras does."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "*" * 8 + secret[-4:])
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(str(value))


def log(severity: str, message: str, **fields: Any) -> None:
    """Write one log line. severity: DEBUG, INFO, WARNING, ERROR."""
    entry = {
        "severity": severity,
        "message": redact(message),
        "time": datetime.now(timezone.utc).isoformat(),
        **{k: _clean(v) for k, v in fields.items() if v is not None},
    }
    line = json.dumps(entry, ensure_ascii=False, sort_keys=False)
    with _write_lock:
        stream = _stream or sys.stdout
        stream.write(line + "\n")
        stream.flush()


def info(message: str, **fields: Any) -> None:
    log("INFO", message, **fields)


def warning(message: str, **fields: Any) -> None:
    log("WARNING", message, **fields)


def error(message: str, **fields: Any) -> None:
    log("ERROR", message, **fields)
